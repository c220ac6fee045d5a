"""Faults in the middle of a run of LangChain calls, sync and async, on a real Redis.

Redis is stopped and restarted, paused (``SIGSTOP``), slowed (``DEBUG SLEEP`` in a
loop) or out of memory (``maxmemory`` below its use, with ``noeviction``) while a chat model keeps
answering prompts through the cache. Every call must be answered with the right
answer for its prompt, no call may take long while Redis is sick (a bound, not a
speed measurement), caching must resume by itself, and the counters must show it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.redis.embedded import EmbeddedRedis
from support.chat_models import CountingChatModel

pytestmark = pytest.mark.disruptive

PROMPTS = [f"question number {i}" for i in range(5)]
#: Redis round-trip budget of the cache under test. Ten times the library default:
#: a healthy server must answer every call in time on a loaded CI machine (the
#: runs before and after a fault count LLM calls), while a sick one still times out.
TIMEOUT_S = 0.5
#: Upper bound for one call while Redis is sick, relative to the timeout: a call
#: makes a few round trips (lookup, lease, write), each cut off after ``TIMEOUT_S``,
#: and the circuit breaker skips Redis after a few failures. A call that waited for
#: Redis instead would take until the fault ends (stop, pause) or a whole
#: ``SLOW_SLEEP_S`` (slow).
WORST_CALL_S = 8 * TIMEOUT_S
#: One ``DEBUG SLEEP`` of the "slow" fault: well past the timeout, so that a command
#: queued behind it times out.
SLOW_SLEEP_S = 2 * WORST_CALL_S


def expected(prompt: str) -> str:
    return f"answer to {prompt}"


def run_sync(model: CountingChatModel, prompts: list[str]) -> float:
    """Ask every prompt; check each answer; return the slowest call's seconds."""
    worst = 0.0
    for prompt in prompts:
        started = time.perf_counter()
        assert model.invoke(prompt).content == expected(prompt)
        worst = max(worst, time.perf_counter() - started)
    return worst


async def run_async(model: CountingChatModel, prompts: list[str]) -> float:
    async def one(prompt: str) -> float:
        started = time.perf_counter()
        assert (await model.ainvoke(prompt)).content == expected(prompt)
        return time.perf_counter() - started

    return max(await asyncio.gather(*(one(p) for p in prompts)))


class Fault:
    """Start and end one kind of sickness on a server."""

    def __init__(self, kind: str, server: EmbeddedRedis) -> None:
        self.kind = kind
        self.server = server
        self._stop = threading.Event()
        self._slowing = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.kind == "stop":
            self.server.shutdown()
        elif self.kind == "pause":
            self.server.pause()
        elif self.kind == "slow":
            self._thread = threading.Thread(target=self._slow_down, daemon=True)
            self._thread.start()
            # Waiting for the first sleep to be sent is enough: the sleeps repeat
            # until the fault ends, so the calls of the sick run queue behind them.
            assert self._slowing.wait(timeout=30), "the slow-down thread did not start"
        elif self.kind == "oom":
            self._fill()

    def end(self) -> None:
        if self.kind == "stop":
            self.server.restart()
        elif self.kind == "pause":
            self.server.resume()
        elif self.kind == "slow":
            self._stop.set()
            assert self._thread is not None
            self._thread.join(timeout=SLOW_SLEEP_S + 30)
            assert not self._thread.is_alive(), "the slow-down thread did not end"
        elif self.kind == "oom":
            admin = redis.Redis.from_url(self.server.url)
            admin.config_set("maxmemory", 0)
            admin.close()

    def _slow_down(self) -> None:
        # redis-py's default 5 s socket timeout would cut a sleep short.
        admin = redis.Redis.from_url(self.server.url, socket_timeout=SLOW_SLEEP_S + 30)
        while not self._stop.is_set():
            self._slowing.set()
            admin.execute_command("DEBUG", "SLEEP", SLOW_SLEEP_S)  # the server does nothing else
        admin.close()

    def _fill(self) -> None:
        # Below what the server already uses: with noeviction every write is refused
        # (filling it with data instead leaves a margin that small writes still fit).
        admin = redis.Redis.from_url(self.server.url)
        admin.config_set("maxmemory", 1)
        admin.close()


