"""Background work: bounded in number, in time, and stopped with the cache."""

from __future__ import annotations

import asyncio
import threading

import pytest

from redis_llm_cache.background import Background, acall_with_timeout, call_with_timeout


def test_pending_work_is_bounded_and_a_close_drops_what_is_queued() -> None:
    release = threading.Event()
    ran: list[int] = []
    background = Background(max_pending=3, workers=1)
    accepted = [background.submit(lambda n=n: (release.wait(30), ran.append(n))) for n in range(5)]
    assert accepted == [True, True, True, False, False]
    background.close()  # the running one finishes; the queued two are dropped
    release.set()
    while background.pending:
        threading.Event().wait(0.001)
    assert ran == [0]
    # Used again after close: new workers.
    done = threading.Event()
    assert background.submit(done.set) is True
    assert done.wait(30)


def test_a_late_call_raises_timeout_and_an_error_is_handed_back() -> None:
    release = threading.Event()
    with pytest.raises(TimeoutError):
        call_with_timeout(release.wait, 30, timeout=0.01)
    release.set()

    def broken() -> None:
        raise ValueError("judge down")

    with pytest.raises(ValueError, match="judge down"):
        call_with_timeout(broken, timeout=30)
    assert call_with_timeout(lambda a, b: a + b, 2, 3, timeout=30) == 5


def test_an_awaited_late_call_raises_timeout_and_runs_off_the_default_executor() -> None:
    # A blocking judge awaited with a bound runs in a thread of its own: abandoned
    # calls of a hung judge must not hold the loop's default executor.
    release = threading.Event()
    threads: list[str] = []

    def hanging() -> None:
        threads.append(threading.current_thread().name)
        release.wait(30)

    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            await acall_with_timeout(hanging, timeout=0.01)
        assert await acall_with_timeout(lambda a, b: a + b, 2, 3, timeout=30) == 5

        def broken() -> None:
            raise ValueError("judge down")

        with pytest.raises(ValueError, match="judge down"):
            await acall_with_timeout(broken, timeout=30)

    try:
        asyncio.run(scenario())
    finally:
        release.set()
    assert threads == ["rlc-judge"]


def test_async_tasks_are_bounded_and_cancelled_by_aclose() -> None:
    async def scenario() -> None:
        background = Background(max_pending=2)
        started = asyncio.Event()

        async def forever() -> None:
            started.set()
            await asyncio.Event().wait()

        assert background.spawn(forever) and background.spawn(forever)
        assert background.spawn(forever) is False  # never built: no un-awaited coroutine
        await started.wait()
        await background.aclose()
        assert background.pending == 0

    asyncio.run(scenario())
