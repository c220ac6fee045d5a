"""The semantic tier through RedisLLMCache, on every index strategy and real Redis.

The embedder is the bundled local model (multilingual-e5-small); similarities
quoted in comments were measured with it. Tests marked
``redis_kinds("stack", "plain", "cluster")`` also run on the Redis Cluster, with the
two strategies that work there (``vectorset``: one key per vector set, so a
partition lives on one master; ``client``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import redis
import redis.cluster
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import Generation

from redis_llm_cache.core.embedding.embedder import EmbedderIdentity, Matrix, Role
from redis_llm_cache.embedders import LocalEmbedder
from redis_llm_cache.errors import ConfigurationError
from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.langchain.prompt import semantic_query
from redis_llm_cache.redis.embedded import EmbeddedCluster
from support.redis_kinds import redis_kinds_of

LLM = "model=fake;temperature=0"
THRESHOLD = 0.94

# (strategy, server kind) combinations a strategy supports. RediSearch (``search``)
# is on ``stack`` only: an OSS cluster has none, and a forced ``search`` is refused
# there (``test_search_strategy_is_refused_on_a_cluster``).
STRATEGIES = [("search", "stack"), ("vectorset", "stack"), ("vectorset", "plain"),
              ("client", "stack"), ("client", "plain"),
              ("vectorset", "cluster"), ("client", "cluster")]  # fmt: skip


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test using ``semantic_cache`` runs with each strategy on each server kind of
    its ``redis_kinds`` marker that the strategy supports."""
    if "semantic_cache" in metafunc.fixturenames:
        kinds = redis_kinds_of(metafunc.definition)
        targets = [(strategy, kind) for strategy, kind in STRATEGIES if kind in kinds]
        ids = [f"{strategy}-{kind}" for strategy, kind in targets]
        metafunc.parametrize("semantic_target", targets, ids=ids, indirect=True)


