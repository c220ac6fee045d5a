"""``ResponseCache``: the framework-free cache object that adapters delegate to.

It runs the tier operations (:mod:`.core.exact`) through the sync or async
driver, applies the fail-open policy and the circuit breaker, and keeps stats.
Every public ``x`` / ``ax`` pair is one call to :meth:`_run` / :meth:`_arun`.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Generic, TypeVar

import redis
import redis.asyncio

from .config import CacheSettings
from .core.codec import ValueCodec
from .core.exact import TIER as EXACT_TIER
from .core.exact import ExactTier
from .core.guard import FailureGuard
from .core.ops import Operation, run_async, run_sync
from .core.stats import CacheStats
from .errors import BackendError, CacheError
from .redis.connection import RedisConnector
from .redis.errors import BACKEND_ERRORS

T = TypeVar("T")
R = TypeVar("R")

logger = logging.getLogger(__name__)


class ResponseCache(Generic[T]):
    """Exact-match cache of values ``T`` keyed by (tenant, llm_string, prompt).

    On a miss or any failure, :meth:`lookup` returns ``None``; a failed write is
    skipped. Failures are counted in :meth:`stats` and logged at most once per
    30 s per kind. With ``settings.fail_open=False`` Redis failures raise
    ``BackendError`` (and unexpected exceptions propagate as they are).
    :meth:`clear` never fails open: a clear that did not happen raises.

    Example:
        >>> cache = ResponseCache(codec=my_codec, redis_url="redis://localhost:6379")
        >>> cache.update("prompt", "model-a", value)
        >>> cache.lookup("prompt", "model-a")
    """

    def __init__(
        self,
        *,
        codec: ValueCodec[T],
        settings: CacheSettings | None = None,
        redis_url: str | None = None,
        redis_client: redis.Redis | None = None,
        async_redis_client: redis.asyncio.Redis | None = None,
    ) -> None:
        self.settings = settings if settings is not None else CacheSettings()
        self.stats_counter = CacheStats()
        self.connector = RedisConnector(
            url=redis_url,
            settings=self.settings,
            client=redis_client,
            async_client=async_redis_client,
        )
        self.exact = ExactTier(self.settings, codec, self.stats_counter)
        self._guard = FailureGuard(self.settings, self.stats_counter)

    # -- running operations with the fail-open policy ----------------------------------------

    def _run(self, op: Operation[R], *, during: str, fallback: R, fail_open: bool = True) -> R:
        if not self._guard.allow():
            op.close()
            return self._skipped(during, fallback, fail_open)
        try:
            result = run_sync(op, self.connector.execute)
        except BACKEND_ERRORS as exc:
            return self._failed(exc, during, fallback, fail_open)
        except Exception as exc:  # a defect must not break the app either
            return self._failed(exc, during, fallback, fail_open, internal=True)
        self._guard.success()
        return result

    async def _arun(
        self, op: Operation[R], *, during: str, fallback: R, fail_open: bool = True
    ) -> R:
        if not self._guard.allow():
            op.close()
            return self._skipped(during, fallback, fail_open)
        try:
            result = await run_async(op, self.connector.aexecute)
        except BACKEND_ERRORS as exc:
            return self._failed(exc, during, fallback, fail_open)
        except Exception as exc:  # a defect must not break the app either
            return self._failed(exc, during, fallback, fail_open, internal=True)
        self._guard.success()
        return result

    def _skipped(self, during: str, fallback: R, fail_open: bool) -> R:
        if fail_open and self.settings.fail_open:
            return fallback
        raise BackendError(f"{during} skipped: Redis is failing (circuit breaker open)")

    def _failed(
        self, exc: Exception, during: str, fallback: R, fail_open: bool, internal: bool = False
    ) -> R:
        self._guard.failure(exc, during=during, internal=internal)
        if fail_open and self.settings.fail_open:
            return fallback
        if internal:
            raise exc
        raise BackendError(f"{during} failed: {type(exc).__name__}: {exc}") from exc

    # -- public API ------------------------------------------------------------------------------

    def lookup(self, prompt: str, llm_string: str) -> T | None:
        """The stored value, or ``None`` on a miss, a corrupt entry or a failure."""
        started = time.perf_counter()
        value = self._run(self.exact.lookup(prompt, llm_string), during="lookup", fallback=None)
        self.stats_counter.record_lookup(
            time.perf_counter() - started, None if value is None else EXACT_TIER
        )
        return value

    async def alookup(self, prompt: str, llm_string: str) -> T | None:
        """Async :meth:`lookup` on ``redis.asyncio`` (no thread pool)."""
        started = time.perf_counter()
        value = await self._arun(
            self.exact.lookup(prompt, llm_string), during="lookup", fallback=None
        )
        self.stats_counter.record_lookup(
            time.perf_counter() - started, None if value is None else EXACT_TIER
        )
        return value

    def update(self, prompt: str, llm_string: str, value: T) -> bool:
        """Store ``value``; ``False`` if it was skipped (failure, too large, unsupported)."""
        return self._run(
            self.exact.update(prompt, llm_string, value), during="update", fallback=False
        )

    async def aupdate(self, prompt: str, llm_string: str, value: T) -> bool:
        """Async :meth:`update`."""
        return await self._arun(
            self.exact.update(prompt, llm_string, value), during="update", fallback=False
        )

    def clear(self, *, tenant: str | None = None, llm_string: str | None = None) -> int:
        """Remove this namespace's entries (all tenants unless ``tenant`` is given).

        Raises ``BackendError`` if Redis fails: a clear must not silently not happen.
        """
        op = self.exact.clear(tenant=tenant, llm_string=llm_string)
        return self._run(op, during="clear", fallback=0, fail_open=False)

    async def aclear(self, *, tenant: str | None = None, llm_string: str | None = None) -> int:
        """Async :meth:`clear`."""
        op = self.exact.clear(tenant=tenant, llm_string=llm_string)
        return await self._arun(op, during="clear", fallback=0, fail_open=False)

    def count(self, *, tenant: str | None = None, llm_string: str | None = None) -> int:
        """Entries stored in this namespace (full ``SCAN``; raises on failure)."""
        op = self.exact.count(tenant=tenant, llm_string=llm_string)
        return self._run(op, during="count", fallback=0, fail_open=False)

    def stats(self) -> dict[str, Any]:
        """Counters and lookup latency (ms) of this object since it was built."""
        snapshot = self.stats_counter.snapshot()
        snapshot["namespace"] = self.settings.namespace
        snapshot["tenant"] = self.settings.tenant
        snapshot["breaker_open"] = self._guard.is_open
        return snapshot

    def close(self) -> None:
        """Close the sync Redis client this object created."""
        self.connector.close()

    async def aclose(self) -> None:
        """Close the asyncio Redis client this object created for the running loop."""
        await self.connector.aclose()


__all__ = ["CacheError", "ResponseCache"]
