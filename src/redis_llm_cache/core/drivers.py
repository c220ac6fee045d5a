"""The two drivers of operations, and a local one for steps that need no runtime.

An operation is a generator that yields steps (:mod:`.ops`) and receives their
replies. :func:`run_sync` and :func:`run_async` drive any such generator with an
``execute`` function for its steps; the runtime (``redis_llm_cache.runtime``)
gives them Redis, the embedder, sleeping and judging, the embedders give them
their HTTP batches, the cluster connector its per-node commands. They live in
the core, import nothing, and do no I/O of their own.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

from .ops import Judge, Sleep

T = TypeVar("T")
S = TypeVar("S")  # what an operation yields


def run_sync(op: Generator[S, Any, T], execute: Callable[[S], Any]) -> T:
    """Drive ``op`` to completion, executing each step with ``execute``.

    An exception ``execute`` raises is thrown into ``op`` at its ``yield``.
    Generic over what ``op`` yields: the embedders drive their own steps (send a
    batch, ``Sleep``) and the cluster connector its per-node commands with these
    same two drivers."""
    try:
        step = next(op)
        while True:
            try:
                reply = execute(step)
            except Exception as exc:
                step = op.throw(exc)
            else:
                step = op.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result


# The one sync/async pair that must stay: the loop is the same, but one awaits
# each step's reply (an async generator could not be driven by the sync driver).
async def run_async(op: Generator[S, Any, T], execute: Callable[[S], Awaitable[Any]]) -> T:
    """Async twin of :func:`run_sync`; identical except for ``await``."""
    try:
        step = next(op)
        while True:
            try:
                reply = await execute(step)
            except Exception as exc:
                step = op.throw(exc)
            else:
                step = op.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result


def run_local(op: Generator[Sleep | Judge, Any, T]) -> T:
    """Run an operation that needs neither Redis nor an embedder (a verifier's
    judge, a pause) with blocking calls -- for direct, sync callers."""

    def execute(step: Sleep | Judge) -> Any:
        if isinstance(step, Sleep):
            time.sleep(step.seconds)
            return None
        return step.judge(step.query, step.candidate)

    return run_sync(op, execute)
