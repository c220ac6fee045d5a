"""Executing Redis requests under the fail-open policy, one request at a time.

:class:`~redis_llm_cache.cache.ResponseCache` applies fail-open to a whole
operation (a failed lookup is a miss). Operations that must go on after Redis
fails -- the embedding cache still has to embed every text -- instead get the
policy per request: :class:`GuardedRedis` checks the circuit breaker, executes
the request, records failures, and throws
:class:`~redis_llm_cache.core.embedding_store.RedisUnavailable` into the
operation, which decides what a missing reply means (all misses, a skipped
write). With ``fail_open=False`` it throws ``BackendError`` instead, which
operations do not catch.
"""

from __future__ import annotations

from typing import Any, NoReturn

from .config import CacheSettings
from .core.embedding_store import RedisUnavailable
from .core.guard import FailureGuard
from .core.ops import Request
from .core.stats import CacheStats
from .errors import BackendError
from .redis.connection import RedisConnector
from .redis.errors import BACKEND_ERRORS


class GuardedRedis:
    """A :class:`RedisConnector` behind a :class:`FailureGuard` (circuit breaker)."""

    def __init__(self, connector: RedisConnector, settings: CacheSettings, stats: CacheStats):
        self.connector = connector
        self._fail_open = settings.fail_open
        self._guard = FailureGuard(settings, stats)

    @property
    def breaker_open(self) -> bool:
        return self._guard.is_open

    def execute(self, request: Request, *, during: str) -> Any:
        """Reply to ``request``; raises ``RedisUnavailable`` (fail-open) or
        ``BackendError`` when Redis failed or the breaker is open."""
        if not self._guard.allow():
            self._skipped(during)
        try:
            reply = self.connector.execute(request)
        except Exception as exc:
            self._failed(exc, during)
        self._guard.success()
        return reply

    async def aexecute(self, request: Request, *, during: str) -> Any:
        """Async :meth:`execute` on ``redis.asyncio``."""
        if not self._guard.allow():
            self._skipped(during)
        try:
            reply = await self.connector.aexecute(request)
        except Exception as exc:
            self._failed(exc, during)
        self._guard.success()
        return reply

    def _skipped(self, during: str) -> NoReturn:
        if self._fail_open:
            raise RedisUnavailable(f"{during} skipped: circuit breaker open")
        raise BackendError(f"{during} skipped: Redis is failing (circuit breaker open)")

    def _failed(self, exc: Exception, during: str) -> NoReturn:
        # Anything the client raises that is not a backend error is a defect on
        # our side or in the client: counted apart, never breaks the app.
        internal = not isinstance(exc, BACKEND_ERRORS)
        self._guard.failure(exc, during=during, internal=internal)
        if self._fail_open:
            raise RedisUnavailable(f"{during} failed: {type(exc).__name__}") from exc
        if internal:
            raise exc
        raise BackendError(f"{during} failed: {type(exc).__name__}: {exc}") from exc
