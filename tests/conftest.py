"""Real Redis servers for the test suite, started and stopped by fixtures.

* ``redis_kind`` / ``redis_url``: each contract test runs against
  - ``stack``: Redis 8.2 with RediSearch + RedisJSON loaded, and
  - ``plain``: the same Redis 8.2 binary without modules,
  both started once per session on free loopback ports and stopped by PID.
  Set ``REDIS_URL`` to run the suite against one external Redis instead.
* ``private_redis``: a server of the test's own, for tests that stop, pause or
  restart it (always local, even with ``REDIS_URL``).
* ``namespace``: a key prefix unique to the test, derived from its node id, so
  tests never see each other's keys on a shared server.
* ``build_cache`` / ``make_cache``: caches built in that namespace, cleared and
  closed after the test.

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
from hypothesis import HealthCheck, settings

from redis_llm_cache.embedders import LocalEmbedder
from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.llama_index import CachedEmbedding
from redis_llm_cache.redis.embedded import EmbeddedRedis

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


@pytest.fixture(params=list(KINDS))
def redis_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def redis_url(redis_servers: dict[str, str], redis_kind: str) -> str:
    return redis_servers[redis_kind]


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
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
        if cls is not CachedEmbedding:  # its pydantic fields have no connect_timeout
            kwargs.setdefault("connect_timeout", TEST_TIMEOUT_S)
        cache = cls(*args, **kwargs)
        made.append(cache)
        return cache

    yield build
    for cache in made:
        if isinstance(cache, RedisLLMCache):
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
async def async_cleanup() -> AsyncIterator[list[RedisLLMCache]]:
    """Caches appended here get their asyncio clients closed on this test's loop."""
    caches: list[RedisLLMCache] = []
    yield caches
    for cache in caches:
        await cache.aclose()
