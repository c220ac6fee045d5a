"""Fail-open against a real server that we stop, pause and restart mid-test.

The app (a LangChain chat model using the cache) must keep answering, each call
must stay bounded in time while Redis is gone, errors must be counted, and
caching must resume by itself when Redis is back.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from langchain_core.outputs import Generation

from redis_llm_cache import BackendError
from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.redis.embedded import EmbeddedRedis
from support.chat_models import EchoChatModel

pytestmark = pytest.mark.disruptive

LLM = "model=x"
#: Redis round-trip budget of caches whose server is stopped or paused mid-test:
#: ten times the library default, so the healthy part of a test (hits before and
#: after the fault) cannot time out on a loaded machine. A paused server still
#: costs each call only a bounded multiple of it.
TIMEOUT_S = 0.5
#: A call while Redis is down or paused: a few round trips, each cut off after
#: ``TIMEOUT_S``. Relative to the timeout, so a slow machine does not break it; a
#: call that waited for Redis would hang until the test resumes it.
WORST_CALL_S = 10 * TIMEOUT_S
#: How long caching may take to resume once Redis is back (polled, not slept).
RESUME_S = 30.0


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


def test_stop_and_restart_mid_run(private_redis: EmbeddedRedis) -> None:
    # A 2 s cooldown: the calls below must meet the breaker open (skips are asserted)
    # even when a loaded machine stalls between them; resuming is polled.
    cache = RedisLLMCache(redis_url=private_redis.url, timeout=TIMEOUT_S, breaker_cooldown=2.0)
    chat = EchoChatModel(cache=cache)
    assert chat.invoke("q1").content == "answer 1"
    assert chat.invoke("q1").content == "answer 1"  # hit
    assert chat.calls == 1

    private_redis.shutdown()
    worst = 0.0
    for i in range(20):
        reply, seconds = timed(chat.invoke, "q1")
        worst = max(worst, seconds)
        assert reply.content == f"answer {i + 2}"  # answered by the LLM
    stats = cache.stats()
    assert stats["errors"] >= 1 and stats["breaker_opens"] >= 1
    assert stats["breaker_skips"] >= 1  # stopped paying for Redis on every call
    assert worst < WORST_CALL_S, f"a call took {worst:.3f}s with Redis down"

    private_redis.restart()
    deadline = time.monotonic() + RESUME_S
    cache.update("q2", LLM, [Generation(text="back")])
    while cache.lookup("q2", LLM) is None and time.monotonic() < deadline:
        time.sleep(0.05)  # the breaker probes again after its cooldown
        cache.update("q2", LLM, [Generation(text="back")])
    assert cache.lookup("q2", LLM) == [Generation(text="back")]
    assert cache.stats()["breaker_open"] is False
    cache.close()


def test_paused_server_costs_at_most_the_timeout(private_redis: EmbeddedRedis) -> None:
    cache = RedisLLMCache(redis_url=private_redis.url, timeout=TIMEOUT_S, breaker_failures=1000)
    cache.update("q", LLM, [Generation(text="a")])
    private_redis.pause()
    try:
        durations = []
        for _ in range(5):
            result, seconds = timed(cache.lookup, "q", LLM)
            assert result is None
            durations.append(seconds)
        assert max(durations) < WORST_CALL_S, durations
        _, write_seconds = timed(cache.update, "q", LLM, [Generation(text="b")])
        assert write_seconds < WORST_CALL_S
        assert cache.stats()["errors_by_kind"].get("TimeoutError", 0) >= 5
    finally:
        private_redis.resume()
    assert cache.lookup("q", LLM) == [Generation(text="a")]  # resumes by itself
    cache.close()


async def test_async_stop_and_restart(private_redis: EmbeddedRedis) -> None:
    cache = RedisLLMCache(redis_url=private_redis.url, timeout=TIMEOUT_S, breaker_cooldown=0.1)
    chat = EchoChatModel(cache=cache)
    assert (await chat.ainvoke("q")).content == "answer 1"
    private_redis.shutdown()
    replies = await asyncio.gather(*(chat.ainvoke("q") for _ in range(10)))
    assert all(reply.content.startswith("answer") for reply in replies)
    assert cache.stats()["errors"] >= 1
    private_redis.restart()
    deadline = time.monotonic() + RESUME_S
    while time.monotonic() < deadline:
        await cache.aupdate("p", LLM, [Generation(text="ok")])
        if await cache.alookup("p", LLM) is not None:
            break
        await asyncio.sleep(0.05)
    assert await cache.alookup("p", LLM) == [Generation(text="ok")]
    await cache.aclose()


def test_fail_closed_raises_backend_error(private_redis: EmbeddedRedis) -> None:
    cache = RedisLLMCache(redis_url=private_redis.url, fail_open=False)
    private_redis.shutdown()
    with pytest.raises(BackendError) as caught:
        cache.lookup("q", LLM)
    assert caught.value.__cause__ is not None
    cache.close()


def test_clear_never_fails_silently(private_redis: EmbeddedRedis) -> None:
    cache = RedisLLMCache(redis_url=private_redis.url)
    private_redis.shutdown()
    with pytest.raises(BackendError):
        cache.clear()
    cache.close()


def test_out_of_memory_skips_writes_but_serves_hits() -> None:
    with EmbeddedRedis(
        extra_args=("--maxmemory", "2mb", "--maxmemory-policy", "noeviction")
    ) as server:
        cache = RedisLLMCache(redis_url=server.url, breaker_failures=1000, timeout=2.0)
        cache.update("kept", LLM, [Generation(text="small")])
        big = [Generation(text="x" * 200_000)]
        for i in range(30):
            cache.update(f"fill{i}", LLM, big)
        stats = cache.stats()
        assert (
            stats["errors_by_kind"].get("OutOfMemoryError", 0)
            + stats["errors_by_kind"].get("ResponseError", 0)
            >= 1
        )
        assert cache.lookup("kept", LLM) == [Generation(text="small")]
        cache.close()


def test_redis_errors_are_logged_without_prompt_text(
    private_redis: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RedisLLMCache(redis_url=private_redis.url)
    private_redis.shutdown()
    with caplog.at_level("DEBUG", logger="redis_llm_cache"):
        for _ in range(5):
            cache.lookup("my very private question", LLM)
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1  # rate-limited
    assert all("private question" not in r.getMessage() for r in caplog.records)
    cache.close()
