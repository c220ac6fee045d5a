"""Stampede protection: many concurrent identical misses cost one LLM call.

After a full miss (no exact, no semantic hit), the caller tries to take a short
lease on the entry with ``SET <lease> held NX PX <heartbeat>`` (and checks the
entry in the same round trip):

* the **winner** gets the miss; the application calls the LLM and the following
  ``update`` stores the value and deletes the lease (or, if the value cannot be
  stored, marks the lease ``skip`` so waiters stop waiting at once);
* every **waiter** polls the entry with backoff (5 ms doubling to 100 ms) for at
  most ``stampede_wait`` seconds and returns the winner's value when it appears.
  In the same round trip it tries to take the lease itself, so if the winner never
  stores anything (its LLM call failed, it died) the lease is freed or lapses and
  one waiter proceeds: there is no deadlock, only a bounded wait. A waiter that
  times out gets a miss.

The lease lives in Redis for a short heartbeat (:data:`HEARTBEAT_S`, at most
``stampede_lease``) and its holder renews it while it computes -- a thread, or a
task on the holder's event loop, started by the cache -- up to
``stampede_lease`` in all: a holder that dies (a killed process) frees it within
one heartbeat. A holder that will not store a value frees it at once
(:meth:`Stampede.release`): its LLM raised (the LangChain adapter learns that
from LangChain's callbacks), its stream was abandoned, or its write failed.
A caller that wins the lease reads the entry in the same round trip, so one that
missed just before the previous holder stored and released does not compute
again.

Threads, asyncio tasks and other processes all coordinate through Redis (the
lease key lives beside the entry, see :meth:`.keys.KeySpace.lease_key`), so one
mechanism covers them all. The one caller that never waits is the lease's own
holder (same thread or task) asking again without having stored a value: its
LLM call failed and it is retrying, so it takes the lease afresh instead of
waiting for itself. A Redis failure ends the operation like any other
(fail-open: the caller gets a miss at once, nobody waits on a dead server).
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from typing import Generic, NamedTuple, TypeVar

from ..config import CacheSettings
from .exact import ExactTier
from .ops import Call, Command, Operation, Pipeline, Sleep
from .stats import CacheStats

T = TypeVar("T")

#: Lease values: computing now / the value will not be stored (stop waiting).
HELD = b"held"
SKIP = b"skip"

FIRST_DELAY_S = 0.005
MAX_DELAY_S = 0.1

#: Leases this process holds, remembered for the retry case; pruned beyond this.
HELD_MEMO_MAX = 4096

#: Seconds a lease lives in Redis between two renewals by its holder (at most
#: ``stampede_lease``): how long waiters wait for a holder that died.
HEARTBEAT_S = 2.0

#: Renewals per heartbeat: one missed renewal (a slow round trip) does not lose it.
RENEWALS_PER_HEARTBEAT = 3

#: Starts a renewal ticker in the caller's context (its event loop, or a thread):
#: ``(tick, interval, stopped)``; the cache runs ``tick()`` every ``interval``
#: seconds until it returns ``False`` (or fails), then calls ``stopped()``.
Renewer = Callable[[Callable[[], Operation[bool]], float, Callable[[], None]], None]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _current_task() -> asyncio.Task[object] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running event loop: a plain thread
        return None


def _caller() -> tuple[int, int]:
    """Who is asking: the thread, and the asyncio task if there is one."""
    return threading.get_ident(), id(_current_task())


class _Holding(NamedTuple):
    """One lease taken in this process: by whom, until when, in which task."""

    caller: tuple[int, int]
    until: float  # monotonic
    task: weakref.ref[asyncio.Task[object]] | None


#: The leases taken in this context (the latest few). A task LangChain creates to
#: report a failure copies the failing call's context, so it can name them.
_taken_here: ContextVar[tuple[str, ...]] = ContextVar("redis_llm_cache_leases", default=())
TAKEN_HERE_MAX = 8


def _abandoned_by(holding: _Holding, thread: int, task: asyncio.Task[object] | None) -> bool:
    """Whether a caller in ``thread`` / ``task`` whose LLM call just failed speaks
    for ``holding``: its own thread without a task, its own task, or -- LangChain
    runs each prompt of an async call in a child task and reports the failure in
    the parent -- a finished task of its thread."""
    if holding.caller[0] != thread:
        return False
    if holding.task is None:
        return task is None
    held_in = holding.task()
    return held_in is None or held_in is task or held_in.done()


class Stampede(Generic[T]):
    """Lease and wait operations for one exact tier (see module docstring)."""

    def __init__(
        self,
        settings: CacheSettings,
        exact: ExactTier[T],
        stats: CacheStats,
        renewer: Renewer | None = None,
    ) -> None:
        self._lease_ms = max(1, round(settings.stampede_lease * 1000))
        # Without a renewer the lease lives its whole term in Redis at once.
        heartbeat_ms = min(self._lease_ms, round(HEARTBEAT_S * 1000))
        self._heartbeat_ms = heartbeat_ms if renewer is not None else self._lease_ms
        self.renewal_interval = self._heartbeat_ms / 1000 / RENEWALS_PER_HEARTBEAT
        self._renewer = renewer
        self._wait_s = settings.stampede_wait
        self._exact = exact
        self._stats = stats
        self._lock = threading.Lock()
        # lease key -> its holding, for leases taken in this process.
        self._held: dict[str, _Holding] = {}
        # context (id of its event loop, or of None: threads) -> its ticker's token.
        self._tickers: dict[int, object] = {}

    def _remember(self, lease: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._held) >= HELD_MEMO_MAX:
                self._held = {k: v for k, v in self._held.items() if v.until > now}
                if len(self._held) >= HELD_MEMO_MAX:
                    self._held.clear()
            task = _current_task()
            held = _Holding(
                (threading.get_ident(), id(task)),
                now + self._lease_ms / 1000,
                weakref.ref(task) if task is not None else None,
            )
            self._held[lease] = held
        _taken_here.set((*_taken_here.get()[-TAKEN_HERE_MAX + 1 :], lease))
        if self._renewer is not None:
            self._start_ticker()

    def _start_ticker(self) -> None:
        """One renewal ticker per context (a thread, or each event loop) renews every
        lease this process holds, in one round trip per tick: a lease per thread or
        task would cost a connection each under load."""
        context = id(_running_loop())
        with self._lock:
            if context in self._tickers:
                return
            token = object()
            self._tickers[context] = token

        def stopped() -> None:
            with self._lock:
                if self._tickers.get(context) is token:
                    del self._tickers[context]

        assert self._renewer is not None
        self._renewer(lambda: self._renew_held(context, token), self.renewal_interval, stopped)

    def _renew_held(self, context: int, token: object) -> Operation[bool]:
        """Renew every lease still held (not settled, released, or past
        ``stampede_lease``); ``False`` -- the ticker stops -- when none is, decided
        under the lock that :meth:`_remember` takes, so no lease is left unrenewed."""
        now = time.monotonic()
        with self._lock:
            leases = [lease for lease, held in self._held.items() if held.until > now]
            if not leases:
                if self._tickers.get(context) is token:
                    del self._tickers[context]
                return False
        # XX: a lease freed meanwhile is not brought back.
        yield Pipeline(
            tuple(("SET", lease, HELD, "XX", "PX", self._heartbeat_ms) for lease in leases)
        )
        return True

    def forget(self) -> None:
        """Stop renewing every lease (the cache is closing; they expire by themselves)."""
        with self._lock:
            self._held.clear()

    def abandoned_by_caller(self) -> list[str]:
        """The leases this caller's failed LLM call leaves behind: taken in this
        context, or held by this thread (and task, see :func:`_abandoned_by`);
        to :meth:`release`."""
        thread, task, now = threading.get_ident(), _current_task(), time.monotonic()
        here = _taken_here.get()
        with self._lock:
            return [
                lease
                for lease, holding in self._held.items()
                if holding.until > now and (lease in here or _abandoned_by(holding, thread, task))
            ]

    def release(self, leases: list[str]) -> Operation[None]:
        """Free ``leases`` at once (their holder will not store a value: its LLM
        raised, its stream was abandoned, its write failed): one waiter takes over
        now instead of after the lease's term."""
        with self._lock:
            for lease in leases:
                self._held.pop(lease, None)
        if leases:
            yield Call(("UNLINK", *leases))

    def lease_of(self, key: str) -> str:
        return self._exact.keys.lease_key(key)

    def _held_by_caller(self, lease: str) -> bool:
        with self._lock:
            held = self._held.get(lease)
        return held is not None and held.caller == _caller() and held.until > time.monotonic()

    def _take(self, lease: str) -> tuple[object, ...]:
        return ("SET", lease, HELD, "NX", "PX", self._heartbeat_ms)

    def after_miss(self, key: str, *, tier: str) -> Operation[T | None]:
        """``None`` if this caller should compute the value (it took the lease, or
        waited in vain); else the value another caller stored meanwhile."""
        lease = self._exact.keys.lease_key(key)
        # The entry is checked in the same round trip: a caller that missed just
        # before the previous holder stored and freed the lease must not compute again.
        replies = yield Pipeline((self._take(lease), ("EXISTS", key)))
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        took, exists = replies
        if took:
            if exists:
                value = yield from self._exact.read(key, tier=tier)
                if value is not None:
                    yield Call(("UNLINK", lease))
                    return value
            self._remember(lease)
            return None
        if self._held_by_caller(lease):  # a retry after a failed LLM call: no waiting
            yield Call(("SET", lease, HELD, "PX", self._heartbeat_ms))
            self._remember(lease)
            return None
        self._stats.incr("stampede_waits")
        deadline = time.monotonic() + self._wait_s
        delay = FIRST_DELAY_S
        while True:
            yield Sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, MAX_DELAY_S)
            # The lease is tried *before* the entry is checked, in one round trip:
            # the holder stores the value before it frees the lease, so a caller
            # that gets the lease also sees a value stored just before.
            replies = yield Pipeline((self._take(lease), ("GET", lease), ("EXISTS", key)))
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            took, state, exists = replies
            if exists:
                value = yield from self._exact.read(key, tier=tier)
                if value is not None:
                    if took:
                        yield Call(("UNLINK", lease))
                    self._stats.incr("stampede_served")
                    return value
            if took:  # the holder gave up (freed, died, lease expired): this caller computes
                self._remember(lease)
                self._stats.incr("stampede_takeovers")
                return None
            if state == SKIP:  # the holder's value will not be cached: don't wait
                return None
            if time.monotonic() >= deadline:
                self._stats.incr("stampede_timeouts")
                return None

    def settle(self, key: str, *, stored: bool) -> Operation[None]:
        """After an update of ``key``: free the lease (waiters now read the value),
        or mark it ``skip`` if the value was not stored (waiters stop waiting)."""
        yield Call(self.settle_command(key, stored=stored))

    def settle_command(self, key: str, *, stored: bool) -> Command:
        """:meth:`settle` as a command, for a caller's own pipeline (sent after the
        value's write: a waiter that finds the lease gone must find the value)."""
        lease = self._exact.keys.lease_key(key)
        with self._lock:
            self._held.pop(lease, None)
        if stored:
            return ("UNLINK", lease)
        # Marked "skip" for as long as a live holder's lease lasts between renewals.
        return ("SET", lease, SKIP, "XX", "PX", self._heartbeat_ms)
