"""The fault matrix: every dependency of the cache path fails, every way, in every mode.

Dependencies: the embedder (a real HTTP server speaking Ollama's API, see
:mod:`support.instant_ollama`), the judge of a judged verifier, and the LLM as
LangChain sees it (a real LangChain chat model). Redis faults (stopped, paused,
slowed, out of memory) have their own matrix in ``test_faults_mid_run.py``.
Faults: down (refused), hung (accepts, never answers in time), slow, erroring,
killed mid-call (the connection closed without a reply). Modes: sync calls,
threads, asyncio.

In every cell: no exception reaches the caller except the LLM's own error
(unchanged), every call is answered with the right answer, and caching -- the
semantic tier included -- resumes after the fault. Added latency is bounded by a
generous multiple of the configured deadlines (not a timing measurement: the
numbers are in ``bench/faults.py``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from redis_llm_cache import CacheSettings, JudgedVerifier
from redis_llm_cache.core.embedding.embedder import EmbedderIdentity, Matrix, Role
from redis_llm_cache.embedders import OllamaEmbedder
from redis_llm_cache.langchain import RedisLLMCache
from support.chat_models import CountingChatModel, answers_from_threads
from support.instant_ollama import DIMENSIONS, InstantOllama, word_vector

pytestmark = pytest.mark.redis_kinds("plain")

MODES = ["sync", "threads", "async"]
DEFAULTS = CacheSettings()
#: Upper bound of one LLM call through the cache while a model dependency is sick:
#: a lookup and an update each wait at most ``embed_timeout`` for the embedder and a
#: lookup ``judge_timeout`` per judged candidate until the breaker opens -- well
#: under one second in all. Five times that covers a loaded machine; a cache that
#: waited for the dependency instead takes ``SICK_S`` or more per call.
WORST_CALL_S = 5 * (
    2 * DEFAULTS.embed_timeout + DEFAULTS.model_breaker_failures * DEFAULTS.judge_timeout
)
#: How long a slow or hung dependency takes to answer (the embedder's own timeout
#: for the hung one, so that abandoned calls end and caching can resume).
SICK_S = 2 * WORST_CALL_S
#: The breakers' cool-down in these tests (the default is longer).
COOLDOWN_S = 0.5
#: The default deadlines (the other tests' caches get generous ones).
DEADLINES = {"embed_timeout": DEFAULTS.embed_timeout, "judge_timeout": DEFAULTS.judge_timeout}
#: Time allowed for caching to resume after the fault ends.
RESUME_S = 60.0


def ask(model: CountingChatModel, prompts: list[str], mode: str) -> tuple[list[str], float]:
    """Each prompt's answer (sync, from threads or from asyncio tasks) and the
    slowest call's seconds; any exception propagates."""

    def one(prompt: str) -> tuple[str, float]:
        started = time.perf_counter()
        content = model.invoke(prompt).content
        return str(content), time.perf_counter() - started

    async def aone(prompt: str) -> tuple[str, float]:
        started = time.perf_counter()
        content = (await model.ainvoke(prompt)).content
        return str(content), time.perf_counter() - started

    async def gathered() -> list[tuple[str, float]]:
        return list(await asyncio.gather(*(aone(p) for p in prompts)))

    if mode == "sync":
        results = [one(p) for p in prompts]
    elif mode == "threads":
        with ThreadPoolExecutor(len(prompts)) as pool:
            results = list(pool.map(one, prompts))
    else:
        results = asyncio.run(gathered())
    return [answer for answer, _ in results], max(seconds for _, seconds in results)


def resumes(cache: RedisLLMCache, model: CountingChatModel, mode: str, stored: str) -> None:
    """Caching is back: a paraphrase of ``stored`` (already answered) becomes a
    semantic hit once the breaker's cool-down passed and abandoned calls ended."""
    deadline = time.monotonic() + RESUME_S
    attempt = 0
    while True:
        attempt += 1
        before = cache.stats()["hits_semantic"]
        # Same words, so the same vector; inner semicolons, a different count each
        # time (the tests' other prompts use commas), so never equal after
        # normalization to a stored prompt (that would hit without the embedder).
        paraphrase = stored.upper().replace(" ", ";" * attempt + " ", 1)
        answers, _ = ask(model, [f"{paraphrase}!"], mode)
        if cache.stats()["hits_semantic"] > before:
            # The answer stored for ``stored`` or for an earlier attempt's paraphrase
            # (stored as the fault ended): the same question either way.
            answer = answers[0].lower().rstrip("!?").replace(",", "").replace(";", "")
            assert answer == f"answer to {stored}", answers
            return
        assert time.monotonic() < deadline, cache.stats()["errors_by_kind"]
        time.sleep(COOLDOWN_S)


