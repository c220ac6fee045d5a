"""Corrupt data planted by hand in the semantic tier's keys, on real Redis.

Each case is a miss (never an error that reaches the app or trips the breaker),
is repaired or removed, and is counted; the exact tier is never lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import redis
from langchain_core.outputs import Generation

from redis_llm_cache.embedders import LocalEmbedder
from redis_llm_cache.langchain import RedisLLMCache

LLM = "model=fake;temperature=0"
QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"
ANSWER = [Generation(text="Use the reset link on the login page.")]


@pytest.fixture
def build(
    redis_servers: dict[str, str],
    build_cache: Callable[..., RedisLLMCache],
    embedder: LocalEmbedder,
) -> Callable[..., RedisLLMCache]:
    def make(strategy: str, kind: str = "stack", **kwargs: Any) -> RedisLLMCache:
        return build_cache(
            RedisLLMCache,
            redis_url=redis_servers[kind],
            embedder=embedder,
            semantic_strategy=strategy,
            semantic_threshold=0.9,
            **kwargs,
        )

    return make


@pytest.fixture
def stack_client(redis_servers: dict[str, str]) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_servers["stack"])
    yield client
    client.close()


def semantic_stats(cache: RedisLLMCache) -> dict[str, Any]:
    stats = cache.stats()
    assert stats["errors"] == 0, stats["errors_by_kind"]
    return dict(stats["semantic"])


def eventually_hits(cache: RedisLLMCache, prompt: str, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cache.lookup(prompt, LLM) == ANSWER:
            return True
        time.sleep(0.05)
    return False


def index_name(cache: RedisLLMCache) -> str:
    semantic = cache.core._semantic
    assert semantic is not None
    return str(semantic.index.index_name)  # type: ignore[attr-defined]


@pytest.mark.parametrize("delete_documents", [False, True], ids=["drop", "drop-dd"])
def test_dropped_search_index_is_recreated_without_losing_the_exact_tier(
    build: Callable[..., RedisLLMCache], stack_client: redis.Redis, delete_documents: bool
) -> None:
    cache = build("search")
    cache.update(QUESTION, LLM, ANSWER)
    assert cache.lookup(PARAPHRASE, LLM) == ANSWER
    stack_client.execute_command("FT.DROPINDEX", index_name(cache), *(["DD"] * delete_documents))
    assert cache.lookup(QUESTION, LLM) == ANSWER  # exact tier untouched
    first = cache.lookup(PARAPHRASE, LLM)  # the search finds no index: a miss, recreated
    assert first is None
    assert semantic_stats(cache)["index_repairs"] == 1
    if not delete_documents:
        # The recreated index picks up the existing documents (RediSearch scans them).
        assert eventually_hits(cache, PARAPHRASE)
    else:
        cache.update(QUESTION, LLM, ANSWER)  # written again: indexed again
        assert cache.lookup(PARAPHRASE, LLM) == ANSWER
    assert cache.stats()["errors"] == 0


@pytest.mark.parametrize(
    "schema",
    [("title", "TEXT"), ("p", "TAG", "v", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", 8,
                        "DISTANCE_METRIC", "COSINE")],
    ids=["text-schema", "vector-of-another-dimension"],
)  # fmt: skip
def test_foreign_index_of_our_name_is_replaced(
    build: Callable[..., RedisLLMCache], stack_client: redis.Redis, schema: tuple[Any, ...]
) -> None:
    cache = build("search")
    name = index_name(cache)
    foreign_prefix = f"{name}-foreign:"
    stack_client.hset(f"{foreign_prefix}1", mapping={"title": "someone else's"})
    stack_client.execute_command(
        "FT.CREATE", name, "ON", "HASH", "PREFIX", 1, foreign_prefix, "SCHEMA", *schema
    )
    try:
        cache.update(QUESTION, LLM, ANSWER)
        assert cache.lookup(PARAPHRASE, LLM) == ANSWER
        assert semantic_stats(cache)["index_repairs"] == 1
        assert stack_client.hget(f"{foreign_prefix}1", "title") == b"someone else's"
    finally:
        stack_client.delete(f"{foreign_prefix}1")


def test_foreign_index_planted_mid_run_is_replaced(
    build: Callable[..., RedisLLMCache], stack_client: redis.Redis
) -> None:
    cache = build("search")
    cache.update(QUESTION, LLM, ANSWER)
    assert cache.lookup(PARAPHRASE, LLM) == ANSWER
    name = index_name(cache)
    stack_client.execute_command("FT.DROPINDEX", name)
    stack_client.execute_command(
        "FT.CREATE", name, "ON", "HASH", "PREFIX", 1, f"{name}-foreign:", "SCHEMA", "t", "TEXT"
    )
    assert cache.lookup(PARAPHRASE, LLM) is None  # the query fails: checked, replaced, a miss
    assert semantic_stats(cache)["index_repairs"] == 1
    assert cache.lookup(QUESTION, LLM) == ANSWER
    assert eventually_hits(cache, PARAPHRASE)  # our documents are indexed again


def partition_set_key(cache: RedisLLMCache, prompt: str) -> str:
    from redis_llm_cache.core.index.base import partition_id

    semantic = cache.core._semantic
    assert semantic is not None
    query = cache.core._semantic_query(prompt)
    assert query is not None
    partition = partition_id(cache.settings.tenant, LLM, query.context)
    return str(semantic.index.set_key(partition))  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["stack", "plain"])
@pytest.mark.parametrize("planted", ["wrong-dimension", "wrong-type"])
def test_foreign_vector_set_is_removed_and_rebuilt(
    build: Callable[..., RedisLLMCache], redis_servers: dict[str, str], kind: str, planted: str
) -> None:
    cache = build("vectorset", kind)
    client = redis.Redis.from_url(redis_servers[kind])
    key = partition_set_key(cache, QUESTION)
    if planted == "wrong-dimension":
        client.execute_command("VADD", key, "FP32", np.ones(3, "<f4").tobytes(), "x")
    else:
        client.rpush(key, "not a vector set")
    try:
        assert cache.lookup(PARAPHRASE, LLM) is None  # the search meets it: removed, a miss
        assert semantic_stats(cache)["index_repairs"] == 1
        if planted == "wrong-dimension":  # plant again: now the write meets it
            client.execute_command("VADD", key, "FP32", np.ones(3, "<f4").tobytes(), "x")
        cache.update(QUESTION, LLM, ANSWER)
        assert cache.lookup(PARAPHRASE, LLM) == ANSWER
        expected = 2 if planted == "wrong-dimension" else 1
        assert semantic_stats(cache)["index_repairs"] == expected
        assert client.execute_command("VDIM", key) == 384
    finally:
        client.close()


def test_client_index_entry_with_a_vector_of_the_wrong_size_is_skipped(
    build: Callable[..., RedisLLMCache], redis_servers: dict[str, str]
) -> None:
    writer = build("client", "plain")
    writer.update(QUESTION, LLM, ANSWER)
    semantic = writer.core._semantic
    assert semantic is not None
    entry = semantic.index.entry_key(writer.core.exact.key(QUESTION, LLM))  # type: ignore[attr-defined]
    client = redis.Redis.from_url(redis_servers["plain"])
    client.hset(entry, "v", b"\x00" * 12)  # 3 floats where 384 are expected
    client.close()
    reader = build("client", "plain")  # a fresh process loads the index from Redis
    assert reader.lookup(PARAPHRASE, LLM) is None
    assert reader.lookup(QUESTION, LLM) == ANSWER  # the exact tier is intact
    assert reader.stats()["errors"] == 0
    writer.update(QUESTION, LLM, ANSWER)  # rewritten: the entry is good again
    assert eventually_hits(reader, PARAPHRASE)


def test_garbage_in_a_search_document_is_not_a_candidate(
    build: Callable[..., RedisLLMCache], stack_client: redis.Redis
) -> None:
    cache = build("search")
    cache.update(QUESTION, LLM, ANSWER)
    semantic = cache.core._semantic
    assert semantic is not None
    doc = semantic.index.entry_key(cache.core.exact.key(QUESTION, LLM))  # type: ignore[attr-defined]
    stack_client.hset(doc, mapping={"v": b"\xff" * 7, "c": "not a number"})  # truncated vector
    assert cache.lookup(PARAPHRASE, LLM) is None
    assert cache.lookup(QUESTION, LLM) == ANSWER
    assert cache.stats()["errors"] == 0
    cache.update(QUESTION, LLM, ANSWER)  # repaired by the next write
    assert cache.lookup(PARAPHRASE, LLM) == ANSWER