@pytest.fixture
def semantic_target(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(strategy, server kind) of this test run."""
    strategy, kind = request.param
    return str(strategy), str(kind)


@pytest.fixture
def semantic_cache(
    semantic_target: tuple[str, str],
    url_of_kind: Callable[[str], str],
    build_cache: Callable[..., RedisLLMCache],
    embedder: LocalEmbedder,
) -> Callable[..., RedisLLMCache]:
    strategy, kind = semantic_target
    url = url_of_kind(kind)

    def make(**kwargs: Any) -> RedisLLMCache:
        kwargs.setdefault("redis_url", url)
        kwargs.setdefault("embedder", embedder)
        kwargs.setdefault("semantic_strategy", strategy)
        kwargs.setdefault("semantic_threshold", THRESHOLD)
        # Retrieval is what these tests check; the verifier has its own tests
        # (test_verifier_cache.py) and would reject some pairs quoted here.
        kwargs.setdefault("semantic_verifier", None)
        return build_cache(RedisLLMCache, **kwargs)

    return make


def chat(*messages: Any) -> str:
    """LangChain's cache prompt for a list of chat messages."""
    return dumps(list(messages))


def answer(text: str) -> list[Generation]:
    return [Generation(text=text)]


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_paraphrase_hits_and_reports_itself(semantic_cache: Callable[..., RedisLLMCache]) -> None:
    cache = semantic_cache(mark_hits=True)
    cache.update(chat(HumanMessage("How do I reset my password?")), LLM, answer("Click 'Forgot'."))
    # 0.998 similar with the bundled model.
    hit = cache.lookup(chat(HumanMessage("How can I reset my password?")), LLM)
    assert hit is not None and hit[0].text == "Click 'Forgot'."
    mark = hit[0].generation_info["cache"]  # type: ignore[index]
    assert mark["tier"] == "semantic" and mark["similarity"] >= THRESHOLD
    assert mark["matched_prompt"] == "How do I reset my password?"
    stats = cache.stats()
    assert stats["hits_semantic"] == 1 and stats["hits_exact"] == 0
    recent = stats["semantic"]["recent_hits"][-1]
    assert recent["matched_prompt"] == "How do I reset my password?"
    assert recent["prompt"] == "How can I reset my password?"


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_entries_count_their_semantic_hits(semantic_cache: Callable[..., RedisLLMCache]) -> None:
    cache = semantic_cache(ttl=60)
    question = chat(HumanMessage("How do I reset my password?"))
    cache.update(question, LLM, answer("a"))
    created = cache.core.semantic_usage(question, LLM)
    assert created["hits"] == 0 and created["created_ms"] > 0
    for _ in range(2):
        assert cache.lookup(chat(HumanMessage("How can I reset my password?")), LLM) is not None
    usage = cache.core.semantic_usage(question, LLM)
    assert usage["hits"] == 2 and usage["last_hit_ms"] >= usage["created_ms"]
    usage_key = cache.core._semantic.usage_key(cache.core.exact.key(question, LLM))  # type: ignore[union-attr]
    assert 0 < cache.core.connector.sync_client.pttl(usage_key) <= 60_000
    cache.clear()
    assert cache.core.semantic_usage(question, LLM) == {}


def _commands_during(url: str, action: Callable[[], object]) -> list[tuple[str, str, str]]:
    """``(source, command name, first argument)`` of every command the server ran
    while ``action`` ran, from ``MONITOR`` (source ``"lua"`` for a command a script
    ran, else the client's kind)."""
    mark = f"end-of-action-{time.monotonic_ns()}"
    with redis.Redis.from_url(url, socket_timeout=10) as watcher, watcher.monitor() as monitor:
        monitor.connection.send_command("PING")  # MONITOR is on once this is answered
        assert monitor.connection.read_response() in (b"OK", "OK", b"PONG", "PONG")
        action()
        with redis.Redis.from_url(url) as other:
            other.echo(mark)
        seen = []
        while True:
            entry = monitor.next_command()
            parts = entry["command"].split(" ", 2)
            if parts[0].upper() == "ECHO" and mark in entry["command"]:
                return seen
            first_argument = parts[1] if len(parts) > 1 else ""
            seen.append((entry["client_type"], parts[0].upper(), first_argument))


def test_entries_are_written_with_their_ttl_in_one_step(
    semantic_cache: Callable[..., RedisLLMCache], namespace: str
) -> None:
    # A client that fails between writing a key and giving it its TTL must not
    # leave a key that lives forever: every key of the update carries its TTL from
    # the command (or script) that writes it, never from a separate EXPIRE.
    cache = semantic_cache(ttl=60)
    question = chat(HumanMessage("How do I reset my password?"))
    cache.lookup(question, LLM)  # indexes prepared, question embedded: only the write remains
    url = cache.core.connector.url
    assert url is not None
    ran = _commands_during(url, lambda: cache.update(question, LLM, answer("a")))
    ours = [(source, name, key) for source, name, key in ran if key.startswith(namespace)]
    assert any(name == "HSET" for _, name, _ in ours)  # index entry or usage hash
    separate_ttl = [
        (name, key)
        for source, name, key in ours
        if source != "lua" and name in ("EXPIRE", "PEXPIRE", "PERSIST", "EXPIREAT", "PEXPIREAT")
    ]
    assert separate_ttl == []
    client = cache.core.connector.sync_client
    written = {key for _, name, key in ours if name in ("HSET", "SET", "VADD")}
    assert written and all(0 < client.pttl(key) <= 60_000 for key in written)


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_unrelated_and_near_miss_questions_miss(
    semantic_cache: Callable[..., RedisLLMCache],
) -> None:
    cache = semantic_cache()
    cache.update(chat(HumanMessage("How do I reset my password?")), LLM, answer("password"))
    assert cache.lookup(chat(HumanMessage("What is the capital of France?")), LLM) is None
    assert cache.lookup(chat(HumanMessage("How do I reset my router?")), LLM) is None  # 0.927
    assert cache.stats()["hits"] == 0


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_exact_tier_answers_first(semantic_cache: Callable[..., RedisLLMCache]) -> None:
    cache = semantic_cache(mark_hits=True)
    prompt = chat(HumanMessage("What are your opening hours?"))
    cache.update(prompt, LLM, answer("9 to 5"))
    hit = cache.lookup(prompt, LLM)
    assert hit is not None and hit[0].generation_info["cache"]["tier"] == "exact"  # type: ignore[index]


@pytest.mark.parametrize("other", ["tenant", "llm_string", "system_prompt", "earlier_turn"])
@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_partitions_never_share_answers(
    semantic_cache: Callable[..., RedisLLMCache], other: str
) -> None:
    cache = semantic_cache(tenant="acme")
    system = SystemMessage("You are the support bot of ACME.")
    cache.update(chat(system, HumanMessage("How do I reset my password?")), LLM, answer("acme"))
    question = HumanMessage("How can I reset my password?")
    if other == "tenant":
        probe, prompt, llm = semantic_cache(tenant="globex"), chat(system, question), LLM
    elif other == "llm_string":
        probe, prompt, llm = cache, chat(system, question), LLM + ";temperature=1"
    elif other == "system_prompt":
        probe, llm = cache, LLM
        prompt = chat(SystemMessage("You are the support bot of Globex."), question)
    else:
        probe, llm = cache, LLM
        prompt = chat(system, HumanMessage("hi"), AIMessage("hello"), question)
    assert probe.lookup(prompt, llm) is None
    # ... while the same partition does hit.
    assert cache.lookup(chat(system, question), LLM) == answer("acme")


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_nearer_entry_of_another_partition_does_not_hide_a_hit(
    semantic_cache: Callable[..., RedisLLMCache],
) -> None:
    acme, globex = semantic_cache(tenant="acme"), semantic_cache(tenant="globex")
    # Globex stores the very question Acme will ask (similarity 1.0 in its partition).
    globex.update(chat(HumanMessage("How can I reset my password?")), LLM, answer("globex"))
    acme.update(chat(HumanMessage("How do I reset my password?")), LLM, answer("acme"))
    assert acme.lookup(chat(HumanMessage("How can I reset my password?")), LLM) == answer("acme")


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_ttl_expiry_ends_semantic_hits(semantic_cache: Callable[..., RedisLLMCache]) -> None:
    # Index entries get the answer's TTL (their own expiry is covered by the index
    # contract tests); here the answer expires first: the paraphrase must stop hitting.
    cache = semantic_cache(ttl=60)
    question = chat(HumanMessage("How do I reset my password?"))
    cache.update(question, LLM, answer("a"))
    paraphrase = chat(HumanMessage("How can I reset my password?"))
    assert cache.lookup(paraphrase, LLM) == answer("a")
    client = cache.core.connector.sync_client
    assert 0 < client.pttl(cache.core.exact.key(question, LLM)) <= 60_000
    client.pexpire(cache.core.exact.key(question, LLM), 1)
    deadline = time.monotonic() + 5
    while cache.lookup(paraphrase, LLM) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert cache.lookup(paraphrase, LLM) is None


class MemoizedEmbedder:
    """An embedder that answers texts it embedded before from memory.

    Lets a test embed its texts before a TTL starts running, so that what it then
    times is the cache's Redis work, not the model (a second or more per text on
    a loaded machine).
    """

    def __init__(self, inner: LocalEmbedder) -> None:
        self._inner = inner
        self._vectors: dict[tuple[str, str], npt.NDArray[np.float32]] = {}

    @property
    def identity(self) -> EmbedderIdentity:
        return self._inner.identity

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        missing = list(dict.fromkeys(t for t in texts if (t, role) not in self._vectors))
        if missing:
            for text, row in zip(missing, self._inner.embed(missing, role=role), strict=True):
                self._vectors[text, role] = row
        return np.stack([self._vectors[text, role] for text in texts])

    async def aembed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        return self.embed(texts, role=role)


def test_sliding_ttl_keeps_a_served_paraphrase_matching(
    semantic_cache: Callable[..., RedisLLMCache], embedder: LocalEmbedder
) -> None:
    # Each semantic hit renews the answer's TTL (GETEX) and must renew its index
    # entry and usage hash too: hits spaced well past the original TTL still come
    # from the semantic tier. Two caches (two processes' worth of client-side index)
    # take turns, so a renewal must also reach the other one's view of the index.
    ttl = 2.0
    question = chat(HumanMessage("How do I reset my password?"))
    paraphrase = chat(HumanMessage("How can I reset my password?"))
    # Both texts are embedded before the TTL runs: a hit must then only beat the
    # TTL with Redis round trips, not with a model call on a busy CPU.
    memoized = MemoizedEmbedder(embedder)
    for prompt in (question, paraphrase):
        text = semantic_query(prompt)
        assert text is not None
        memoized.embed([text.text], role="query")
    settings: dict[str, Any] = {"ttl": ttl, "sliding_ttl": True, "mark_hits": True}
    first = semantic_cache(embedder=memoized, **settings)
    second = semantic_cache(embedder=memoized, **settings)
    client = first.core.connector.sync_client
    answer_key = first.core.exact.key(question, LLM)
    first.update(question, LLM, answer("a"))
    written = time.monotonic()
    rounds = 0
    while True:
        asked_at = time.monotonic() - written
        cache = (first, second)[rounds % 2]
        hit = cache.lookup(paraphrase, LLM)
        assert hit is not None, f"missed at {asked_at:.1f} s: {cache.stats()}"
        assert hit[0].generation_info["cache"]["tier"] == "semantic"  # type: ignore[index]
        rounds += 1
        if asked_at > 2 * ttl:  # served long after the TTL it was written with
            break
        assert rounds < 50, "hits never got past twice the TTL"
        # The next hit comes once at least half the TTL has passed since this hit's
        # renewal (Redis's own clock says so), however long the hit itself took.
        deadline = time.monotonic() + 10 * ttl
        while client.pttl(answer_key) > ttl * 1000 / 2:
            assert time.monotonic() < deadline, "the answer's TTL stopped running"
            time.sleep(0.02)  # poll interval, bounded by the deadline
    usage = first.core.semantic_usage(question, LLM)
    assert usage["hits"] == rounds
    usage_key = first.core._semantic.usage_key(answer_key)  # type: ignore[union-attr]
    assert 0 < client.pttl(usage_key) <= ttl * 1000


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_clear_removes_semantic_entries(semantic_cache: Callable[..., RedisLLMCache]) -> None:
    cache = semantic_cache()
    cache.update(chat(HumanMessage("How do I reset my password?")), LLM, answer("a"))
    cache.clear()
    assert cache.lookup(chat(HumanMessage("How can I reset my password?")), LLM) is None
    cache.update(chat(HumanMessage("How do I reset my password?")), LLM, answer("b"))
    assert cache.lookup(chat(HumanMessage("How can I reset my password?")), LLM) == answer("b")


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_entries_of_another_process_are_visible(
    semantic_cache: Callable[..., RedisLLMCache],
) -> None:
    writer, reader = semantic_cache(), semantic_cache()
    assert reader.lookup(chat(HumanMessage("When are you open?")), LLM) is None
    writer.update(chat(HumanMessage("What are your opening hours?")), LLM, answer("9-5"))
    assert reader.lookup(chat(HumanMessage("When are you open?")), LLM) == answer("9-5")  # 0.953


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_concurrent_writers(semantic_cache: Callable[..., RedisLLMCache]) -> None:
    questions = [f"What is the price of product number {i} in the shop?" for i in range(12)]
    caches = [semantic_cache() for _ in range(3)]

    def write(n: int) -> None:
        for i in range(n, len(questions), 3):
            caches[n].update(chat(HumanMessage(questions[i])), LLM, answer(f"price {i}"))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reader = semantic_cache(semantic_threshold=0.999)
    for i, question in enumerate(questions):
        # Same text as content blocks: another prompt (exact miss), same question.
        blocks = HumanMessage(content=[{"type": "text", "text": question}])
        assert reader.lookup(chat(blocks), LLM) == answer(f"price {i}")
    assert all(c.stats()["errors"] == 0 for c in caches)


def test_tool_results_and_non_text_turns_bypass_the_semantic_tier(
    semantic_cache: Callable[..., RedisLLMCache],
) -> None:
    cache = semantic_cache()
    tool_turn = chat(HumanMessage("weather?"), ToolMessage("sunny", tool_call_id="1"))
    cache.update(tool_turn, LLM, answer("It is sunny."))
    other_tool_turn = chat(HumanMessage("weather?"), ToolMessage("rain", tool_call_id="1"))
    assert cache.lookup(other_tool_turn, LLM) is None
    assert cache.lookup(tool_turn, LLM) == answer("It is sunny.")  # exact still works


@pytest.mark.redis_kinds("stack", "plain", "cluster")
async def test_async_semantic_hit(semantic_cache: Callable[..., RedisLLMCache]) -> None:
    cache = semantic_cache()
    await cache.aupdate(chat(HumanMessage("How do I reset my password?")), LLM, answer("a"))
    hit = await cache.alookup(chat(HumanMessage("How can I reset my password?")), LLM)
    assert hit == answer("a")
    await cache.aclose()


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_chat_model_round_trip(semantic_cache: Callable[..., RedisLLMCache]) -> None:
    cache = semantic_cache()
    model = GenericFakeChatModel(
        messages=iter([AIMessage("Use the 'Forgot password' link."), AIMessage("router")]),
        cache=cache,
    )
    first = model.invoke("How do I reset my password?")
    second = model.invoke("How can I reset my password?")
    assert second.content == first.content and second.id != first.id
    third = model.invoke("How do I reset my router?")
    assert third.content == "router"


def test_failing_embedder_is_a_counted_miss(
    semantic_cache: Callable[..., RedisLLMCache], embedder: LocalEmbedder
) -> None:
    class Broken:
        identity = embedder.identity

        def embed(self, texts: Any, *, role: str = "document") -> Any:
            raise RuntimeError("model server down")

        async def aembed(self, texts: Any, *, role: str = "document") -> Any:
            raise RuntimeError("model server down")

    cache = semantic_cache(embedder=Broken())
    prompt = chat(HumanMessage("How do I reset my password?"))
    cache.update(prompt, LLM, answer("a"))  # exact write happens; indexing fails
    assert cache.lookup(prompt, LLM) == answer("a")
    assert cache.lookup(chat(HumanMessage("How can I reset my password?")), LLM) is None
    assert cache.stats()["errors_by_kind"].get("embedder:RuntimeError", 0) >= 2
    asyncio.run(cache.aclose())


@pytest.mark.parametrize(("kind", "expected"), [("stack", "search"), ("plain", "vectorset")])
def test_auto_strategy_and_default_threshold(
    redis_servers: dict[str, str],
    build_cache: Callable[..., RedisLLMCache],
    embedder: LocalEmbedder,
    kind: str,
    expected: str,
) -> None:
    cache = build_cache(RedisLLMCache, redis_url=redis_servers[kind], embedder=embedder)
    cache.update(chat(HumanMessage("How do I reset my password?")), LLM, answer("a"))
    assert cache.lookup(chat(HumanMessage("How can I reset my password?")), LLM) == answer("a")
    semantic = cache.stats()["semantic"]
    assert semantic["strategy"] == expected
    assert semantic["threshold_calibrated"] is True and 0.9 < semantic["threshold"] < 1


def test_llama_index_embedding_as_the_semantic_embedder(
    redis_servers: dict[str, str], build_cache: Callable[..., RedisLLMCache]
) -> None:
    from llama_index.core.embeddings import MockEmbedding

    from redis_llm_cache.llama_index import LlamaIndexEmbedder

    embedder = LlamaIndexEmbedder(MockEmbedding(embed_dim=8), model="mock-8")
    assert embedder.identity.dimensions == 8
    cache = build_cache(
        RedisLLMCache,
        redis_url=redis_servers["plain"],
        embedder=embedder,
        semantic_threshold=0.99,
    )
    # MockEmbedding gives every text the same vector: any question is a paraphrase.
    cache.update(chat(HumanMessage("first question")), LLM, answer("a"))
    assert cache.lookup(chat(HumanMessage("another question")), LLM) == answer("a")
    # One identity per model: the embedding caches' key for it (the learned length
    # is checked, not keyed; it is in the index name).
    reported = cache.stats()["semantic"]["embedder"]
    assert reported == embedder.identity_key == embedder.identity.canonical()
    assert '"model":"mock-8"' in reported and '"provider":"llama_index:MockEmbedding"' in reported


# -- Redis Cluster only -----------------------------------------------------------------------


@pytest.mark.redis_kinds("cluster")
def test_auto_strategy_on_a_cluster_is_vectorset(
    make_cache: Callable[..., RedisLLMCache],
    embedder: LocalEmbedder,
) -> None:
    cache = make_cache(embedder=embedder)
    cache.update(chat(HumanMessage("How do I reset my password?")), LLM, answer("a"))
    assert cache.lookup(chat(HumanMessage("How can I reset my password?")), LLM) == answer("a")
    assert cache.stats()["semantic"]["strategy"] == "vectorset"
    assert cache.core.connector.is_cluster is True


@pytest.mark.redis_kinds("cluster")
def test_search_strategy_is_refused_on_a_cluster(
    redis_cluster: EmbeddedCluster,
    make_cache: Callable[..., RedisLLMCache],
    namespace: str,
    embedder: LocalEmbedder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings: dict[str, Any] = {
        "namespace": namespace, "embedder": embedder, "semantic_strategy": "search",
        "timeout": 2.0, "connect_timeout": 2.0,
    }  # fmt: skip
    refused = "not supported on a Redis Cluster.*'vectorset'.*'client'"
    # Told it is a cluster: refused when built, before any I/O.
    with pytest.raises(ConfigurationError, match=refused):
        RedisLLMCache(redis_url=redis_cluster.url, cluster=True, **settings)
    client = redis.cluster.RedisCluster.from_url(redis_cluster.url)
    try:
        with pytest.raises(ConfigurationError, match=refused):
            RedisLLMCache(redis_client=client, **settings)
    finally:
        client.close()

    # Found out only at the first connection (INFO cluster): the semantic tier fails
    # open on every call, counted and logged with the reason; exact hits still served.
    make_cache()  # no semantic tier: clears the exact entry update() stores below
    cache = RedisLLMCache(redis_url=redis_cluster.url, **settings)
    prompt = chat(HumanMessage("How do I reset my password?"))
    paraphrase = chat(HumanMessage("How can I reset my password?"))

    async def alookup_fails_open() -> None:
        try:
            assert await cache.alookup(paraphrase, LLM) is None
        finally:
            await cache.aclose()

    try:
        assert cache.core.connector.is_cluster is None  # not connected yet
        with caplog.at_level(logging.WARNING, logger="redis_llm_cache"):
            assert cache.lookup(paraphrase, LLM) is None
        assert cache.core.connector.is_cluster is True
        assert any("not supported on a Redis Cluster" in r.getMessage() + str(r.exc_info)
                   for r in caplog.records)  # fmt: skip
        cache.update(prompt, LLM, answer("a"))
        assert cache.lookup(prompt, LLM) == answer("a")  # the exact tier still serves
        asyncio.run(alookup_fails_open())
        errors = cache.stats()["errors_by_kind"]
        assert errors.get("internal:ConfigurationError", 0) >= 3
    finally:
        cache.close()
