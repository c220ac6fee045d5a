"""Fail-open policy: count Redis failures, log them sparingly, and stop paying
the timeout on every call while Redis is down (a circuit breaker).

Logging, not ``warnings``: the first failure of each kind is a WARNING record on
the ``redis_llm_cache`` logger, which has no handler of its own, so an app that
configured no logging still sees it on stderr (``logging.lastResort``). A
``warnings.warn`` here would raise under ``python -W error`` -- inside the code
whose job is to never let a failure reach the app.
"""

from __future__ import annotations

import logging
import threading
import time

from ..config import ConnectionSettings
from .replies import answered_by_server
from .stats import CacheStats

logger = logging.getLogger("redis_llm_cache")

#: At most one warning per error kind in this many seconds; the rest are counted.
LOG_INTERVAL_S = 30.0

#: Failure labels whose exception messages may quote prompt text: above DEBUG
#: only their type is logged.
SCRUBBED_LABELS = frozenset({"embedder", "judge"})


class LogLimiter:
    """Says which events of a kind to log: the first, then at most one per
    ``interval`` seconds, each reporting how many were left out since."""

    def __init__(self, interval: float = LOG_INTERVAL_S) -> None:
        self._interval = interval
        self._lock = threading.Lock()
        self._last_logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def admit(self, kind: str) -> int | None:
        """``None``: do not log this one (it is counted as left out); otherwise
        log it, and the number of events of ``kind`` left out before it."""
        with self._lock:
            now = time.monotonic()
            last = self._last_logged.get(kind)
            if last is not None and now - last < self._interval:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return None
            self._last_logged[kind] = now
            return self._suppressed.pop(kind, 0)

    def warn_failure(self, log: logging.Logger, exc: BaseException, what: str) -> None:
        """Warn ``"redis-llm-cache: <what> (<exception type>)"`` for the first failure
        of each type, then rate-limited (the exception's message may quote a prompt:
        only its type is shown)."""
        kind = type(exc).__name__
        left_out_before = self.admit(kind)
        if left_out_before is not None:
            log.warning("redis-llm-cache: %s (%s)%s", what, kind, left_out(left_out_before))


def left_out(count: int) -> str:
    """The suffix of a rate-limited message: ``" (3 similar errors not logged)"``."""
    return f" ({count} similar errors not logged)" if count else ""


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
        self._log_limiter = LogLimiter()

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
        ``<label>:<kind>``, logged with its traceback, and does not trip the breaker.

        Every failure is counted; the first of each kind is logged at WARNING,
        then at most one per :data:`LOG_INTERVAL_S` (see :class:`LogLimiter`).
        """
        kind = f"{label}:{type(exc).__name__}" if internal else type(exc).__name__
        self._stats.record_error(kind)
        with self._lock:
            if not internal and not answered_by_server(exc):
                self._consecutive_failures += 1
                if self._consecutive_failures >= self._threshold and not self._open_until:
                    self._open_until = time.monotonic() + self._cooldown
                    self._stats.incr("breaker_opens")
        suppressed = self._log_limiter.admit(kind)
        if suppressed is None:
            return
        if label in SCRUBBED_LABELS:
            # An embedder's or a judge's message (and its traceback's locals) can
            # quote the input text: only the kind at WARNING, the details at DEBUG.
            logger.warning(
                "redis-llm-cache: %s failed (%s, message of %d chars); going on without it%s",
                during,
                kind,
                len(str(exc)),
                left_out(suppressed),
            )
            logger.debug("redis-llm-cache: %s: embedder error", during, exc_info=exc)
            return
        # The exception comes from the Redis client (or is a defect of ours): it
        # carries keys and server replies, never prompt text.
        logger.warning(
            "redis-llm-cache: %s failed (%s: %s); serving without the cache%s",
            during,
            kind,
            exc,
            left_out(suppressed),
            exc_info=exc if internal else None,
        )


class DependencyBreaker:
    """A circuit breaker for one dependency of the cache path other than Redis
    (the embedder, the judge): after ``failures`` consecutive failures (errors or
    missed deadlines) it opens for ``cooldown`` seconds, during which the cache
    skips the dependency at no cost; then one caller probes it again.

    Args:
        name: The dependency, in counters: ``<name>_skips``, ``<name>_breaker_opens``.
        failures / cooldown: When it opens, and for how long.
        stats: Where the counters go.
    """

    def __init__(self, name: str, *, failures: int, cooldown: float, stats: CacheStats) -> None:
        self._skips = f"{name}_skips"
        self._opens = f"{name}_breaker_opens"
        self._threshold = failures
        self._cooldown = cooldown
        self._stats = stats
        self._lock = threading.Lock()
        self._consecutive_failures = 0
        self._open_until = 0.0  # monotonic time; 0 = closed

    @property
    def is_open(self) -> bool:
        return self._open_until != 0.0

    def allow(self) -> bool:
        """Whether the dependency may be called now (``False``: skip it, counted)."""
        if self._open_until == 0.0:
            return True
        with self._lock:
            now = time.monotonic()
            if self._open_until and now < self._open_until:
                self._stats.incr(self._skips)
                return False
            if self._open_until:  # half-open: this caller probes, the others skip
                self._open_until = now + self._cooldown
            return True

    def success(self) -> None:
        if self._consecutive_failures or self._open_until:
            with self._lock:
                self._consecutive_failures = 0
                self._open_until = 0.0

    def failure(self) -> None:
        with self._lock:
            self._consecutive_failures += 1
            if self._consecutive_failures >= self._threshold:
                if not self._open_until:
                    self._stats.incr(self._opens)
                self._open_until = time.monotonic() + self._cooldown
