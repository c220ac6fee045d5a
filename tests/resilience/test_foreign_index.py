"""Other software's search indexes on the same Redis: default namespaces no peer's
default prefix covers, and detection of an index that does cover ours.

RediSearch indexes every hash whose key starts with one of an index's prefixes.
The peers' clears are reproduced with the commands they send (neither RedisVL nor
langchain-redis is a dependency): RedisVL's ``SemanticCache`` (which
langchain-redis's ``RedisSemanticCache`` wraps) creates ``FT.CREATE llmcache ON
HASH PREFIX 1 llmcache ...`` and clears by searching its index for every document
and deleting the keys found; older versions drop the index with ``DD`` (its
documents too). Each test runs on a Redis Stack server of its own: the tests
use the real default namespace and create indexes that cover a whole server.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import redis
from langchain_core.outputs import Generation

from redis_llm_cache import cli
from redis_llm_cache.config import DEFAULT_EMBEDDING_NAMESPACE, DEFAULT_NAMESPACE
from redis_llm_cache.core.embedding.store import EmbeddingSettings
from redis_llm_cache.core.index.foreign import covering_prefixes
from redis_llm_cache.embedders import LocalEmbedder
from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.redis.embedded import EmbeddedRedis

LLM = "model=fake;temperature=0"
QUESTION, PARAPHRASE = "How do I reset my password?", "How can I reset my password?"

#: Default key prefixes of caches that often share a Redis with ours: RedisVL
#: SemanticCache / langchain-redis RedisSemanticCache (``llmcache``), RedisVL
#: EmbeddingsCache (``embedcache``), langchain-redis RedisCache (``redis``), GPTCache
#: (``gptcache``), and short generic ones.
PEER_PREFIXES = ("llmcache", "embedcache", "redis", "gptcache", "cache", "doc", "llm", "emb")


@pytest.fixture
def stack() -> Iterator[redis.Redis]:
    server = EmbeddedRedis(modules=("search", "json")).start()
    client = redis.Redis.from_url(server.url, decode_responses=True)
    try:
        yield client
    finally:
        client.close()
        server.stop()


def url_of(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/0"


def semantic_cache(client: redis.Redis, embedder: LocalEmbedder, **kwargs: object) -> RedisLLMCache:
    return RedisLLMCache(
        redis_url=url_of(client),
        embedder=embedder,
        semantic_strategy="search",
        semantic_threshold=0.9,
        timeout=2.0,
        connect_timeout=2.0,
        **kwargs,  # type: ignore[arg-type]
    )


def create_peer_semantic_index(client: redis.Redis, prefix: str = "llmcache") -> None:
    """The index RedisVL's SemanticCache creates for ``name=prefix`` (its default)."""
    client.execute_command(
        "FT.CREATE", prefix, "ON", "HASH", "PREFIX", 1, prefix,
        "SCHEMA", "prompt", "TEXT", "response", "TEXT",
        "inserted_at", "NUMERIC", "updated_at", "NUMERIC",
        "prompt_vector", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", 384,
        "DISTANCE_METRIC", "COSINE",
    )  # fmt: skip


def peer_clear(client: redis.Redis, index: str) -> int:
    """RedisVL's ``clear()``: every document its index finds, deleted."""
    deleted = 0
    while True:
        reply = client.execute_command("FT.SEARCH", index, "*", "NOCONTENT", "LIMIT", 0, 500)
        keys = reply["results"] if isinstance(reply, dict) else reply[1:]
        ids = [k["id"] if isinstance(k, dict) else k for k in keys]
        if not ids:
            return deleted
        deleted += int(client.delete(*ids))


def test_default_namespaces_start_with_no_peer_prefix() -> None:
    for namespace in (DEFAULT_NAMESPACE, DEFAULT_EMBEDDING_NAMESPACE):
        assert covering_prefixes(namespace, PEER_PREFIXES) == ()
    # Neither of ours covers the other: an index or pattern on one misses the other.
    assert covering_prefixes(DEFAULT_NAMESPACE, [DEFAULT_EMBEDDING_NAMESPACE]) == ()
    assert covering_prefixes(DEFAULT_EMBEDDING_NAMESPACE, [DEFAULT_NAMESPACE]) == ()
    # Every entry point uses them.
    assert RedisLLMCache().settings.namespace == DEFAULT_NAMESPACE
    assert EmbeddingSettings().namespace == DEFAULT_EMBEDDING_NAMESPACE
    from redis_llm_cache.llama_index import CachedEmbedding

    assert CachedEmbedding.model_fields["namespace"].default == DEFAULT_EMBEDDING_NAMESPACE


