"""Free the stampede leases of a LangChain call whose model raised.

LangChain's cache interface has no "the call failed" step: after a failed model
call the cache simply never sees the ``update``, and callers waiting for that
prompt would wait out the lease. LangChain's callbacks do see the failure
(``on_llm_error``), so a handler -- added to every run through LangChain's
configure hook once a ``RedisLLMCache`` with stampede protection exists -- asks
each such cache to free the leases that call held (see
:meth:`~redis_llm_cache.ResponseCache.release_leases`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Awaitable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers.context import register_configure_hook

if TYPE_CHECKING:
    from .cache import RedisLLMCache

logger = logging.getLogger(__name__)

_caches: weakref.WeakSet[RedisLLMCache] = weakref.WeakSet()
_registered = threading.Lock()
#: Release tasks running (strong references: the loop keeps only weak ones).
_releases: set[asyncio.Task[None]] = set()


class LeaseReleaser(BaseCallbackHandler):
    """On a failed model call, frees the leases that call holds in every live
    :class:`RedisLLMCache` (inline: in the failing call's own thread and loop)."""

    run_inline = True
    raise_error = False
    ignore_chain = True
    ignore_agent = True
    ignore_retriever = True
    ignore_retry = True
    ignore_custom_event = True

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        for cache in list(_caches):
            if loop is not None:
                # Chosen now, in the failing call's task; freed by the task.
                task = loop.create_task(_arelease(cache.core.arelease_leases()))
                _releases.add(task)
                task.add_done_callback(_releases.discard)
                continue
            try:
                cache.release_leases()
            except Exception as exc:  # fail_open=False: the lease then expires by itself
                logger.debug("redis-llm-cache: leases not released (%s)", type(exc).__name__)


async def _arelease(release: Awaitable[None]) -> None:
    try:
        await release
    except Exception as exc:
        logger.debug("redis-llm-cache: leases not released (%s)", type(exc).__name__)


#: Read by LangChain for every run once registered; its default puts the handler
#: in all of them (in every thread and task, whatever their context).
_handler: ContextVar[LeaseReleaser | None] = ContextVar(
    "redis_llm_cache_lease_releaser",
    default=LeaseReleaser(),  # noqa: B039 -- one shared handler, stateless: the default reaches every thread
)
_hooked = False


def watch_failed_calls(cache: RedisLLMCache) -> None:
    """Free ``cache``'s leases when a LangChain model call fails (from now on)."""
    global _hooked
    _caches.add(cache)
    with _registered:
        if not _hooked:
            register_configure_hook(_handler, inheritable=True)
            _hooked = True
