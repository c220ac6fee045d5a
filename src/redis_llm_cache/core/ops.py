"""The steps cache operations are written in: one vocabulary for every operation.

An operation is a generator. It *yields* a step (the work it needs next: a
Redis command or pipeline, an embedding, a pause, a judge's answer) and
*receives* the reply; its ``return`` value is the result. The same generator is
driven by the sync or the async driver of :mod:`redis_llm_cache.runtime`, so no
cache logic exists twice (the idea of httpx's ``Auth.auth_flow``).

An exception raised while executing a step is thrown *into* the generator at
its ``yield``, so an operation handles failures with ordinary
``try``/``except``; an exception it does not handle leaves the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Generic, NamedTuple, TypeVar

from .embedding.embedder import EmbedderIdentity, Role, known_identity

T = TypeVar("T")

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


class Sleep(NamedTuple):
    """Pause for ``seconds`` (a caller waiting for another caller's answer, an
    embedder backing off before a retry): the sync driver sleeps, the async
    driver awaits ``asyncio.sleep``. The reply is ``None``."""

    seconds: float


class Judge(NamedTuple):
    """Ask ``judge`` whether ``query`` and ``candidate`` are the same question; the
    reply is its answer (``bool`` or a score in [0, 1]).

    The sync driver calls ``judge(query, candidate)``; the async driver awaits the
    judge's ``ajudge(query, candidate)`` when it has one (an LLM judge's
    ``ainvoke``), else runs the blocking call in a worker thread -- never on the
    event loop."""

    judge: Callable[[str, str], Any]
    query: str
    candidate: str
    #: Seconds the answer may take; past it a ``TimeoutError`` is thrown into the
    #: operation (the sync driver then leaves the call running in its own
    #: thread). ``None``: unbounded.
    timeout: float | None = None


class Detach(NamedTuple):
    """Run ``operation`` off the critical path: the sync driver hands it to a
    small pool of worker threads, the async driver to a task of the running
    loop (both bounded in number, closed with the cache). The reply is ``True``
    if it was accepted, ``False`` if too many were already pending (it is then
    closed, never run). ``during`` names it in counted failures."""

    operation: Generator[Any, Any, Any]
    during: str


Request = Call | Pipeline
#: Any step a cache operation may yield.
Step = Call | Pipeline | Embed | Sleep | Judge | Detach
#: A cache operation (Redis work, embeddings, pauses, judges).
Operation = Generator[Step, Any, T]
#: An operation that only talks to Redis (runs on any Redis executor).
RedisOperation = Generator[Request, Any, T]

#: The reply a :class:`Shortcut`'s operation gets when its request was not sent.
NOT_SENT: Any = object()


class Shortcut(Generic[T]):
    """An operation whose usual course is one Redis request and a plain function of
    its reply (an exact hit: one ``GET``, then decoding), so the runtime can run that
    course without a generator and its driver -- about a fifth of a hit's Python.

    Attributes:
        request: ``request(*args)``: the request, or ``None`` when this call has no
            one-request course (it runs ``op`` from the start).
        finish: ``finish(reply)``: the result, or ``None`` when the reply needs more
            steps (a miss; a corrupt entry; a failure -- the reply is then the
            exception the request raised).
        op: ``op(*args, reply)``: the whole operation, given the reply it already has
            (:data:`NOT_SENT`: none); it alone decides what any other course does.
    """

    __slots__ = ("finish", "op", "request")

    def __init__(
        self,
        request: Callable[..., Request | None],
        finish: Callable[[Any], T | None],
        op: Callable[..., Operation[T]],
    ) -> None:
        self.request = request
        self.finish = finish
        self.op = op


def embedder_identity(embedder: Any) -> Operation[EmbedderIdentity]:
    """The embedder's identity; for a model whose vector length is not known yet,
    first one ``Embed`` step -- the dimension probe -- which the sync driver runs
    with the model's ``embed`` and the async driver with its ``aembed`` (the model
    learns its length from the reply)."""
    identity = known_identity(embedder)
    if identity is None:
        yield Embed(("dimension probe",), "query")
        identity = embedder.identity
    return identity
