"""Fail-open policy: count Redis failures, log them sparingly, and stop paying
the timeout on every call while Redis is down (a circuit breaker)."""

from __future__ import annotations

import logging
import threading
import time

from ..config import ConnectionSettings
from .stats import CacheStats

logger = logging.getLogger("redis_llm_cache")

#: At most one warning per error kind in this many seconds; the rest are counted.
LOG_INTERVAL_S = 30.0


def _answered_by_server(exc: BaseException) -> bool:
    """A reply error from a reachable server (redis-py's ``ResponseError`` family;
    by class name: the core does not import the client)."""
    return any(c.__name__ == "ResponseError" for c in type(exc).__mro__)


class FailureGuard:
    """Decides whether a call may use Redis, and records how calls went.

    Breaker states: *closed* (normal); *open* after ``breaker_failures``
    consecutive failures, for ``breaker_cooldown`` seconds, during which
    :meth:`allow` answers ``False`` at no cost; then one caller is let through
    as a probe -- its success closes the breaker, its failure re-opens it.
    Caching therefore resumes by itself when Redis comes back.

    Only failures that cost time count toward opening it (connection refused or
    lost, timeouts). An error the server answers at once (out of memory, no
    permission, wrong type) is counted but does not open it: under ``noeviction``
    writes fail while hits keep being served.
    """

    def __init__(self, settings: ConnectionSettings, stats: CacheStats) -> None:
        self._threshold = settings.breaker_failures
        self._cooldown = settings.breaker_cooldown
        self._stats = stats
        self._lock = threading.Lock()
        self._consecutive_failures = 0
        self._open_until = 0.0  # monotonic time; 0 = closed
        self._last_logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def allow(self) -> bool:
        if self._open_until == 0.0:  # fast path, no lock: closed
            return True
        with self._lock:
            now = time.monotonic()
            if self._open_until and now < self._open_until:
                self._stats.incr("breaker_skips")
                return False
            if self._open_until:
                # Half-open: let this caller probe; others keep skipping until it reports.
                self._open_until = now + self._cooldown
            return True

    @property
    def is_open(self) -> bool:
        return self._open_until != 0.0

    def success(self) -> None:
        if self._consecutive_failures or self._open_until:
            with self._lock:
                self._consecutive_failures = 0
                self._open_until = 0.0

    def failure(
        self, exc: BaseException, *, during: str, internal: bool = False, label: str = "internal"
    ) -> None:
        """Count and log a failure. ``internal``: not a Redis failure (a defect, or
        the embedder failing -- ``label`` names which); it is counted as
        ``<label>:<kind>``, logged with its traceback, and does not trip the breaker."""
        kind = f"{label}:{type(exc).__name__}" if internal else type(exc).__name__
        self._stats.record_error(kind)
        with self._lock:
            if not internal and not _answered_by_server(exc):
                self._consecutive_failures += 1
                if self._consecutive_failures >= self._threshold and not self._open_until:
                    self._open_until = time.monotonic() + self._cooldown
                    self._stats.incr("breaker_opens")
            now = time.monotonic()
            last = self._last_logged.get(kind)
            if last is not None and now - last < LOG_INTERVAL_S:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return
            suppressed = self._suppressed.pop(kind, 0)
            self._last_logged[kind] = now
        # Never include prompt text: the exception comes from the Redis client.
        logger.warning(
            "redis-llm-cache: %s failed (%s: %s); serving without the cache%s",
            during,
            kind,
            exc,
            f" ({suppressed} similar errors not logged)" if suppressed else "",
            exc_info=exc if internal else None,
        )
