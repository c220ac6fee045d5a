"""Stampede protection: 50 concurrent identical misses cause one LLM call.

A real LangChain chat model (counting its calls, answering after a short delay)
runs through ``cache=`` and ``set_llm_cache`` from 50 threads and from 50 asyncio
tasks, against a real Redis.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from langchain_core.globals import get_llm_cache, set_llm_cache
from langchain_core.outputs import Generation

from redis_llm_cache.langchain import RedisLLMCache
from support.chat_models import CountingChatModel
from support.chat_models import answers_from_threads as threads_answers

CALLERS = 50
#: Lease of the tests whose first caller fails: the others wait this long before
#: one of them takes over. Several times the model's delay, so the successor's own
#: call (with 50 threads on a loaded CI machine) ends well inside its lease and no
#: third caller takes over from it.
FAILURE_LEASE_S = 2.0
QUESTION = "What is the boiling point of water at sea level?"

# One server kind is enough: the lease uses plain string commands.
pytestmark = pytest.mark.redis_kinds("plain")


def slow_model(**kwargs: Any) -> CountingChatModel:
    """Answers ``answer <n>`` after 0.3 s: long enough for 50 callers to pile up."""
    return CountingChatModel(delay=0.3, numbered=True, **kwargs)


def answers_from_threads(call: Callable[[], Any]) -> list[Any]:
    """``call()`` from ``CALLERS`` threads released together; exceptions are returned."""
    return threads_answers(call, CALLERS)


async def answers_from_tasks(call: Callable[[], Any]) -> list[Any]:
    replies = await asyncio.gather(*(call() for _ in range(CALLERS)), return_exceptions=True)
    return [r if isinstance(r, BaseException) else r.content for r in replies]


def waited(stats: dict[str, Any]) -> int:
    return int(stats["stampede_waits"])


def test_fifty_threads_cause_one_llm_call(make_cache: Callable[..., RedisLLMCache]) -> None:
    cache = make_cache()
    model = slow_model(cache=cache)
    answers = answers_from_threads(lambda: model.invoke(QUESTION))
    assert model.calls == 1
    assert answers == ["answer 1"] * CALLERS
    stats = cache.stats()
    # Every other caller either waited for the answer or came late enough to hit.
    assert stats["hits_exact"] == CALLERS - 1
    assert stats["stampede_served"] == waited(stats) >= 1
    assert stats["stampede_timeouts"] == 0 and stats["errors"] == 0


async def test_fifty_tasks_through_set_llm_cache_cause_one_llm_call(
    make_cache: Callable[..., RedisLLMCache], async_cleanup: list[RedisLLMCache]
) -> None:
    cache = make_cache()
    async_cleanup.append(cache)
    previous = get_llm_cache()
    set_llm_cache(cache)
    try:
        model = slow_model()
        answers = await answers_from_tasks(lambda: model.ainvoke(QUESTION))
    finally:
        set_llm_cache(previous)
    assert model.calls == 1
    assert answers == ["answer 1"] * CALLERS
    stats = cache.stats()
    assert stats["hits_exact"] == CALLERS - 1
    assert stats["stampede_served"] == waited(stats) >= 1
    assert stats["errors"] == 0


def test_failing_first_caller_lease_expires_and_another_proceeds(
    make_cache: Callable[..., RedisLLMCache],
) -> None:
    cache = make_cache(stampede_lease=FAILURE_LEASE_S, stampede_wait=60.0)
    model = slow_model(cache=cache, fail_first=True)
    answers = answers_from_threads(lambda: model.invoke(QUESTION))
    failures = [a for a in answers if isinstance(a, Exception)]
    assert len(failures) == 1 and "the model failed" in str(failures[0])
    assert model.calls == 2  # the failed call, then one successor: no deadlock, no herd
    assert sorted(a for a in answers if isinstance(a, str)) == ["answer 2"] * (CALLERS - 1)
    stats = cache.stats()
    assert stats["stampede_takeovers"] == 1 and stats["stampede_timeouts"] == 0


async def test_async_failing_first_caller(
    make_cache: Callable[..., RedisLLMCache], async_cleanup: list[RedisLLMCache]
) -> None:
    cache = make_cache(stampede_lease=FAILURE_LEASE_S, stampede_wait=60.0)
    async_cleanup.append(cache)
    model = slow_model(cache=cache, fail_first=True)
    answers = await answers_from_tasks(lambda: model.ainvoke(QUESTION))
    assert sum(isinstance(a, Exception) for a in answers) == 1
    assert model.calls == 2
    assert answers.count("answer 2") == CALLERS - 1
    assert cache.stats()["stampede_takeovers"] == 1


def in_thread(call: Callable[[], Any]) -> Any:
    """``call()`` from another thread (another caller than this test's thread)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result(timeout=60)


def test_waiting_is_bounded(make_cache: Callable[..., RedisLLMCache]) -> None:
    cache = make_cache(stampede_lease=60.0, stampede_wait=0.3)
    assert cache.lookup("q", "m") is None  # takes the lease, never updates
    assert in_thread(lambda: cache.lookup("q", "m")) is None  # waits, gives up: a miss
    stats = cache.stats()
    assert stats["stampede_waits"] == 1 and stats["stampede_timeouts"] == 1


def test_the_holder_asking_again_does_not_wait_for_itself(
    make_cache: Callable[..., RedisLLMCache],
) -> None:
    # A sequential app whose LLM call failed retries in the same thread: no wait.
    cache = make_cache(stampede_lease=60.0, stampede_wait=60.0)
    assert cache.lookup("q", "m") is None
    assert cache.lookup("q", "m") is None
    assert cache.stats()["stampede_waits"] == 0
    # ... and still holds the lease: another caller waits for its answer.
    waiter = ThreadPoolExecutor(1)
    pending = waiter.submit(cache.lookup, "q", "m")
    deadline = time.monotonic() + 30
    while cache.stats()["stampede_waits"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    cache.update("q", "m", [Generation(text="a")])
    assert pending.result(timeout=30) == [Generation(text="a")]
    waiter.shutdown()
    assert cache.stats()["stampede_served"] == 1


def test_a_value_that_cannot_be_stored_releases_the_waiters(
    make_cache: Callable[..., RedisLLMCache],
) -> None:
    cache = make_cache(stampede_lease=60.0, stampede_wait=60.0, max_entry_bytes=50)
    assert cache.lookup("q", "m") is None  # this caller holds the lease
    result: list[Any] = []
    waiter = threading.Thread(target=lambda: result.append(cache.lookup("q", "m")))
    waiter.start()
    deadline = time.monotonic() + 30
    while cache.stats()["stampede_waits"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    cache.update("q", "m", [Generation(text="x" * 500)])  # too large: skipped
    waiter.join(timeout=30)
    assert result == [None]
    stats = cache.stats()
    assert stats["skipped_by_reason"] == {"too_large": 1}
    assert stats["stampede_timeouts"] == 0 and stats["stampede_takeovers"] == 0


def test_clear_removes_leases(make_cache: Callable[..., RedisLLMCache]) -> None:
    cache = make_cache(stampede_lease=60.0, stampede_wait=0.2)
    assert cache.lookup("q", "m") is None
    cache.clear()
    assert in_thread(lambda: cache.lookup("q", "m")) is None  # a fresh lease: no wait
    assert cache.stats()["stampede_waits"] == 0


def test_opt_out_lets_every_caller_through(make_cache: Callable[..., RedisLLMCache]) -> None:
    cache = make_cache(stampede_protection=False)
    model = slow_model(cache=cache)
    answers = answers_from_threads(lambda: model.invoke(QUESTION))
    assert all(isinstance(a, str) for a in answers)
    assert model.calls > 1
    assert cache.stats()["stampede_waits"] == 0
