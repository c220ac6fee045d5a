"""Stampede protection: many concurrent identical misses cost one LLM call.

After a full miss (no exact, no semantic hit), the caller tries to take a short
lease on the entry with ``SET <lease> held NX PX <stampede_lease>``:

* the **winner** gets the miss; the application calls the LLM and the following
  ``update`` stores the value and deletes the lease (or, if the value cannot be
  stored, marks the lease ``skip`` so waiters stop waiting at once);
* every **waiter** polls the entry with backoff (5 ms doubling to 100 ms) for at
  most ``stampede_wait`` seconds and returns the winner's value when it appears.
  In the same round trip it tries to take the lease itself, so if the winner never
  stores anything (its LLM call failed) the lease expires and one waiter proceeds:
  there is no deadlock, only a bounded wait. A waiter that times out gets a miss.

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
from typing import Generic, TypeVar

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


def _caller() -> tuple[int, int]:
    """Who is asking: the thread, and the asyncio task if there is one."""
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running event loop: a plain thread
        task = None
    return threading.get_ident(), id(task)


class Stampede(Generic[T]):
    """Lease and wait operations for one exact tier (see module docstring)."""

    def __init__(self, settings: CacheSettings, exact: ExactTier[T], stats: CacheStats) -> None:
        self._lease_ms = max(1, round(settings.stampede_lease * 1000))
        self._wait_s = settings.stampede_wait
        self._exact = exact
        self._stats = stats
        self._lock = threading.Lock()
        # lease key -> (holder, monotonic expiry) for leases taken in this process.
        self._held: dict[str, tuple[tuple[int, int], float]] = {}

    def _remember(self, lease: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._held) >= HELD_MEMO_MAX:
                self._held = {k: v for k, v in self._held.items() if v[1] > now}
                if len(self._held) >= HELD_MEMO_MAX:
                    self._held.clear()
            self._held[lease] = (_caller(), now + self._lease_ms / 1000)

    def _held_by_caller(self, lease: str) -> bool:
        with self._lock:
            held = self._held.get(lease)
        return held is not None and held[0] == _caller() and held[1] > time.monotonic()

    def _take(self, lease: str) -> tuple[object, ...]:
        return ("SET", lease, HELD, "NX", "PX", self._lease_ms)

    def after_miss(self, key: str, *, tier: str) -> Operation[T | None]:
        """``None`` if this caller should compute the value (it took the lease, or
        waited in vain); else the value another caller stored meanwhile."""
        lease = self._exact.keys.lease_key(key)
        if (yield Call(self._take(lease))):
            self._remember(lease)
            return None
        if self._held_by_caller(lease):  # a retry after a failed LLM call: no waiting
            yield Call(("SET", lease, HELD, "PX", self._lease_ms))
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
            if took:  # the holder gave up (lease expired): this caller computes
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
        return ("SET", lease, SKIP, "XX", "PX", self._lease_ms)
