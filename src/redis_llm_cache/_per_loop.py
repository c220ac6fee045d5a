"""``PerLoopClient``: one asyncio client per running event loop, closed with its loop.

An asyncio client (redis-py's, an ``httpx``-based HTTP client) keeps connections
that belong to the loop that opened them: Jupyter, pytest and each
``asyncio.run()`` bring a new loop, and a client used from another loop fails
("attached to a different loop"). So each loop gets its own client.

A client must also be closed *while its loop still runs*: once the loop is
closed its transports cannot be closed any more and the sockets leak (with a
``ResourceWarning`` when they are collected). Nothing in asyncio announces the
end of a loop except one thing: ``asyncio.run()`` and ``asyncio.Runner`` (and
so pytest-asyncio) call ``loop.shutdown_asyncgens()``, which closes every
suspended async generator of the loop before closing it. Each client is
therefore watched by a tiny async generator suspended in its loop; when the
loop shuts down, the generator's ``finally`` closes the client.

A loop closed *without* that shutdown (a bare ``loop.close()``) cannot run the
close any more; its client is forgotten at the next use from another loop (or
at :meth:`PerLoopClient.aclose`), as any asyncio resource of such a loop is.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

logger = logging.getLogger(__name__)

C = TypeVar("C")


@dataclass(eq=False)
class _Slot(Generic[C]):
    """A loop's client and the generator that closes it when the loop shuts down."""

    client: C
    watcher: AsyncGenerator[None, None] | None = None
    #: Set once the client is closed (or abandoned): the watcher then does nothing.
    done: bool = field(default=False)


class PerLoopClient(Generic[C]):
    """The asyncio client of the running event loop, made on first use.

    Args:
        factory: Makes a client for the running loop (may await, e.g. to discover
            a Redis Cluster); called once per loop, by one task at a time.
        close: Closes a client; awaited in the client's own loop, when the loop
            shuts down (``asyncio.run`` / ``asyncio.Runner``) or on :meth:`aclose`.
            Its errors are logged at DEBUG and ignored: closing is best effort.

    Example:
        >>> clients = PerLoopClient(make_client, lambda client: client.aclose())
        >>> client = await clients.get()
    """

    def __init__(
        self,
        factory: Callable[[], Awaitable[C]],
        close: Callable[[C], Awaitable[object]],
    ) -> None:
        self._factory = factory
        self._close = close
        self._init_runtime()

    def _init_runtime(self) -> None:
        # Keyed by the loop object itself (not a weak key): a watcher refers to its
        # loop, so a weak key would never die; an entry leaves when its loop shuts
        # down, or is swept once its loop is found closed.
        self._slots: dict[asyncio.AbstractEventLoop, _Slot[C]] = {}
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        self._mutex = threading.Lock()

    def current(self) -> C | None:
        """The running loop's client if it was made already (no await: hot path)."""
        slot = self._slots.get(asyncio.get_running_loop())
        return None if slot is None else slot.client

    async def get(self) -> C:
        """The running loop's client, made (and watched) on first use."""
        loop = asyncio.get_running_loop()
        slot = self._slots.get(loop)
        if slot is not None:
            return slot.client
        self._sweep_closed_loops()
        # Making a client may await: one task makes it, the loop's others wait.
        with self._mutex:
            lock = self._locks.setdefault(loop, asyncio.Lock())
        async with lock:
            slot = self._slots.get(loop)
            if slot is None:
                slot = _Slot(await self._factory())
                slot.watcher = self._watch(loop, slot)
                # Start the watcher: its first step registers it with the loop's
                # async-generator hooks, so the loop's shutdown closes it.
                await slot.watcher.asend(None)
                with self._mutex:
                    self._slots[loop] = slot
        return slot.client

    async def aclose(self) -> None:
        """Close the running loop's client (a later :meth:`get` makes a new one)."""
        loop = asyncio.get_running_loop()
        with self._mutex:
            slot = self._slots.pop(loop, None)
            self._locks.pop(loop, None)
        self._sweep_closed_loops()
        if slot is not None and not slot.done:
            slot.done = True
            await self._close_quietly(slot.client)
        if slot is not None and slot.watcher is not None:
            await slot.watcher.aclose()  # finishes at once: the slot is done

    def loops(self) -> int:
        """How many loops have a client now (for tests and diagnostics)."""
        return len(self._slots)

    async def _watch(
        self, loop: asyncio.AbstractEventLoop, slot: _Slot[C]
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            # Reached when the loop shuts down, or when aclose()/a sweep finishes us.
            if not slot.done:
                slot.done = True
                with self._mutex:
                    if self._slots.get(loop) is slot:
                        del self._slots[loop]
                    self._locks.pop(loop, None)
                await self._close_quietly(slot.client)

    async def _close_quietly(self, client: C) -> None:
        try:
            await self._close(client)
        except Exception as exc:  # best effort: a failed close must not fail the caller
            logger.debug("closing an asyncio client failed: %r", exc)

    def _sweep_closed_loops(self) -> None:
        """Forget the clients of loops closed without shutting down their async
        generators: their close can no longer run (see the module docstring)."""
        with self._mutex:
            closed = [loop for loop in self._slots if loop.is_closed()]
            slots = [self._slots.pop(loop) for loop in closed]
            for loop in closed:
                self._locks.pop(loop, None)
        for slot in slots:
            slot.done = True
            if slot.watcher is not None:
                _finish_without_loop(slot.watcher)
            logger.debug("an asyncio client's loop was closed before the client")

    # Clients, locks and watchers belong to this process's loops: a pickled owner
    # (a cache sent to a worker process) starts without any.
    def __getstate__(self) -> dict[str, Any]:
        return {"_factory": self._factory, "_close": self._close}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()


def _finish_without_loop(watcher: AsyncGenerator[None, None]) -> None:
    """Close a suspended watcher whose slot is done, without its (closed) loop.

    Left suspended, the generator would be finalized by its loop's hook, which
    needs a running loop. Its ``finally`` does nothing for a done slot, so the
    ``aclose()`` awaitable completes on its first step, no loop needed.
    """
    closing = watcher.aclose()
    try:
        closing.send(None)
    except StopIteration:
        return
    closing.close()  # not reached for a done slot; never leave it pending
