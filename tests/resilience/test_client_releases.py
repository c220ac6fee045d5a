"""Our Redis clients on the redis-py release installed, with warnings as errors.

redis-py 8.2 started warning when a synchronous ``Retry`` reaches an asyncio
client; under ``-W error`` (and this suite's ``filterwarnings = error``) that
warning was raised inside every async lookup, which then failed open: a silently
dead async cache. These tests make any warning from building or using our
clients an error *and* check that nothing failed open (``errors == 0``), so a
future release's new warning shows up here by name instead of as missing hits.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable

import redis
from langchain_core.outputs import Generation

from redis_llm_cache.langchain import RedisLLMCache

LLM = "model=test;temperature=0"


def test_async_clients_warn_nothing_and_serve_hits(
    make_cache: Callable[..., RedisLLMCache],
) -> None:
    cache = make_cache()

    async def scenario() -> list[Generation] | None:
        try:
            await cache.aupdate("q", LLM, [Generation(text="a")])
            return await cache.alookup("q", LLM)
        finally:
            await cache.aclose()  # this loop's client: asyncio.run closes the loop next

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert asyncio.run(scenario()) == [Generation(text="a")]
        assert asyncio.run(scenario()) == [Generation(text="a")]  # a second loop, a new client
    stats = cache.stats()
    assert stats["errors"] == 0, stats["errors_by_kind"]
    assert stats["hits"] == 2


def test_sync_clients_warn_nothing_and_serve_hits(
    make_cache: Callable[..., RedisLLMCache],
) -> None:
    cache = make_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.update("q", LLM, [Generation(text="a")])
        assert cache.lookup("q", LLM) == [Generation(text="a")]
    assert cache.stats()["errors"] == 0
    assert redis.__version__  # the release under test is the one installed (see CI's range checks)
