"""The semantic tier on the Redis Cluster, through the LangChain cache.

* The vector index contract (:mod:`index_contract`) runs on the cluster for the
  two strategies that work there -- ``vectorset`` (Redis 8 vector sets: every
  set is one key, so one partition lives on one master) and ``client`` -- driven
  by the cache's own :class:`RedisConnector`, as in production.
* The LangChain semantic-cache suite runs unchanged with both strategies.
* ``auto`` picks ``vectorset`` on a Redis 8 cluster; a forced ``search`` is refused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis.cluster
from index_contract import Run, VectorIndexContract
from langchain_core.messages import HumanMessage
from test_semantic_cache import (  # noqa: F401
    LLM,
    THRESHOLD,
    answer,
    chat,
    test_async_semantic_hit,
    test_chat_model_round_trip,
    test_clear_removes_semantic_entries,
    test_concurrent_writers,
    test_entries_count_their_semantic_hits,
    test_entries_of_another_process_are_visible,
    test_exact_tier_answers_first,
    test_nearer_entry_of_another_partition_does_not_hide_a_hit,
    test_paraphrase_hits_and_reports_itself,
    test_partitions_never_share_answers,
    test_ttl_expiry_ends_semantic_hits,
    test_unrelated_and_near_miss_questions_miss,
)
from test_server_indexes import local_vectors  # noqa: F401

from redis_llm_cache.config import CacheSettings
from redis_llm_cache.core.client_index import ClientIndex
from redis_llm_cache.core.vectorset_index import VectorSetIndex
from redis_llm_cache.embedders import LocalEmbedder
from redis_llm_cache.errors import ConfigurationError
from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.redis.connection import RedisConnector
from redis_llm_cache.redis.embedded import EmbeddedCluster
from redis_llm_cache.runtime import run_sync


class ClusterIndexContract(VectorIndexContract):
    """The index contract with requests run by the cache's cluster connector."""

    @pytest.fixture
    def server_url(self, redis_cluster: EmbeddedCluster) -> str:
        return redis_cluster.url

    @pytest.fixture
    def client(self, server_url: str) -> Iterator[redis.cluster.RedisCluster]:  # type: ignore[override]
        client = redis.cluster.RedisCluster.from_url(server_url)
        yield client
        client.close()

    def connect(self, server_url: str) -> RedisConnector:
        return RedisConnector(url=server_url, settings=CacheSettings(timeout=5.0, cluster=True))

    connect_async = connect

    @pytest.fixture
    def run(self, server_url: str) -> Iterator[Run]:  # type: ignore[override]
        connector = RedisConnector(url=server_url, settings=CacheSettings(timeout=5.0))
        yield lambda op: run_sync(op, connector.execute)
        assert connector.is_cluster is True  # found out by itself
        connector.close()


class TestVectorSetIndexOnCluster(ClusterIndexContract):
    factory = VectorSetIndex


class TestClientIndexOnCluster(ClusterIndexContract):
    factory = ClientIndex


STRATEGIES = ["vectorset", "client"]


@pytest.fixture(params=STRATEGIES)
def semantic_cache(
    request: pytest.FixtureRequest,
    make_cache: Callable[..., RedisLLMCache],
    embedder: LocalEmbedder,
) -> Callable[..., RedisLLMCache]:
    """``make_cache`` (on the cluster: ``redis_url`` is overridden) with the semantic tier."""

    def make(**kwargs: Any) -> RedisLLMCache:
        kwargs.setdefault("embedder", embedder)
        kwargs.setdefault("semantic_strategy", request.param)
        kwargs.setdefault("semantic_threshold", THRESHOLD)
        # As in test_semantic_cache.py: these tests check retrieval, not the verifier.
        kwargs.setdefault("semantic_verifier", None)
        return make_cache(**kwargs)

    return make


def test_auto_strategy_on_a_cluster_is_vectorset(
    make_cache: Callable[..., RedisLLMCache],
    embedder: LocalEmbedder,
) -> None:
    cache = make_cache(embedder=embedder)
    cache.update(chat(HumanMessage("How do I reset my password?")), LLM, answer("a"))
    assert cache.lookup(chat(HumanMessage("How can I reset my password?")), LLM) == answer("a")
    assert cache.stats()["semantic"]["strategy"] == "vectorset"
    assert cache.core.connector.is_cluster is True


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
