"""Real Redis servers for the test suite, started and stopped by fixtures.

* ``redis_kind`` / ``redis_url`` / ``redis_client``: a test using them runs once
  per Redis kind of its ``redis_kinds`` marker (see ``support/redis_kinds.py``):
  - ``stack``: Redis 8.2 with RediSearch + RedisJSON loaded, and
  - ``plain``: the same Redis 8.2 binary without modules,
    both started once per session on free loopback ports and stopped by PID;
  - ``cluster`` (contract suites only): a Redis Cluster of 3 masters + 3
    replicas, started once per session when the first cluster test runs;
    ``redis_client`` is then a ``RedisCluster``. The cache finds out by itself
    that it talks to a cluster (``INFO cluster``).
  Without a marker a test runs on ``stack`` and ``plain``. Set ``REDIS_URL`` to
  run the single-server kinds against one external Redis instead (the cluster
  stays local).
* ``private_redis`` / ``make_cluster``: a server or cluster of the test's own, for
  tests that stop, pause, restart or kill it (always local, even with ``REDIS_URL``).
* ``namespace``: a key prefix unique to the test, derived from its node id, so
  tests never see each other's keys on a shared server.
* ``build_cache`` / ``make_cache``: caches built in that namespace, cleared and
  closed after the test.
* The embedder servers (Ollama stand-in, OpenAI-compatible server) come from
  ``support/embedder_servers.py``.

No fakeredis, no mocks of Redis.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis
import redis.cluster
from hypothesis import HealthCheck, settings

from redis_llm_cache.embedders import LocalEmbedder
from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.llama_index import CachedEmbedding, CachedLLM
from redis_llm_cache.redis.embedded import EmbeddedCluster, EmbeddedRedis
from support.redis_kinds import redis_kinds_of

pytest_plugins = ["support.embedder_servers"]

KINDS = {"stack": ("search", "json"), "plain": ()}

#: Redis round-trip budget for caches built by tests that check correctness.
TEST_TIMEOUT_S = 2.0

# Hypothesis fails an example that runs longer than 200 ms by default: a measure of
# the machine, not of the code. Properties here are checked without a deadline;
# ``@settings`` on a test still overrides single fields of this profile.
settings.register_profile(
    "no-deadline",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("no-deadline")


@pytest.fixture(scope="session")
def redis_servers() -> Iterator[dict[str, str]]:
    external = os.environ.get("REDIS_URL")
    if external:
        yield dict.fromkeys(KINDS, external)
        return
    servers = {kind: EmbeddedRedis(modules=modules).start() for kind, modules in KINDS.items()}
    try:
        yield {kind: server.url for kind, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "redis_kind" in metafunc.fixturenames:
        kinds = redis_kinds_of(metafunc.definition)
        metafunc.parametrize("redis_kind", kinds, indirect=True)


@pytest.fixture
def redis_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[EmbeddedCluster]:
    """The session's Redis Cluster; started by the first test that asks for it."""
    with EmbeddedCluster(masters=3, replicas=1) as cluster:
        yield cluster


@pytest.fixture
def url_of_kind(
    request: pytest.FixtureRequest, redis_servers: dict[str, str]
) -> Callable[[str], str]:
    """``url_of_kind(kind)``: the URL of that kind's server; the cluster is asked
    for only when a test needs it, so sessions without cluster tests never start it."""

    def url_of(kind: str) -> str:
        if kind == "cluster":
            cluster: EmbeddedCluster = request.getfixturevalue("redis_cluster")
            return cluster.url
        return redis_servers[kind]

    return url_of


@pytest.fixture
def redis_url(url_of_kind: Callable[[str], str], redis_kind: str) -> str:
    return url_of_kind(redis_kind)


@pytest.fixture
def redis_client(
    redis_url: str, redis_kind: str
) -> Iterator[redis.Redis | redis.cluster.RedisCluster]:
    client: redis.Redis | redis.cluster.RedisCluster
    if redis_kind == "cluster":
        client = redis.cluster.RedisCluster.from_url(redis_url)
    else:
        client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def namespace_for(nodeid: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9]+", "-", nodeid.split("::")[-1])[:40]
    return f"t-{readable}-{hashlib.sha256(nodeid.encode()).hexdigest()[:10]}"


@pytest.fixture
def namespace(request: pytest.FixtureRequest) -> str:
    return namespace_for(request.node.nodeid)


@pytest.fixture
def build_cache(namespace: str) -> Iterator[Callable[..., Any]]:
    """``build_cache(cls, *args, **kwargs)``: one of the caches -- RedisLLMCache or an
    embedding cache (EmbeddingCache, CachedEmbeddings, CachedEmbedding) -- in this
    test's namespace; the caller names the server (``redis_url=...``). After the
    test its keys are cleared (an embedding cache's for every model) and its
    clients closed."""
    made: list[Any] = []

    def build(cls: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("namespace", namespace)
        # Correctness tests must not flake on a loaded CI machine: the default
        # budgets (50 ms per LLM-cache round trip, 0.5 s per embedding-cache one)
        # are exercised by the fail-open tests, which set them themselves.
        kwargs.setdefault("timeout", TEST_TIMEOUT_S)
        if cls is RedisLLMCache:  # likewise the embedder's and judge's deadlines (0.25 s,
            # 0.5 s), exercised by the fault-matrix tests, which set them themselves
            kwargs.setdefault("embed_timeout", TEST_TIMEOUT_S)
            kwargs.setdefault("judge_timeout", TEST_TIMEOUT_S)
        if cls is not CachedEmbedding:  # its pydantic fields have no connect_timeout
            kwargs.setdefault("connect_timeout", TEST_TIMEOUT_S)
        cache = cls(*args, **kwargs)
        made.append(cache)
        return cache

    yield build
    for cache in made:
        if isinstance(cache, (RedisLLMCache, CachedLLM)):
            cache.clear()
        else:
            cache.clear(all_models=True)
        cache.close()


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    """The bundled model, for every test that embeds (it loads once per process)."""
    return LocalEmbedder()


@pytest.fixture
def make_cache(redis_url: str, build_cache: Callable[..., Any]) -> Callable[..., RedisLLMCache]:
    """RedisLLMCache objects on this test's server (``build_cache``)."""

    def make(**kwargs: Any) -> RedisLLMCache:
        kwargs.setdefault("redis_url", redis_url)
        cache: RedisLLMCache = build_cache(RedisLLMCache, **kwargs)
        return cache

    return make


@pytest.fixture
def private_redis() -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis().start()
    yield server
    server.stop()


@pytest.fixture
def make_cluster() -> Iterator[Callable[..., EmbeddedCluster]]:
    """Clusters of the test's own (to kill nodes in), stopped afterwards."""
    made: list[EmbeddedCluster] = []

    def make(**kwargs: object) -> EmbeddedCluster:
        cluster = EmbeddedCluster(**kwargs).start()  # type: ignore[arg-type]
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop()


@pytest.fixture
async def async_cleanup() -> AsyncIterator[list[RedisLLMCache]]:
    """Caches appended here get their asyncio clients closed on this test's loop."""
    caches: list[RedisLLMCache] = []
    yield caches
    for cache in caches:
        await cache.aclose()
