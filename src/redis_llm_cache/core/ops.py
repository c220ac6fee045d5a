"""Cache operations written once, run by a sync or an async driver.

An operation is a generator. It *yields* a :class:`Request` (the Redis work it
needs next) and *receives* the reply; its ``return`` value is the result. The
same generator is driven by :func:`run_sync` over a ``redis.Redis`` client and
by :func:`run_async` over a ``redis.asyncio.Redis`` client, so no cache logic
exists twice (the idea of httpx's ``Auth.auth_flow``).

An exception raised while executing a request is thrown *into* the generator
at its ``yield``, so an operation handles Redis failures with ordinary
``try``/``except``; an exception it does not handle leaves the driver.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, NamedTuple, TypeVar

from .embedder import Role

T = TypeVar("T")
S = TypeVar("S")  # what an operation yields: a Redis request here, other steps elsewhere

Command = tuple[Any, ...]


# NamedTuples rather than frozen dataclasses: one is built per Redis round trip
# on the lookup hot path, and tuple construction is several times cheaper.
class Call(NamedTuple):
    """Run one Redis command; the reply is that command's reply."""

    command: Command


class Pipeline(NamedTuple):
    """Run commands in one round trip (not a transaction); the reply is a list
    with one entry per command, an ``Exception`` instance where one failed."""

    commands: tuple[Command, ...]


class Embed(NamedTuple):
    """Embed ``texts`` (as ``"query"`` or ``"document"``) with the cache's model; the
    reply is whatever the model returned (a matrix or a list of lists), which the
    operation checks. Not Redis work, but part of the same operations: the sync
    driver calls the model's ``embed``, the async driver awaits its ``aembed``."""

    texts: tuple[str, ...]
    role: Role


class Wait(NamedTuple):
    """Pause for ``seconds`` (a caller waiting for another caller's answer): the
    sync driver sleeps, the async driver awaits ``asyncio.sleep``. The reply is
    ``None``."""

    seconds: float


Request = Call | Pipeline
Operation = Generator[Request | Embed, Any, T]
#: An operation that may also pause (stampede protection waits for another caller).
WaitingOperation = Generator[Request | Embed | Wait, Any, T]
#: An operation that only talks to Redis (runs on any Redis executor).
RedisOperation = Generator[Request, Any, T]


def run_sync(op: Generator[S, Any, T], execute: Callable[[S], Any]) -> T:
    """Drive ``op`` to completion, executing each request with ``execute``.

    Generic over what ``op`` yields: the embedders drive their own steps
    (send a batch, back off) with these same two drivers."""
    try:
        request = next(op)
        while True:
            try:
                reply = execute(request)
            except Exception as exc:
                request = op.throw(exc)
            else:
                request = op.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result


async def run_async(op: Generator[S, Any, T], execute: Callable[[S], Awaitable[Any]]) -> T:
    """Async twin of :func:`run_sync`; identical except for ``await``."""
    try:
        request = next(op)
        while True:
            try:
                reply = await execute(request)
            except Exception as exc:
                request = op.throw(exc)
            else:
                request = op.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result