def test_covering_prefixes_is_a_string_prefix_test_in_both_directions() -> None:
    prefixes = ["llm", "llmcache", "llmcache_app", "", "llmcache:sem:", "llmcache:", "other"]
    assert covering_prefixes("llmcache", prefixes) == (
        "llm", "llmcache", "", "llmcache:sem:", "llmcache:",
    )  # fmt: skip


def test_peer_clear_deletes_our_entries_under_the_old_default_and_we_warn_first(
    stack: redis.Redis, embedder: LocalEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    """The clash itself: under namespace ``llmcache`` the peer's index lists our
    semantic entries, so its clear deletes them; the cache reported it beforehand."""
    create_peer_semantic_index(stack)
    cache = semantic_cache(stack, embedder, namespace="llmcache")
    try:
        with caplog.at_level(logging.WARNING, logger="redis_llm_cache"):
            cache.update(QUESTION, LLM, [Generation(text="Use the reset link.")])
            assert cache.lookup(PARAPHRASE, LLM) == [Generation(text="Use the reset link.")]
        semantic = cache.stats()["semantic"]
        assert (semantic["foreign_indexes"], semantic["foreign_index_names"]) == (1, ["llmcache"])
        warnings = [r for r in caplog.records if "cover namespace" in r.getMessage()]
        assert len(warnings) == 1 and "llmcache" in warnings[0].getMessage()
        assert QUESTION not in caplog.text  # names indexes, never prompt text

        assert peer_clear(stack, "llmcache") >= 1  # our hashes were in its index
        assert cache.lookup(PARAPHRASE, LLM) is None  # the semantic entry is gone
    finally:
        cache.clear()
        cache.close()


def test_our_default_namespace_survives_the_peers_clears(
    stack: redis.Redis, embedder: LocalEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    for prefix in ("llmcache", "embedcache", "gptcache", "redis"):
        create_peer_semantic_index(stack, prefix)
    cache = semantic_cache(stack, embedder)  # the default namespace
    try:
        with caplog.at_level(logging.WARNING, logger="redis_llm_cache"):
            cache.update(QUESTION, LLM, [Generation(text="Use the reset link.")])
        our_hashes = [
            k for k in stack.scan_iter(f"{DEFAULT_NAMESPACE}:*") if stack.type(k) == "hash"
        ]
        assert our_hashes  # the semantic tier did store hashes a peer index could list
        for prefix in ("llmcache", "embedcache", "gptcache", "redis"):
            assert peer_clear(stack, prefix) == 0
            stack.execute_command("FT.DROPINDEX", prefix, "DD")  # drop with its documents
        assert all(stack.exists(k) for k in our_hashes)
        assert cache.lookup(QUESTION, LLM) == [Generation(text="Use the reset link.")]
        assert cache.lookup(PARAPHRASE, LLM) == [Generation(text="Use the reset link.")]
        stats = cache.stats()
        assert (stats["hits_exact"], stats["hits_semantic"]) == (1, 1)
        assert stats["semantic"]["foreign_indexes"] == 0
        assert "cover namespace" not in caplog.text
    finally:
        cache.clear()
        cache.close()


def test_an_index_without_prefix_is_counted_warned_once_and_shown_by_doctor(
    stack: redis.Redis,
    embedder: LocalEmbedder,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # No PREFIX: RediSearch indexes every hash of the server, ours included.
    stack.execute_command("FT.CREATE", "everything", "ON", "HASH", "SCHEMA", "title", "TEXT")
    cache = semantic_cache(stack, embedder)
    try:
        with caplog.at_level(logging.WARNING, logger="redis_llm_cache"):
            for _ in range(3):
                cache.lookup(QUESTION, LLM)
            cache.update(QUESTION, LLM, [Generation(text="Use the reset link.")])
            assert cache.lookup(PARAPHRASE, LLM) is not None  # the cache still works
        assert cache.stats()["semantic"]["foreign_index_names"] == ["everything"]
        assert sum("cover namespace" in r.getMessage() for r in caplog.records) == 1
        # Our own index (inside the namespace) is never reported.
        assert any(name.startswith(DEFAULT_NAMESPACE) for name in stack.execute_command("FT._LIST"))
    finally:
        cache.clear()
        cache.close()

    assert cli.main(["doctor", "--url", url_of(stack), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["namespace"] == DEFAULT_NAMESPACE
    assert report["foreign_indexes"] == [{"index": "everything", "prefixes": [""]}]
    assert any("'everything'" in hint for hint in report["hints"])
    # A namespace no index covers: nothing reported.
    stack.execute_command("FT.DROPINDEX", "everything")
    assert cli.main(["doctor", "--url", url_of(stack), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["foreign_indexes"] == []


def test_servers_without_search_report_nothing(
    private_redis: EmbeddedRedis, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["doctor", "--url", private_redis.url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["foreign_indexes"] == []
