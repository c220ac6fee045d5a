"""What the connector adapts for Redis Cluster, checked on the real cluster.

Entries of one namespace spread over every master; clears and counts must see
all of them, multi-key commands must not fail with ``CROSSSLOT``, and a
caller's own ``RedisCluster`` clients work like a URL.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
import redis.asyncio.cluster
import redis.cluster
from langchain_core.outputs import Generation
from redis.crc import key_slot

from redis_llm_cache.config import CacheSettings
from redis_llm_cache.core.ops import Call, Pipeline, RedisOperation
from redis_llm_cache.core.scan import scan_each
from redis_llm_cache.errors import ConfigurationError
from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.redis.capabilities import detect_strategy
from redis_llm_cache.redis.connection import RedisConnector, split_by_slot
from redis_llm_cache.redis.embedded import EmbeddedCluster, find_module
from redis_llm_cache.runtime import run_sync

LLM = "model=cluster-test"

# ``redis_url`` / ``make_cache`` are the session cluster's.
pytestmark = pytest.mark.redis_kinds("cluster")


def keys_per_master(cluster: EmbeddedCluster, pattern: str) -> dict[int, int]:
    """How many keys matching ``pattern`` each master holds (asked node by node)."""
    counts = {}
    client = redis.cluster.RedisCluster.from_url(cluster.url)
    try:
        for node in client.get_primaries():
            single = redis.Redis(host=node.host, port=node.port)
            counts[node.port] = sum(1 for _ in single.scan_iter(match=pattern, count=1000))
            single.close()
    finally:
        client.close()
    return counts


def test_entries_spread_over_every_master_and_clear_reaches_all(
    make_cache: Callable[..., RedisLLMCache], redis_cluster: EmbeddedCluster, namespace: str
) -> None:
    cache = make_cache()
    for i in range(120):
        cache.update(f"q{i}", LLM, [Generation(text=f"a{i}")])
    pattern = f"{namespace}:llm:*"
    spread = keys_per_master(redis_cluster, pattern)
    assert len(spread) == 3 and all(n > 0 for n in spread.values()), spread
    assert sum(spread.values()) == 120
    assert cache.core.count() == 120
    assert cache.core.clear() == 120
    assert sum(keys_per_master(redis_cluster, pattern).values()) == 0


def test_max_entries_bound_holds_across_slots(make_cache: Callable[..., RedisLLMCache]) -> None:
    # The LRU sorted set is one key (one slot); the entries it names are everywhere.
    cache = make_cache(max_entries=10)
    for i in range(40):
        cache.update(f"q{i}", LLM, [Generation(text=f"a{i}")])
    assert cache.core.count() == 10
    assert cache.stats()["evictions"] == 30 and cache.stats()["errors"] == 0
    assert cache.lookup("q39", LLM) == [Generation(text="a39")]
    assert cache.lookup("q0", LLM) is None


def test_cross_slot_unlink_is_split_and_counted(redis_url: str, namespace: str) -> None:
    keys = [f"{namespace}:k{i}" for i in range(20)]
    assert len({key_slot(k.encode()) for k in keys}) > 1
    connector = RedisConnector(url=redis_url, settings=CacheSettings(timeout=2.0))
    try:
        connector.execute(Pipeline(tuple(("SET", k, "v") for k in keys)))
        assert connector.is_cluster is True
        # One existing key twice, one missing key: counts as Redis would.
        replies = connector.execute(
            Pipeline((("UNLINK", *keys[:10], f"{namespace}:missing"), ("GET", keys[10])))
        )
        assert replies == [10, b"v"]
        assert connector.execute(Call(("UNLINK", *keys[10:]))) == 10
        assert connector.execute(Call(("EXISTS", *keys))) == 0
    finally:
        connector.close()


def test_scan_walks_every_master_with_an_opaque_cursor(redis_url: str, namespace: str) -> None:
    connector = RedisConnector(url=redis_url, settings=CacheSettings(timeout=2.0, cluster=True))
    keys = {f"{namespace}:s{i}".encode() for i in range(300)}
    try:
        connector.execute(Pipeline(tuple(("SET", k, "v") for k in keys)))
        seen: list[bytes] = []

        def collect(found: list[bytes]) -> RedisOperation[int]:
            yield from ()  # needs no Redis work of its own
            seen.extend(found)
            return len(found)

        total = run_sync(scan_each(f"{namespace}:s*", collect), connector.execute)
        assert total == 300 and set(seen) == keys
        # A cursor from another set of masters (as after a failover) is refused.
        first_cursor, _ = connector.execute(Call(("SCAN", 0, "MATCH", "none", "COUNT", 1)))
        stale = "000000000000" + str(first_cursor)[12:]
        with pytest.raises(redis.exceptions.RedisClusterException, match="masters changed"):
            connector.execute(Call(("SCAN", stale, "MATCH", "none", "COUNT", 1)))
    finally:
        connector.execute(Call(("UNLINK", *keys)))
        connector.close()


def test_split_by_slot_only_splits_what_it_must() -> None:
    assert split_by_slot(("GET", "a")) is None
    assert split_by_slot(("UNLINK", "only")) is None
    assert split_by_slot(("UNLINK", "{t}a", "{t}b")) is None  # one slot: as is
    parts = split_by_slot(("UNLINK", "a", "b", "c", "d"))
    assert parts is not None and sorted(k for p in parts for k in p[1:]) == ["a", "b", "c", "d"]
    assert all(len({key_slot(k.encode()) for k in p[1:]}) == 1 for p in parts)
    assert split_by_slot(("ZREM", "z", "a", "b")) is None  # members are not keys


def test_callers_cluster_clients(redis_url: str, namespace: str) -> None:
    import asyncio

    sync_client = redis.cluster.RedisCluster.from_url(redis_url)
    cache = RedisLLMCache(redis_client=sync_client, namespace=namespace)
    try:
        assert cache.core.connector.is_cluster is True
        cache.update("q", LLM, [Generation(text="a")])
        assert cache.lookup("q", LLM) == [Generation(text="a")]

        async def main() -> None:
            async_client = redis.asyncio.cluster.RedisCluster.from_url(redis_url)
            acache = RedisLLMCache(async_redis_client=async_client, namespace=namespace)
            try:
                answers = await asyncio.gather(*(acache.alookup("q", LLM) for _ in range(20)))
                assert answers == [[Generation(text="a")]] * 20
                assert acache.stats()["errors"] == 0
            finally:
                await async_client.aclose()

        asyncio.run(main())
        assert cache.core.clear() == 1
    finally:
        sync_client.close()


def test_cluster_setting_on_a_single_redis(redis_servers: dict[str, str], namespace: str) -> None:
    # Auto-detection says "single" and keeps the plain client; cluster=False skips asking.
    for cluster in (None, False):
        cache = RedisLLMCache(
            redis_url=redis_servers["plain"], namespace=namespace, cluster=cluster, timeout=2.0
        )
        cache.update("q", LLM, [Generation(text="a")])
        assert cache.lookup("q", LLM) == [Generation(text="a")]
        assert cache.core.connector.is_cluster is False
        cache.clear()
        cache.close()
    with pytest.raises(ConfigurationError):
        CacheSettings(cluster="yes")  # type: ignore[arg-type]


def test_auto_strategy_passes_over_search_on_a_cluster(
    make_cluster: Callable[..., EmbeddedCluster],
) -> None:
    # A one-master cluster whose node has RediSearch loaded: a single server with
    # this module would get "search"; a cluster cannot search across shards.
    cluster = make_cluster(
        masters=1, replicas=0, extra_args=("--loadmodule", find_module("search"))
    )
    connector = RedisConnector(url=cluster.url, settings=CacheSettings(timeout=2.0))
    try:
        modules = connector.execute(Call(("MODULE", "LIST")))
        assert any(b"search" in str(entry).encode() for entry in modules)
        assert run_sync(detect_strategy(), connector.execute) == "vectorset"
        assert connector.is_cluster is True
    finally:
        connector.close()