@pytest.fixture
def server() -> Iterator[EmbeddedRedis]:
    sick = EmbeddedRedis(
        extra_args=(
            "--maxmemory-policy", "noeviction",
            "--enable-debug-command", "yes",
        )
    ).start()  # fmt: skip
    yield sick
    sick.stop()


def make(server: EmbeddedRedis) -> RedisLLMCache:
    return RedisLLMCache(
        redis_url=server.url,
        timeout=TIMEOUT_S,
        connect_timeout=TIMEOUT_S,
        # Long enough that calls meet the breaker open (skips are asserted) even when a
        # loaded machine stalls between them; resuming is polled.
        breaker_cooldown=2.0,
    )


def wait_until(condition: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


EXPECTED_ERRORS = {
    "stop": {"ConnectionError"},
    "pause": {"TimeoutError"},
    "slow": {"TimeoutError"},
    "oom": {"OutOfMemoryError", "ResponseError"},
}


@pytest.mark.parametrize("kind", list(EXPECTED_ERRORS))
def test_sync_run_of_chat_calls_survives(server: EmbeddedRedis, kind: str) -> None:
    cache = make(server)
    model = CountingChatModel(cache=cache)
    run_sync(model, PROMPTS)
    run_sync(model, PROMPTS)  # all hits
    assert model.calls == len(PROMPTS)

    fault = Fault(kind, server)
    fault.start()
    try:
        sick_prompts = [*PROMPTS, "a new question", "another new question"] * 3
        worst = run_sync(model, sick_prompts)
    finally:
        fault.end()
    assert worst < WORST_CALL_S, f"a call took {worst:.2f}s with Redis {kind}"
    stats = cache.stats()
    assert set(stats["errors_by_kind"]) & EXPECTED_ERRORS[kind], stats["errors_by_kind"]
    if kind == "oom":  # hits kept being served, only writes failed
        assert stats["hits"] >= 2 * len(PROMPTS)

    if kind in ("stop", "pause"):  # stopped paying the timeout on every call
        assert stats["breaker_opens"] >= 1 and stats["breaker_skips"] >= 1

    # Caching resumes by itself: an answer is stored again and then served from Redis.
    def resumed() -> bool:
        run_sync(model, ["after the fault"])
        calls = model.calls
        run_sync(model, ["after the fault"])
        return model.calls == calls

    assert wait_until(resumed), cache.stats()
    run_sync(model, PROMPTS)
    calls = model.calls
    run_sync(model, PROMPTS)
    assert model.calls == calls
    cache.close()


@pytest.mark.parametrize("kind", ["stop", "pause"])
async def test_async_run_of_chat_calls_survives(server: EmbeddedRedis, kind: str) -> None:
    cache = make(server)
    model = CountingChatModel(cache=cache)
    await run_async(model, PROMPTS)
    await run_async(model, PROMPTS)
    assert model.calls == len(PROMPTS)
    fault = Fault(kind, server)
    fault.start()
    try:
        worst = 0.0
        for _ in range(3):
            worst = max(worst, await run_async(model, [*PROMPTS, "a new question"]))
    finally:
        fault.end()
    assert worst < WORST_CALL_S, f"a call took {worst:.2f}s with Redis {kind}"
    assert set(cache.stats()["errors_by_kind"]) & EXPECTED_ERRORS[kind]

    async def resumed() -> bool:
        await run_async(model, ["after the fault"])
        calls = model.calls
        await run_async(model, ["after the fault"])
        return model.calls == calls

    deadline = time.monotonic() + 15
    while not await resumed():
        assert time.monotonic() < deadline, cache.stats()
        await asyncio.sleep(0.05)
    await cache.aclose()
    cache.close()