# -- the embedder ------------------------------------------------------------------------


class EmbedderFault:
    """One way for the embedding server to be sick, started and ended."""

    def __init__(self, kind: str, server: InstantOllama) -> None:
        self.kind = kind
        self.server = server
        self.port = server.port

    def start(self) -> None:
        if self.kind == "down":
            self.server.drop(10**6)  # connections kept alive by the client are cut too
            self.server.stop()
        elif self.kind == "hung":
            self.server.stall(10**6, 10 * SICK_S)  # the client gives up first
        elif self.kind == "slow":
            self.server.stall(10**6, SICK_S)
        elif self.kind == "erroring":
            self.server.busy(10**6)
        elif self.kind == "killed":
            self.server.drop(10**6)

    def end(self) -> InstantOllama:
        if self.kind == "down":
            self.server = InstantOllama().start(self.port)
        else:
            self.server.reset()
        return self.server


@pytest.fixture
def embedding_server() -> Iterator[Callable[[], InstantOllama]]:
    started: list[InstantOllama] = []

    def start() -> InstantOllama:
        server = InstantOllama().start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.reset()
        server.stop()


def ollama_at(server: InstantOllama) -> OllamaEmbedder:
    # The embedder's own timeout: what a call waited for a hung server without the
    # cache's deadline (one attempt: no retries to wait for either).
    return OllamaEmbedder(
        "bge-m3", host=server.url, native_dimensions=DIMENSIONS, timeout=SICK_S, max_attempts=1
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["down", "hung", "slow", "erroring", "killed"])
def test_a_sick_embedder_costs_a_bounded_delay_and_caching_resumes(
    kind: str,
    mode: str,
    make_cache: Callable[..., RedisLLMCache],
    embedding_server: Callable[[], InstantOllama],
) -> None:
    server = embedding_server()
    cache = make_cache(
        embedder=ollama_at(server),
        semantic_strategy="client",
        semantic_threshold=0.99,
        semantic_verifier=None,
        model_breaker_cooldown=COOLDOWN_S,
        **DEADLINES,
    )
    model = CountingChatModel(cache=cache)
    assert ask(model, ["known question"], mode)[0] == ["answer to known question"]

    fault = EmbedderFault(kind, server)
    fault.start()
    try:
        prompts = [f"question {kind} {mode} {i}" for i in range(6)] + ["known question"]
        answers, worst = ask(model, prompts, mode)
        assert answers == [f"answer to {p}" for p in prompts]  # every call, right answer
        assert worst < WORST_CALL_S
        assert model.calls == 1 + 6  # the exact tier still served the known question
        stats = cache.stats()
        assert any(k.startswith("embedder:") for k in stats["errors_by_kind"]), stats
        assert stats["embedder_breaker_opens"] >= 1
    finally:
        server = fault.end()
    resumes(cache, model, mode, "known question")


def test_the_embedders_breaker_skips_it_at_no_cost(
    make_cache: Callable[..., RedisLLMCache], embedding_server: Callable[[], InstantOllama]
) -> None:
    server = embedding_server()
    cache = make_cache(embedder=ollama_at(server), semantic_strategy="client", **DEADLINES)
    server.stall(10**6, 10 * SICK_S)
    model = CountingChatModel(cache=cache)
    ask(model, [f"q{i}" for i in range(4)], "sync")  # opens the breaker
    requests = len(server.requests)
    ask(model, [f"r{i}" for i in range(4)], "sync")
    assert len(server.requests) == requests  # open: the embedder is not called at all
    assert cache.stats()["embedder_skips"] >= 4


# -- the judge ---------------------------------------------------------------------------


