"""Work a cache does off the critical path (a judge labelling an explored
candidate), bounded in number and in time, and stopped when the cache closes.

The sync side runs detached operations on a small pool of worker threads; the
async side as tasks of the running loop. Both refuse new work while
``max_pending`` are pending (the caller counts what was dropped), so a judge
that is slow or down can never pile up threads or tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

#: Detached operations pending at most (per cache; sync and async together).
MAX_PENDING = 8
#: Worker threads of the sync side.
WORKERS = 2


class Background:
    """Bounded background work of one cache (see the module docstring)."""

    def __init__(self, *, max_pending: int = MAX_PENDING, workers: int = WORKERS) -> None:
        self._max_pending = max_pending
        self._workers = workers
        self._lock = threading.Lock()
        self._pending = 0
        self._pool: ThreadPoolExecutor | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def _admit(self) -> bool:
        with self._lock:
            if self._pending >= self._max_pending:
                return False
            self._pending += 1
            return True

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1

    def submit(self, work: Callable[[], Any]) -> bool:
        """Run ``work`` on a worker thread; ``False`` (not run) when full."""
        if not self._admit():
            return False
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="rlc-background")
            pool = self._pool

        try:
            future = pool.submit(work)
        except RuntimeError:  # shut down meanwhile
            self._done()
            return False
        # Also called for work a close() cancels before it ran.
        future.add_done_callback(lambda _: self._done())
        return True

    def spawn(self, make: Callable[[], Coroutine[Any, Any, Any]]) -> bool:
        """Run the coroutine ``make()`` builds as a task of the running loop;
        ``False`` (never built) when full."""
        if not self._admit():
            return False
        task = asyncio.get_running_loop().create_task(make())
        with self._lock:
            self._tasks.add(task)

        def finished(done: asyncio.Task[Any]) -> None:
            with self._lock:
                self._tasks.discard(done)
            self._done()

        task.add_done_callback(finished)
        return True

    def close(self) -> None:
        """Stop the worker threads: queued sync work is dropped, running work
        finishes (each judge is bounded in time) without blocking the caller. A
        cache used again after ``close()`` starts new workers, as it opens a new
        Redis client."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def aclose(self) -> None:
        """:meth:`close`, and cancel (and await) the tasks of the running loop."""
        self.close()
        loop = asyncio.get_running_loop()
        with self._lock:
            mine = [task for task in self._tasks if task.get_loop() is loop]
        for task in mine:
            task.cancel()
        if mine:
            await asyncio.gather(*mine, return_exceptions=True)


#: Calls past their timeout that may still be running, at most (process-wide):
#: beyond it a new call is refused at once rather than adding a thread.
MAX_OVERDUE = 16
_overdue = threading.BoundedSemaphore(MAX_OVERDUE)


def _start_bounded(function: Callable[..., Any], args: tuple[Any, ...]) -> Future[Any]:
    """``function(*args)`` started in a daemon thread of its own, its outcome in the
    returned future. The thread holds one of :data:`MAX_OVERDUE` slots until the
    call returns (Python cannot stop a thread); with none free, ``TimeoutError``
    at once."""
    if not _overdue.acquire(blocking=False):
        raise TimeoutError(f"{MAX_OVERDUE} earlier calls are still running past their timeout")
    future: Future[Any] = Future()

    def run() -> None:
        # A caller that gave up cancels the future: nobody reads the outcome then.
        with contextlib.suppress(InvalidStateError):
            try:
                value = function(*args)
            except BaseException as exc:  # handed to the caller as it is
                future.set_exception(exc)
            else:
                future.set_result(value)
            finally:
                _overdue.release()

    threading.Thread(target=run, name="rlc-judge", daemon=True).start()
    return future


def call_with_timeout(function: Callable[..., Any], *args: Any, timeout: float) -> Any:
    """``function(*args)``, or ``TimeoutError`` after ``timeout`` seconds (the call
    then goes on in its daemon thread, see :func:`_start_bounded`)."""
    try:
        return _start_bounded(function, args).result(timeout)
    except FutureTimeout:
        raise TimeoutError(f"no answer within {timeout:g} s") from None


async def acall_with_timeout(function: Callable[..., Any], *args: Any, timeout: float) -> Any:
    """:func:`call_with_timeout` awaited: the blocking call runs in its own bounded
    thread, not in the loop's default executor, so calls a hung judge abandons
    cannot starve the app's own ``to_thread`` work."""
    try:
        return await asyncio.wait_for(asyncio.wrap_future(_start_bounded(function, args)), timeout)
    except TimeoutError:
        raise TimeoutError(f"no answer within {timeout:g} s") from None
