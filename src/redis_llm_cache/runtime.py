"""The runtime: runs operations' steps, sync or async, behind one failure policy.

Every cache operation is a generator of steps (:mod:`.core.ops`). This module
holds the only code that executes them:

- the two drivers, :func:`run_sync` / :func:`run_async` (defined in the core,
  ``core.drivers``, which imports nothing: the embedders, the cluster connector and
  a verifier's direct sync call drive their own steps with them too);
- :class:`Runtime`, which executes each step kind -- Redis calls and pipelines on
  the connector, ``Embed`` on the embedder, ``Sleep``, ``Judge``, ``Detach`` (an
  operation run in the background, :mod:`.background`) -- the sync way or the
  async way;
- :class:`FailurePolicy`, the fail-open policy and its circuit breaker: while the
  breaker is open a call is skipped; an exception is counted (a Redis failure, an
  internal defect, or the embedder failing) and either the caller fails open or
  the error the app should see is raised (``BackendError`` for Redis failures;
  other exceptions as they are).

A runtime applies the policy at one of three grains (``failures=``):

- ``"miss"`` (the response cache), per operation: a failed lookup is a miss, a
  failed write is skipped -- the operation's ``fallback`` is returned;
- ``"thrown"`` (the embedding cache), per Redis request: operations must go on
  after Redis fails -- every text still has to be embedded -- so a failure is
  thrown into the operation as
  :class:`~redis_llm_cache.core.embedding.store.RedisUnavailable`, which decides
  what a missing reply means (all misses, a skipped write);
- ``"raise"`` (the command line), no policy: errors reach the caller as they are.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Generator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from .background import Background, acall_with_timeout, call_with_timeout
from .config import CacheSettings, ConnectionSettings
from .core.drivers import run_async, run_local, run_sync
from .core.embedding.store import RedisUnavailable
from .core.guard import DependencyBreaker, FailureGuard
from .core.ops import NOT_SENT, Call, Detach, Embed, Judge, Pipeline, Request, Shortcut, Sleep
from .core.stats import CacheStats
from .errors import BackendError
from .redis.errors import BACKEND_ERRORS

if TYPE_CHECKING:
    from .redis.connection import RedisConnector

R = TypeVar("R")

#: Where the failure policy applies (see the module docstring).
Failures = Literal["miss", "thrown", "raise"]


# -- the failure policy ----------------------------------------------------------------------


class EmbedderFailed(Exception):
    """The embedder raised while serving a lookup or update (the cause is chained).

    Counted as ``embedder:<kind>``; it does not trip the Redis circuit breaker.
    ``counted``: the runtime already counted it (a missed deadline, an error, or
    the embedder's breaker being open); operations catch it to go on without
    the semantic tier."""

    def __init__(self, message: str, *, counted: bool = False) -> None:
        super().__init__(message)
        self.counted = counted


class ModelTimeout(Exception):
    """The embedder or the judge did not answer within its deadline."""


class FailurePolicy:
    """Fail open (``settings.fail_open``) or raise, behind a :class:`FailureGuard`.

    Callers pass ``fail_open=False`` for calls that must never silently not
    happen (``clear``, ``count``); those raise even when the settings fail open.
    """

    def __init__(self, settings: ConnectionSettings, stats: CacheStats) -> None:
        self.fail_open = settings.fail_open
        self.guard = FailureGuard(settings, stats)

    def admit(self, during: str, *, fail_open: bool = True) -> bool:
        """Whether the call may use Redis; ``False`` while the breaker is open
        (fail open), or raises ``BackendError`` then (not failing open)."""
        if self.guard.allow():
            return True
        if fail_open and self.fail_open:
            return False
        raise BackendError(f"{during} skipped: Redis is failing (circuit breaker open)")

    def succeeded(self) -> None:
        self.guard.success()

    def failed(self, exc: Exception, *, during: str, fail_open: bool = True) -> None:
        """Count ``exc``; returns when failing open, else raises what the app sees.

        A Redis error counts toward the breaker (unless the server answered it at
        once, see :class:`FailureGuard`) and raises ``BackendError``. Anything
        else the client raises is a defect on our side or in the client: counted
        as ``internal:<kind>`` and re-raised as it is. :class:`EmbedderFailed`
        is counted as ``embedder:<kind>`` and re-raises the embedder's error.
        """
        embedder_error = exc.__cause__ if isinstance(exc, EmbedderFailed) else None
        internal = not isinstance(exc, BACKEND_ERRORS)
        if isinstance(exc, EmbedderFailed) and exc.counted:
            pass
        elif embedder_error is not None:
            self.guard.failure(embedder_error, during=during, internal=True, label="embedder")
        else:
            self.guard.failure(exc, during=during, internal=internal)
        if fail_open and self.fail_open:
            return
        if embedder_error is not None:
            raise embedder_error
        if isinstance(exc, EmbedderFailed):
            raise exc
        if internal:
            raise exc
        raise BackendError(f"{during} failed: {type(exc).__name__}: {exc}") from exc


#: Threads per cache that run sync embedder and judge calls under a deadline.
MODEL_WORKERS = 8


class WorkerPool:
    """Daemon threads running calls whose callers wait with a timeout.

    Unlike ``concurrent.futures.ThreadPoolExecutor``, a call stuck in a hung
    server does not delay the interpreter's exit, and a call whose caller
    stopped waiting before it started is dropped instead of run late.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._started = 0
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()

    def _work(self) -> None:
        while True:
            future, call = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue  # its caller stopped waiting before it started
            try:
                future.set_result(call())
            except BaseException as exc:  # handed to the waiting caller
                future.set_exception(exc)

    def submit(self, call: Callable[[], Any]) -> Future[Any]:
        """Queue ``call``; cancel the future to drop it if it has not started."""
        with self._lock:
            if self._started < self._size:
                self._started += 1
                threading.Thread(target=self._work, name="rlc-model", daemon=True).start()
        future: Future[Any] = Future()
        self._jobs.put((future, call))
        return future

    def run(self, call: Callable[[], Any], timeout: float) -> Any:
        """``call()``'s result; :class:`ModelTimeout` if it takes over ``timeout``
        seconds, waiting for a free worker included (it goes on in the background,
        or is dropped if it has not started)."""
        future = self.submit(call)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise ModelTimeout(f"no answer within {timeout:g} s") from None


class ModelDeadlines:
    """The deadline and breaker of the embedder and the judge on the cache path.

    A lookup or update does not wait longer than ``embed_timeout`` for the
    embedder or ``judge_timeout`` for a judge; each has a breaker that skips it
    after ``model_breaker_failures`` consecutive failures. Sync calls run on a
    small pool of daemon threads and are waited for with a timeout (an
    abandoned call finishes in the background, bounded by the model's own
    timeout; while every worker is busy, a new call is not queued behind them
    but counted as missing its deadline); async calls run under
    ``asyncio.wait_for``.
    """

    def __init__(self, settings: CacheSettings, stats: CacheStats) -> None:
        self.embed_timeout = settings.embed_timeout
        self.judge_timeout = settings.judge_timeout
        failures, cooldown = settings.model_breaker_failures, settings.model_breaker_cooldown
        self.embedder = DependencyBreaker(
            "embedder", failures=failures, cooldown=cooldown, stats=stats
        )
        self.judge = DependencyBreaker("judge", failures=failures, cooldown=cooldown, stats=stats)
        self.workers = WorkerPool(MODEL_WORKERS)


# -- the runtime -----------------------------------------------------------------------------


class Runtime:
    """Executes operations over one Redis connector and (optionally) one embedder.

    Args:
        connector: Where Redis steps go.
        settings / stats: The failure policy's settings and counters.
        embedder: What ``Embed`` steps call (``embed`` sync, ``aembed`` async);
            ``None``: an ``Embed`` step is a ``TypeError`` (a Redis-only runtime).
        failures: The grain of the failure policy (see the module docstring).
        deadlines: Bound the embedder's and the judge's calls (the response
            cache: see :class:`ModelDeadlines`); ``None``: wait for them as long
            as they take (the embedding cache, whose callers need the vectors).
    """

    def __init__(
        self,
        connector: RedisConnector,
        settings: ConnectionSettings,
        stats: CacheStats,
        *,
        embedder: Any = None,
        failures: Failures = "miss",
        deadlines: ModelDeadlines | None = None,
    ) -> None:
        self.connector = connector
        self.embedder = embedder
        self.failures = failures
        self.deadlines = deadlines
        self.policy = FailurePolicy(settings, stats)
        # Per operation, the embedder's error must reach the policy as such (it is
        # counted apart and does not trip the breaker); per request it reaches the
        # caller as it is (the embedding cache has no answer without the model).
        self._mark_embedder_errors = failures == "miss"
        #: Detached operations (a judge labelling an explored candidate).
        self.background = Background()

    @property
    def breaker_open(self) -> bool:
        return self.policy.guard.is_open

    # -- running operations ------------------------------------------------------------------

    def run(
        self,
        op: Generator[Any, Any, R],
        *,
        during: str,
        fallback: R | None = None,
        fail_open: bool = True,
    ) -> R:
        """Run ``op`` to its result under the policy.

        Args:
            op: The operation.
            during: What it is, in counted failures and log lines.
            fallback: Its result when it fails open (the ``"miss"`` grain only;
                there a caller passes a value of the operation's result type).
            fail_open: ``False`` for calls that must not silently not happen
                (``clear``, ``count``): they raise even when the settings fail open.
        """
        if self.failures == "miss":
            if not self.policy.admit(during, fail_open=fail_open):
                op.close()
                return cast(R, fallback)
            try:
                result = run_sync(op, self._execute)
            except Exception as exc:  # a defect or a failing embedder must not break the app
                self.policy.failed(exc, during=during, fail_open=fail_open)
                return cast(R, fallback)
            self.policy.succeeded()
            return result
        if self.failures == "thrown":
            return run_sync(op, self._guarded_executor(during, fail_open))
        return run_sync(op, self._execute)

    # arun must stay beside run: the policy calls are the same, but the operation
    # is driven by the awaiting driver (a sync function cannot await it).
    async def arun(
        self,
        op: Generator[Any, Any, R],
        *,
        during: str,
        fallback: R | None = None,
        fail_open: bool = True,
    ) -> R:
        """Async :meth:`run`: Redis on ``redis.asyncio``, the embedder's ``aembed``,
        ``asyncio.sleep``, the judge's async call -- never blocking the loop."""
        if self.failures == "miss":
            if not self.policy.admit(during, fail_open=fail_open):
                op.close()
                return cast(R, fallback)
            try:
                result = await run_async(op, self._aexecute)
            except Exception as exc:  # a defect or a failing embedder must not break the app
                self.policy.failed(exc, during=during, fail_open=fail_open)
                return cast(R, fallback)
            self.policy.succeeded()
            return result
        if self.failures == "thrown":
            return await run_async(op, self._aguarded_executor(during, fail_open))
        return await run_async(op, self._aexecute)

    def run_shortcut(
        self, shortcut: Shortcut[R], args: tuple[Any, ...], *, during: str, fallback: R
    ) -> R:
        """:meth:`run` of ``shortcut.op(*args)`` at the ``"miss"`` grain, its usual
        course (see :class:`~.core.ops.Shortcut`) run without a generator: the same
        policy -- breaker, failures counted, fail-open -- around all of it."""
        if self.failures != "miss":
            return self.run(shortcut.op(*args, NOT_SENT), during=during, fallback=fallback)
        if not self.policy.admit(during):
            return fallback
        try:
            request = shortcut.request(*args)
            reply = NOT_SENT
            result = None
            if request is not None:
                try:
                    reply = self.connector.execute(request)
                except Exception as exc:  # the operation decides, as if raised at its yield
                    reply = exc
                result = shortcut.finish(reply)
            if result is None:
                result = run_sync(shortcut.op(*args, reply), self._execute)
        except Exception as exc:  # a defect or a failing embedder must not break the app
            self.policy.failed(exc, during=during)
            return fallback
        self.policy.succeeded()
        return result

    # The async twin of run_shortcut, as arun is of run: the same calls around an
    # awaited request and the awaiting driver (a sync function cannot await them).
    async def arun_shortcut(
        self, shortcut: Shortcut[R], args: tuple[Any, ...], *, during: str, fallback: R
    ) -> R:
        """Async :meth:`run_shortcut`."""
        if self.failures != "miss":
            return await self.arun(shortcut.op(*args, NOT_SENT), during=during, fallback=fallback)
        if not self.policy.admit(during):
            return fallback
        try:
            request = shortcut.request(*args)
            reply = NOT_SENT
            result = None
            if request is not None:
                try:
                    reply = await self.connector.aexecute(request)
                except Exception as exc:  # the operation decides, as if raised at its yield
                    reply = exc
                result = shortcut.finish(reply)
            if result is None:
                result = await run_async(shortcut.op(*args, reply), self._aexecute)
        except Exception as exc:  # a defect or a failing embedder must not break the app
            self.policy.failed(exc, during=during)
            return fallback
        self.policy.succeeded()
        return result

    def keep_renewing(
        self,
        tick: Callable[[], Generator[Any, Any, bool]],
        interval: float,
        stopped: Callable[[], None],
    ) -> None:
        """Run ``tick()`` every ``interval`` seconds until it returns ``False``: on the
        caller's event loop (a task) when there is one, else in a daemon thread; then
        call ``stopped()``. Ticks fail open like any write (counted); a failed one
        ends the ticker (what it renewed then expires by itself)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None

        if loop is not None:

            async def renew_async() -> None:
                try:
                    while True:
                        await asyncio.sleep(interval)
                        if not await self._arenewed(tick()):
                            return
                finally:
                    stopped()

            task = loop.create_task(renew_async())
            _RENEWALS.add(task)  # a task only weakly referenced by the loop could vanish
            task.add_done_callback(_RENEWALS.discard)
            return

        def renew_sync() -> None:
            try:
                while True:
                    time.sleep(interval)
                    if not self._renewed(tick()):
                        return
            finally:
                stopped()

        threading.Thread(target=renew_sync, name="rlc-lease", daemon=True).start()

    def _renewed(self, renewal: Generator[Any, Any, bool]) -> bool:
        # Never raises (not even with fail_open=False): nobody is there to catch it,
        # and a lease that is not renewed simply expires.
        try:
            return self.run(renewal, during="lease renewal", fallback=False)
        except Exception:
            return False

    async def _arenewed(self, renewal: Generator[Any, Any, bool]) -> bool:
        try:
            return await self.arun(renewal, during="lease renewal", fallback=False)
        except Exception:
            return False

    # -- executing one step (sync and async: each step kind has both, by nature) --------------

    def _execute(self, step: Any, redis: Callable[[Request], Any] | None = None) -> Any:
        kind = type(step)
        if kind is Call or kind is Pipeline:  # the hot path first
            return (redis or self.connector.execute)(step)
        if kind is Embed:
            embedder = self._embedder()
            deadlines = self.deadlines
            if deadlines is None:
                try:
                    return embedder.embed(step.texts, role=step.role)
                except Exception as exc:
                    raise self._embedder_failed(exc) from exc
            self._admit_embedder(deadlines)
            try:
                if getattr(embedder, "in_process", False):
                    vectors = embedder.embed(step.texts, role=step.role)
                else:
                    vectors = deadlines.workers.run(
                        lambda: embedder.embed(step.texts, role=step.role), deadlines.embed_timeout
                    )
            except Exception as exc:
                raise self._embedder_missed(deadlines, exc) from exc
            deadlines.embedder.success()
            return vectors
        if kind is Sleep:
            time.sleep(step.seconds)
            return None
        if kind is Judge:
            if step.timeout is not None:
                # A judge with its own bound (the error budget's): bounded and
                # counted by the budget, not by the lookup's judge breaker.
                return call_with_timeout(
                    step.judge, step.query, step.candidate, timeout=step.timeout
                )
            deadlines = self.deadlines
            if deadlines is None:
                return step.judge(step.query, step.candidate)
            self._admit_judge(deadlines)
            try:
                answer = deadlines.workers.run(
                    lambda: step.judge(step.query, step.candidate), deadlines.judge_timeout
                )
            except Exception as exc:
                raise self._judge_missed(deadlines, exc) from exc
            deadlines.judge.success()
            return answer
        if kind is Detach:
            operation, during = step.operation, step.during
            accepted = self.background.submit(lambda: self.run(operation, during=during))
            if not accepted:
                operation.close()
            return accepted
        raise TypeError(f"not a step: {step!r}")

    def _aexecute(
        self, step: Any, aredis: Callable[[Request], Awaitable[Any]] | None = None
    ) -> Awaitable[Any]:
        """What :func:`run_async` awaits for ``step``: the connector's coroutine
        itself for Redis work (no coroutine of our own around it -- one frame less
        on every round trip of every async lookup)."""
        kind = type(step)
        if kind is Call or kind is Pipeline:
            return (aredis or self.connector.aexecute)(step)
        if kind is Embed:
            return self._aembed(step)
        if kind is Sleep:
            return asyncio.sleep(step.seconds)
        if kind is Judge:
            if step.timeout is not None:
                return _ajudge_within(step, step.timeout)
            return _ajudge(step) if self.deadlines is None else self._ajudge_bounded(step)
        if kind is Detach:
            return self._adetach(step)
        raise TypeError(f"not a step: {step!r}")

    async def _adetach(self, step: Detach) -> bool:
        operation, during = step.operation, step.during
        accepted = self.background.spawn(lambda: self.arun(operation, during=during))
        if not accepted:
            operation.close()
        return accepted

    async def _aembed(self, step: Embed) -> Any:
        embedder = self._embedder()
        deadlines = self.deadlines
        if deadlines is None:
            try:
                return await embedder.aembed(step.texts, role=step.role)
            except Exception as exc:
                raise self._embedder_failed(exc) from exc
        self._admit_embedder(deadlines)
        try:
            vectors = await _within(
                embedder.aembed(step.texts, role=step.role),
                None if getattr(embedder, "in_process", False) else deadlines.embed_timeout,
            )
        except Exception as exc:
            raise self._embedder_missed(deadlines, exc) from exc
        deadlines.embedder.success()
        return vectors

    async def _ajudge_bounded(self, step: Judge) -> Any:
        deadlines = self.deadlines
        assert deadlines is not None
        self._admit_judge(deadlines)
        ajudge = getattr(step.judge, "ajudge", None)
        # A blocking judge runs on this cache's workers, not the loop's default
        # executor: abandoned calls of a hung judge must not starve the app's own
        # ``to_thread`` work (LangChain runs sync-only models there).
        call = (
            ajudge(step.query, step.candidate)
            if ajudge is not None
            else asyncio.wrap_future(
                deadlines.workers.submit(lambda: step.judge(step.query, step.candidate))
            )
        )
        try:
            answer = await _within(call, deadlines.judge_timeout)
        except Exception as exc:
            raise self._judge_missed(deadlines, exc) from exc
        deadlines.judge.success()
        return answer

    # -- the embedder's and the judge's deadline and breaker ----------------------------------

    def _admit_embedder(self, deadlines: ModelDeadlines) -> None:
        if not deadlines.embedder.allow():
            raise EmbedderFailed("skipped: the embedder's breaker is open", counted=True)

    def _embedder_missed(self, deadlines: ModelDeadlines, exc: Exception) -> Exception:
        """Count the embedder's failure (error or missed deadline) once, here; the
        operation gets an :class:`EmbedderFailed` it may catch to go on without
        the semantic tier."""
        deadlines.embedder.failure()
        self.policy.guard.failure(exc, during="embedding", internal=True, label="embedder")
        return EmbedderFailed(f"the embedder failed ({type(exc).__name__})", counted=True)

    def _admit_judge(self, deadlines: ModelDeadlines) -> None:
        if not deadlines.judge.allow():
            raise ModelTimeout("skipped: the judge's breaker is open")

    def _judge_missed(self, deadlines: ModelDeadlines, exc: Exception) -> Exception:
        """Count the judge's failure; the verifier rejects the candidate."""
        deadlines.judge.failure()
        self.policy.guard.failure(exc, during="judging", internal=True, label="judge")
        return exc

    def _embedder(self) -> Any:
        if self.embedder is None:
            raise TypeError("this operation needs an embedder; this runtime drives Redis only")
        return self.embedder

    def _embedder_failed(self, exc: Exception) -> Exception:
        if self._mark_embedder_errors:
            return EmbedderFailed(f"{type(exc).__name__}: {exc}")
        return exc

    # -- the "thrown" grain: each Redis request behind the policy -----------------------------

    def _guarded_executor(self, during: str, fail_open: bool) -> Callable[[Any], Any]:
        def redis(request: Request) -> Any:
            if not self.policy.admit(during, fail_open=fail_open):
                raise RedisUnavailable(f"{during} skipped: circuit breaker open")
            try:
                reply = self.connector.execute(request)
            except Exception as exc:
                raise self._unavailable(exc, during, fail_open) from exc
            self.policy.succeeded()
            return reply

        return lambda step: self._execute(step, redis)

    # The async twin of _guarded_executor: the same policy calls around an awaited
    # request (a coroutine cannot be shared with the sync executor).
    def _aguarded_executor(self, during: str, fail_open: bool) -> Callable[[Any], Awaitable[Any]]:
        async def aredis(request: Request) -> Any:
            if not self.policy.admit(during, fail_open=fail_open):
                raise RedisUnavailable(f"{during} skipped: circuit breaker open")
            try:
                reply = await self.connector.aexecute(request)
            except Exception as exc:
                raise self._unavailable(exc, during, fail_open) from exc
            self.policy.succeeded()
            return reply

        return lambda step: self._aexecute(step, aredis)

    def _unavailable(self, exc: Exception, during: str, fail_open: bool) -> Exception:
        """Count ``exc``; the ``RedisUnavailable`` to throw into the operation when
        failing open (the policy raises ``BackendError`` itself otherwise)."""
        self.policy.failed(exc, during=during, fail_open=fail_open)
        return RedisUnavailable(f"{during} failed: {type(exc).__name__}")


#: Lease renewal tasks running (strong references, see ``keep_renewing``).
_RENEWALS: set[asyncio.Task[None]] = set()


async def _within(call: Awaitable[Any], timeout: float | None) -> Any:
    """``await call``, or :class:`ModelTimeout` after ``timeout`` seconds (``None``:
    no deadline)."""
    if timeout is None:
        return await call
    try:
        return await asyncio.wait_for(call, timeout)
    except TimeoutError:
        raise ModelTimeout(f"no answer within {timeout:g} s") from None


async def _ajudge(step: Judge) -> Any:
    """The judge's answer without blocking the loop: its ``ajudge`` coroutine if it
    has one, else its blocking call in a worker thread."""
    ajudge = getattr(step.judge, "ajudge", None)
    if ajudge is not None:
        return await ajudge(step.query, step.candidate)
    return await asyncio.to_thread(step.judge, step.query, step.candidate)


async def _ajudge_within(step: Judge, timeout: float) -> Any:
    """The answer of a judge with its own bound (the error budget's), as the sync
    path's :func:`~.background.call_with_timeout`: a blocking judge runs in its own
    bounded thread, not the loop's default executor."""
    ajudge = getattr(step.judge, "ajudge", None)
    if ajudge is not None:
        return await asyncio.wait_for(ajudge(step.query, step.candidate), timeout)
    return await acall_with_timeout(step.judge, step.query, step.candidate, timeout=timeout)


__all__ = [
    "EmbedderFailed",
    "FailurePolicy",
    "Failures",
    "ModelDeadlines",
    "ModelTimeout",
    "Runtime",
    "run_async",
    "run_local",
    "run_sync",
]