class SickJudge:
    """A judge that is ``healthy`` (accepts) or sick one way; a hung call waits on
    an event the test sets at its end (so no thread outlives it for long)."""

    def __init__(self) -> None:
        self.kind = "healthy"
        self.released = threading.Event()
        self.calls = 0

    def __call__(self, query: str, candidate: str) -> bool:
        self.calls += 1
        if self.kind == "down":
            raise ConnectionRefusedError(f"judge unreachable while judging {query!r}")
        if self.kind == "hung":
            self.released.wait(10 * SICK_S)
        elif self.kind == "slow":
            time.sleep(SICK_S)
        elif self.kind == "erroring":
            raise RuntimeError(f"judge failed on {query!r}")
        elif self.kind == "killed":
            time.sleep(DEFAULTS.judge_timeout / 5)
            raise ConnectionResetError("judge connection closed mid-call")
        return True


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["down", "hung", "slow", "erroring", "killed"])
def test_a_sick_judge_rejects_within_its_deadline_and_judging_resumes(
    kind: str,
    mode: str,
    make_cache: Callable[..., RedisLLMCache],
    embedding_server: Callable[[], InstantOllama],
) -> None:
    judge = SickJudge()
    cache = make_cache(
        embedder=ollama_at(embedding_server()),
        semantic_strategy="client",
        semantic_threshold=0.99,
        semantic_verifier=JudgedVerifier(judge=judge, band=1.0),  # every candidate is judged
        model_breaker_cooldown=COOLDOWN_S,
        **DEADLINES,
    )
    model = CountingChatModel(cache=cache)
    ask(model, ["known question"], mode)
    judge.kind = kind
    try:
        # Paraphrases of the stored question: only the judge could accept them (an
        # inner comma: not equal after normalization, which would serve them at once).
        prompts = [f"Known{',' * (i + 1)} question?" for i in range(6)]
        answers, worst = ask(model, prompts, mode)
        assert answers == [f"answer to {p}" for p in prompts]  # rejected, not served
        assert worst < WORST_CALL_S
        assert cache.stats()["hits_semantic"] == 0
    finally:
        judge.kind = "healthy"
        judge.released.set()
    resumes(cache, model, mode, "known question")


# -- the LLM, as LangChain sees it ---------------------------------------------------------

CALLERS = 10


def from_threads(call: Callable[[], Any], count: int = CALLERS) -> list[Any]:
    return answers_from_threads(call, count)


@pytest.mark.parametrize("mode", MODES)
def test_the_llms_error_reaches_its_caller_unchanged_and_frees_the_lease(
    mode: str, make_cache: Callable[..., RedisLLMCache]
) -> None:
    cache = make_cache(stampede_wait=60.0)  # the default lease: waiters must not wait it out
    model = CountingChatModel(cache=cache, delay=0.2, numbered=True, fail_first=True)
    started = time.monotonic()
    if mode == "sync":
        with pytest.raises(RuntimeError, match=r"^the model failed$"):
            model.invoke("q")
        answers: list[Any] = [model.invoke("q").content]  # the retry computes at once
    elif mode == "threads":
        answers = from_threads(lambda: model.invoke("q"))
    else:

        async def gathered() -> list[Any]:
            replies = await asyncio.gather(
                *(model.ainvoke("q") for _ in range(CALLERS)), return_exceptions=True
            )
            return [r if isinstance(r, BaseException) else r.content for r in replies]

        answers = asyncio.run(gathered())
    elapsed = time.monotonic() - started
    failures = [a for a in answers if isinstance(a, BaseException)]
    assert all(type(f) is RuntimeError and str(f) == "the model failed" for f in failures)
    assert len(failures) == (0 if mode == "sync" else 1)
    assert [a for a in answers if not isinstance(a, BaseException)] == ["answer 2"] * (
        len(answers) - len(failures)
    )
    assert model.calls == 2
    assert elapsed < DEFAULTS.stampede_lease  # a waiter took over at once, not after the lease
    assert cache.stats()["stampede_timeouts"] == 0


def test_a_slow_llm_keeps_its_lease_renewed(make_cache: Callable[..., RedisLLMCache]) -> None:
    from redis_llm_cache.core.stampede import HEARTBEAT_S

    cache = make_cache(stampede_wait=60.0)
    model = CountingChatModel(cache=cache, delay=2 * HEARTBEAT_S, numbered=True)
    answers = from_threads(lambda: model.invoke("q"), count=4)
    assert answers == ["answer 1"] * 4
    assert model.calls == 1  # the lease outlived its heartbeat: no second call
    assert cache.stats()["stampede_takeovers"] == 0


HOLDER = """
import sys, time
from redis_llm_cache.langchain import RedisLLMCache
cache = RedisLLMCache(redis_url=sys.argv[1], namespace=sys.argv[2], timeout=5.0)
assert cache.lookup("q", "m") is None  # takes the lease
print("holding", flush=True)
time.sleep(120)  # "computing" until killed
"""


def test_a_killed_holder_frees_its_lease_within_a_heartbeat(
    make_cache: Callable[..., RedisLLMCache], redis_url: str, namespace: str
) -> None:
    import signal
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, redis_url, namespace], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        time.sleep(1.0)  # the holder renews its lease meanwhile
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        cache = make_cache(stampede_wait=60.0)
        started = time.monotonic()
        assert cache.lookup("q", "m") is None  # waited for the dead holder, then took over
        assert time.monotonic() - started < DEFAULTS.stampede_lease
        stats = cache.stats()
        assert stats["stampede_waits"] == 1 and stats["stampede_takeovers"] == 1
    finally:
        holder.kill()
        holder.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()


