"""The fail-open policy, in one place, and the per-request runner built on it.

:class:`FailurePolicy` decides what happens when Redis is not used or fails:
while the circuit breaker is open a call is skipped; an exception is counted
(a Redis failure, an internal defect, or the embedder failing) and either the
caller fails open or the error the app should see is raised (``BackendError``
for Redis failures; other exceptions as they are).

Two callers apply it at different grain:

- :class:`~redis_llm_cache.cache.ResponseCache`, per operation: a failed lookup
  is a miss, a failed write is skipped.
- :class:`GuardedRedis` (the embedding cache), per request: operations must go
  on after Redis fails -- every text still has to be embedded -- so a failure is
  thrown into the operation as
  :class:`~redis_llm_cache.core.embedding_store.RedisUnavailable`, which decides
  what a missing reply means (all misses, a skipped write).
"""

from __future__ import annotations

from typing import Any

from .config import ConnectionSettings
from .core.embedding_store import RedisUnavailable
from .core.guard import FailureGuard
from .core.ops import Request
from .core.stats import CacheStats
from .errors import BackendError
from .redis.connection import RedisConnector
from .redis.errors import BACKEND_ERRORS


class EmbedderFailed(Exception):
    """The embedder raised while serving a lookup or update (the cause is chained).

    Counted as ``embedder:<kind>``; it does not trip the Redis circuit breaker."""


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
        if embedder_error is not None:
            self.guard.failure(embedder_error, during=during, internal=True, label="embedder")
        else:
            self.guard.failure(exc, during=during, internal=internal)
        if fail_open and self.fail_open:
            return
        if embedder_error is not None:
            raise embedder_error
        if internal:
            raise exc
        raise BackendError(f"{during} failed: {type(exc).__name__}: {exc}") from exc


class GuardedRedis:
    """A :class:`RedisConnector` behind a :class:`FailurePolicy`, per request.

    With ``fail_open`` a skipped or failed request raises ``RedisUnavailable``
    into the operation; otherwise the policy's error (``BackendError``), which
    operations do not catch.
    """

    def __init__(self, connector: RedisConnector, settings: ConnectionSettings, stats: CacheStats):
        self.connector = connector
        self.policy = FailurePolicy(settings, stats)

    @property
    def breaker_open(self) -> bool:
        return self.policy.guard.is_open

    def execute(self, request: Request, *, during: str, fail_open: bool = True) -> Any:
        """Reply to ``request``; raises ``RedisUnavailable`` (fail-open) or
        ``BackendError`` when Redis failed or the breaker is open (always
        ``BackendError`` with ``fail_open=False``: clear and count)."""
        if not self.policy.admit(during, fail_open=fail_open):
            raise RedisUnavailable(f"{during} skipped: circuit breaker open")
        try:
            reply = self.connector.execute(request)
        except Exception as exc:
            self.policy.failed(exc, during=during, fail_open=fail_open)
            raise RedisUnavailable(f"{during} failed: {type(exc).__name__}") from exc
        self.policy.succeeded()
        return reply

    async def aexecute(self, request: Request, *, during: str, fail_open: bool = True) -> Any:
        """Async :meth:`execute` on ``redis.asyncio``."""
        if not self.policy.admit(during, fail_open=fail_open):
            raise RedisUnavailable(f"{during} skipped: circuit breaker open")
        try:
            reply = await self.connector.aexecute(request)
        except Exception as exc:
            self.policy.failed(exc, during=during, fail_open=fail_open)
            raise RedisUnavailable(f"{during} failed: {type(exc).__name__}") from exc
        self.policy.succeeded()
        return reply
