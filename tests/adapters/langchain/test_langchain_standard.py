"""langchain-tests' own cache suites, unmodified, against RedisLLMCache on real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from langchain_tests.integration_tests import AsyncCacheTestSuite, SyncCacheTestSuite

from redis_llm_cache.langchain import RedisLLMCache

# Generous Redis budget: these suites check behaviour, not timeouts (see test_fail_open).
TEST_TIMEOUT_S = 2.0


class TestRedisLLMCacheSync(SyncCacheTestSuite):
    @pytest.fixture
    def cache(self, redis_url: str, namespace: str) -> Iterator[RedisLLMCache]:
        cache = RedisLLMCache(
            redis_url=redis_url,
            namespace=namespace,
            timeout=TEST_TIMEOUT_S,
            connect_timeout=TEST_TIMEOUT_S,
        )
        yield cache
        cache.clear()
        cache.close()


class TestRedisLLMCacheAsync(AsyncCacheTestSuite):
    @pytest.fixture
    async def cache(self, redis_url: str, namespace: str) -> AsyncIterator[RedisLLMCache]:
        cache = RedisLLMCache(
            redis_url=redis_url,
            namespace=namespace,
            timeout=TEST_TIMEOUT_S,
            connect_timeout=TEST_TIMEOUT_S,
        )
        yield cache
        await cache.aclear()
        await cache.aclose()