# -- prompt text never reaches a log line above DEBUG ---------------------------------------

MARKER = "zebra-marker-7f3a"


class QuotingEmbedder:
    """Fails the way many clients do: its message quotes the input."""

    identity = EmbedderIdentity(provider="test", model="quoting", dimensions=DIMENSIONS)

    def __init__(self) -> None:
        self.failing = False

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        if self.failing:
            raise ValueError(f"cannot embed {list(texts)!r}")
        return np.asarray([word_vector(t) for t in texts], dtype=np.float32)

    async def aembed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        return self.embed(texts, role=role)


def quoting_judge(query: str, candidate: str) -> bool:
    raise RuntimeError(f"judge could not compare {query!r} with {candidate!r}")


@pytest.mark.parametrize("mode", MODES)
def test_failing_models_messages_quoting_the_prompt_stay_out_of_logs(
    mode: str, make_cache: Callable[..., RedisLLMCache], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    embedder = QuotingEmbedder()
    cache = make_cache(
        embedder=embedder,
        semantic_strategy="client",
        semantic_threshold=0.99,
        semantic_verifier=JudgedVerifier(judge=quoting_judge, band=1.0),
    )
    model = CountingChatModel(cache=cache)
    ask(model, [f"about {MARKER}"], mode)
    ask(model, [f"About, {MARKER}?"], mode)  # a candidate: the judge fails, quoting both
    embedder.failing = True
    ask(model, [f"more {MARKER} {i}" for i in range(5)], mode)
    errors = cache.stats()["errors_by_kind"]
    assert errors.get("judge:RuntimeError") and errors.get("embedder:ValueError"), errors
    shown = [r for r in caplog.records if r.levelno > logging.DEBUG]
    assert shown  # the failures were reported...
    for record in shown:  # ...without the prompt: not in the message, not in a traceback
        assert MARKER not in logging.Formatter().format(record)
    # The details stay available at DEBUG (the control: the marker was in the errors).
    assert any(MARKER in logging.Formatter().format(r) for r in caplog.records)


# -- concurrent identical misses: exactly one LLM call ---------------------------------------

ROUNDS = 12
CONCURRENT = 8


@pytest.mark.parametrize("semantic", [False, True], ids=["exact", "semantic"])
@pytest.mark.parametrize("mode", ["batch", "abatch", "gather"])
def test_concurrent_identical_misses_make_exactly_one_llm_call(
    mode: str,
    semantic: bool,
    make_cache: Callable[..., RedisLLMCache],
    embedding_server: Callable[[], InstantOllama],
) -> None:
    from langchain_core.prompts import ChatPromptTemplate

    extra: dict[str, Any] = {}
    if semantic:
        extra = {
            "embedder": ollama_at(embedding_server()),
            "semantic_strategy": "client",
            "semantic_threshold": 0.99,
            # This test counts LLM calls, not deadlines: a healthy embedder must
            # never miss its deadline here, even on a loaded machine.
            "embed_timeout": 10.0,
        }
    cache = make_cache(stampede_wait=60.0, **extra)
    model = CountingChatModel(cache=cache, numbered=True)  # instant, sync only
    chain = ChatPromptTemplate.from_messages([("human", "{question}")]) | model

    for round_number in range(ROUNDS):
        inputs = [{"question": f"round {round_number}: what is the tallest tree?"}] * CONCURRENT
        calls_before = model.calls
        if mode == "batch":
            replies = chain.batch(inputs)
        elif mode == "abatch":
            replies = asyncio.run(chain.abatch(inputs))
        else:

            async def gathered(batch: list[dict[str, str]]) -> list[Any]:
                return list(await asyncio.gather(*(chain.ainvoke(i) for i in batch)))

            replies = asyncio.run(gathered(inputs))
        assert model.calls == calls_before + 1, f"round {round_number}"
        assert {r.content for r in replies} == {f"answer {calls_before + 1}"}  # one answer
    assert cache.stats()["errors"] == 0


# -- leases that nobody will settle ---------------------------------------------------------


def waits_of_next_caller(cache: RedisLLMCache) -> int:
    """The stampede waits of a lookup of ``q`` from another thread (0: no lease to wait for)."""
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(cache.lookup, "q", "m").result(timeout=60) is None
    return int(cache.stats()["stampede_waits"])


def test_a_write_refused_under_noeviction_frees_its_lease(
    private_redis: Any, namespace: str, build_cache: Callable[..., Any]
) -> None:
    import redis as redis_py
    from langchain_core.outputs import Generation

    cache = build_cache(RedisLLMCache, redis_url=private_redis.url, stampede_wait=60.0)
    admin = redis_py.Redis.from_url(private_redis.url)
    try:
        assert cache.lookup("q", "m") is None  # this caller holds the lease
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)  # every write is refused from now on
        cache.update("q", "m", [Generation(text="x" * 1000)])  # refused: counted
        assert any("OutOfMemory" in k or "OOM" in k for k in cache.stats()["errors_by_kind"])
        admin.config_set("maxmemory", 0)
        assert waits_of_next_caller(cache) == 0  # the lease did not linger
    finally:
        admin.config_set("maxmemory", 0)
        admin.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_abandoned_stream_frees_its_lease(
    mode: str, make_cache: Callable[..., RedisLLMCache]
) -> None:
    from langchain_core.messages import AIMessage

    from redis_llm_cache.langchain import CachedStreamingChatModel
    from support.chat_models import EchoChatModel

    cache = make_cache(stampede_wait=60.0)
    long_answer = AIMessage(content=" ".join(f"word{i}" for i in range(200)))
    chat = CachedStreamingChatModel(
        model=EchoChatModel(messages=iter([long_answer]), cache=cache), replay_chunk_chars=8
    )
    prompt = "q"
    if mode == "sync":
        stream = chat.stream(prompt)
        next(stream)  # the lookup took the lease; the model is streaming
        stream.close()  # the reader leaves
    else:

        async def leave_early() -> None:
            stream = chat.astream(prompt)
            await stream.__anext__()
            await stream.aclose()
            # The app's loop goes on: let the tasks the failure started finish.
            others = asyncio.all_tasks() - {asyncio.current_task()}
            await asyncio.gather(*others)

        asyncio.run(leave_early())
    llm_string = chat.model._get_llm_string()
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        assert pool.submit(cache.lookup, prompt_key(prompt), llm_string).result(60) is None
    assert time.monotonic() - started < DEFAULTS.stampede_lease
    assert cache.stats()["stampede_waits"] == 0  # no lease left to wait for


