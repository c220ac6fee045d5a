"""Redis clients for one cache: a sync client and one asyncio client per event loop.

Clients are created lazily at first use: building a cache object does no I/O.
Clients we create get finite socket timeouts and no automatic retries, so a
stopped or paused Redis costs a bounded time per call; the circuit breaker in
the core stops even that while Redis stays down.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from typing import Any

import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..config import CacheSettings
from ..core.ops import Call, Pipeline, Request

DEFAULT_URL = "redis://localhost:6379/0"


def resolve_url(url: str | None) -> str:
    """The URL to use: the argument, else ``$REDIS_URL``, else local default."""
    return url or os.environ.get("REDIS_URL") or DEFAULT_URL


class RedisConnector:
    """Owns the clients and executes :mod:`redis_llm_cache.core.ops` requests.

    Pass ``client`` / ``async_client`` to reuse clients you configured yourself
    (then their timeouts and retries are yours); otherwise clients are built
    from ``url`` with the timeouts in ``settings``.
    """

    def __init__(
        self,
        *,
        url: str | None,
        settings: CacheSettings,
        client: redis.Redis | None = None,
        async_client: redis.asyncio.Redis | None = None,
    ) -> None:
        self.url = resolve_url(url) if client is None or async_client is None else url
        self._settings = settings
        self._client = client
        self._own_client = client is None
        self._async_client = async_client
        self._async_clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, redis.asyncio.Redis
        ] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def _client_options(self) -> dict[str, Any]:
        return {
            "socket_timeout": self._settings.timeout,
            "socket_connect_timeout": self._settings.connect_timeout,
            "retry": Retry(NoBackoff(), 0),
            "retry_on_error": [],
            "decode_responses": False,
        }

    # -- clients -------------------------------------------------------------------

    @property
    def sync_client(self) -> redis.Redis:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    assert self.url is not None
                    self._client = redis.Redis.from_url(self.url, **self._client_options())
        return self._client

    def async_client(self) -> redis.asyncio.Redis:
        """The asyncio client for the running loop.

        redis.asyncio connections belong to the loop that opened them; Jupyter,
        pytest and ``asyncio.run`` in a loop all create new loops, so we keep one
        client per loop instead of failing with "attached to a different loop".
        """
        if self._async_client is not None:
            return self._async_client
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            assert self.url is not None
            client = redis.asyncio.Redis.from_url(self.url, **self._client_options())
            self._async_clients[loop] = client
        return client

    # -- executing requests ------------------------------------------------------------

    def execute(self, request: Request) -> Any:
        client = self.sync_client
        if isinstance(request, Call):
            return client.execute_command(*request.command)  # type: ignore[no-untyped-call]
        pipe = client.pipeline(transaction=False)
        for command in request.commands:
            pipe.execute_command(*command)  # type: ignore[no-untyped-call]
        return pipe.execute(raise_on_error=False)

    async def aexecute(self, request: Request) -> Any:
        client = self.async_client()
        if isinstance(request, Call):
            return await client.execute_command(*request.command)  # type: ignore[no-untyped-call]
        assert isinstance(request, Pipeline)
        pipe = client.pipeline(transaction=False)
        for command in request.commands:
            pipe.execute_command(*command)
        return await pipe.execute(raise_on_error=False)

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync client if we created it (async clients: :meth:`aclose`)."""
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the asyncio client of the running loop if we created it."""
        loop = asyncio.get_running_loop()
        client = self._async_clients.pop(loop, None)
        if client is not None:
            await client.aclose()

    def __getstate__(self) -> dict[str, Any]:
        # Clients hold sockets and locks: a pickled cache rebuilds its own.
        if not self._own_client or self._async_client is not None:
            raise TypeError(
                "a cache built with a caller-supplied Redis client cannot be pickled; "
                "build it with redis_url=... instead"
            )
        state = self.__dict__.copy()
        state["_client"] = None
        state["_async_clients"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._async_clients = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