def prompt_key(text: str) -> str:
    """The prompt LangChain's cache sees for one human message ``text``."""
    from langchain_core.load import dumps
    from langchain_core.messages import HumanMessage

    return dumps([HumanMessage(content=text)])


# -- a value over max_entry_bytes at an entry's key ------------------------------------------


@pytest.mark.parametrize(("bound", "size"), [(1000, 5000), (None, 30 * 1024 * 1024)])
def test_an_oversized_foreign_value_is_a_miss_removed_unread(
    bound: int | None, size: int, make_cache: Callable[..., RedisLLMCache], redis_client: Any
) -> None:
    from langchain_core.outputs import Generation

    cache = make_cache(**({"max_entry_bytes": bound} if bound else {}))
    limit = cache.settings.max_entry_bytes
    key = cache.core.exact.key("q", "m")
    redis_client.set(key, b"x" * size)  # not written by us: over the bound
    assert cache.lookup("q", "m") is None
    assert redis_client.exists(key) == 0
    assert cache.stats()["oversized_removed"] == 1
    cache.update("q", "m", [Generation(text="a" * (limit // 4))])  # within the bound
    assert cache.lookup("q", "m") == [Generation(text="a" * (limit // 4))]
    assert cache.stats()["oversized_removed"] == 1


def test_a_langchain_embedder_that_is_down_does_not_stop_construction_or_calls(
    redis_url: str, namespace: str
) -> None:
    from langchain_core.embeddings import Embeddings

    class Unreachable(Embeddings):
        model = "unreachable-1"
        calls = 0

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            Unreachable.calls += 1
            raise ConnectionRefusedError("embedding service is down")

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    cache = RedisLLMCache(  # no probe of the vector length here: no I/O at all
        redis_url=redis_url, namespace=namespace, embedder=Unreachable(), timeout=5.0
    )
    try:
        assert Unreachable.calls == 0
        model = CountingChatModel(cache=cache)
        assert ask(model, ["q", "q"], "sync")[0] == ["answer to q", "answer to q"]
        assert model.calls == 1  # the exact tier served the repeat
        assert cache.stats()["errors_by_kind"].get("embedder:ConnectionRefusedError", 0) >= 1
    finally:  # (clear() needs the semantic tier, so the embedder: the exact tier alone)
        cache.core.runtime.run(cache.core.exact.clear(), during="clear", fail_open=False)
        cache.close()
