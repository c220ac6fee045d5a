"""What every embedder here shares: errors, input checks, batching, and the
sync/async drivers that run one embedding operation written once.

A batch operation is a generator (the idea of httpx's ``Auth.auth_flow`` and of
``core/ops.py``): it *yields* a step -- :class:`EmbedBatch` (send these texts to
the model) or the caches' own :class:`~redis_llm_cache.core.ops.Sleep` (back off
before retrying) -- and *receives* the model's raw reply. An exception raised
while executing a step is thrown into the generator at its ``yield``, so retries
and error mapping are ordinary ``try``/``except`` code that exists once. The
drivers are the core's (``core.drivers.run_sync`` / ``run_async``): the only code
that differs between ``embed`` and ``aembed``.

The shared batch logic, :func:`embed_isolating`, embeds a batch and, when the
model rejects the batch because of one input (NaN from the model, input longer
than the context), splits it in halves until the bad text is alone, then raises
:class:`EmbeddingInputError` naming its index in the caller's list.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

import numpy as np

from .._per_loop import PerLoopClient
from ..core.drivers import run_async, run_sync
from ..core.embedding.embedder import Matrix, Role, VectorsError, check_vectors
from ..core.embedding.embedder import check_texts as check_texts
from ..core.ops import Sleep
from ..errors import ConfigurationError, EmbedderError, EmbeddingInputError

logger = logging.getLogger(__name__)

T = TypeVar("T")
C = TypeVar("C")  # an HTTP embedder's sync client


# ---------------------------------------------------------------- errors
class BadBatch(Exception):
    """Raised inside an operation: the model refused this batch because of (at
    least) one of its inputs; :func:`embed_isolating` splits it to find which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------- steps and drivers
class EmbedBatch(NamedTuple):
    """Send ``texts`` to the model in one request; the reply is the provider's
    raw response object."""

    texts: Sequence[str]


#: What an embedder's batch operation yields (not a cache step: the embedder
#: executes it with its own HTTP client).
BatchStep = EmbedBatch | Sleep
BatchOperation = Generator[BatchStep, Any, T]


# ---------------------------------------------------------------- inputs and batches
def batches(texts: Sequence[str], *, max_count: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """Split ``texts`` into ``[start, stop)`` ranges of at most ``max_count``
    texts and ``max_chars`` characters; a text longer than ``max_chars`` goes
    alone in its batch (the model decides whether it fits)."""
    start = 0
    while start < len(texts):
        stop, chars = start, 0
        while stop < len(texts) and stop - start < max_count:
            chars += len(texts[stop])
            if stop > start and chars > max_chars:
                break
            stop += 1
        yield start, stop
        start = stop


def check_rows(rows: Sequence[Any], *, dimensions: int, offset: int, who: str) -> Matrix:
    """Turn a batch reply into a normalized matrix (:func:`~..core.embedder.check_vectors`),
    or raise naming the problem.

    A reply that is wrong as a whole -- every row of another length than
    ``dimensions`` (another model behind the name, ``dimensions`` not supported)
    -- is a model-level problem: :class:`EmbedderError`. A single bad row
    (NaN/Inf, zero, ragged length) is that input's problem:
    :class:`EmbeddingInputError` with its index (``offset`` + row).
    """
    try:
        return check_vectors(rows, count=len(rows), dimensions=dimensions)
    except VectorsError as exc:
        if exc.row is None:
            raise EmbedderError(
                f"{who} returned {exc}; is another model served under this name, "
                "or is `dimensions` unsupported?"
            ) from exc
        index = offset + exc.row
        raise EmbeddingInputError(f"{who} returned {exc} (input {index})", index=index) from exc


def embed_isolating(
    texts: Sequence[str],
    offset: int,
    request: Callable[[Sequence[str]], BatchOperation[Sequence[Any]]],
    *,
    dimensions: int,
    who: str,
) -> BatchOperation[Matrix]:
    """Embed one batch; if the model refuses it because of an input, halve it
    recursively until the culprit is alone and raise
    :class:`EmbeddingInputError` with its index (``offset`` + position).

    ``request`` is an operation that returns the batch's rows or raises
    :class:`BadBatch`. Cost of finding one bad text in a batch of ``n``: about
    ``2 * log2(n)`` extra requests; only the failing half is split further.
    """
    try:
        rows = yield from request(texts)
    except BadBatch as exc:
        if len(texts) == 1:
            raise EmbeddingInputError(
                f"{who} cannot embed input {offset}: {exc.reason}", index=offset
            ) from exc
        logger.debug("%s refused a batch of %d (%s); splitting it", who, len(texts), exc.reason)
        middle = len(texts) // 2
        left = yield from embed_isolating(
            texts[:middle], offset, request, dimensions=dimensions, who=who
        )
        right = yield from embed_isolating(
            texts[middle:], offset + middle, request, dimensions=dimensions, who=who
        )
        return np.concatenate([left, right])
    if len(rows) != len(texts):
        raise EmbedderError(f"{who} returned {len(rows)} vectors for {len(texts)} inputs")
    return check_rows(rows, dimensions=dimensions, offset=offset, who=who)


def embed_all(
    texts: Sequence[str],
    request: Callable[[Sequence[str]], BatchOperation[Sequence[Any]]],
    *,
    dimensions: int,
    max_count: int,
    max_chars: int,
    who: str,
) -> BatchOperation[Matrix]:
    """The whole ``embed`` operation: check inputs, batch, isolate bad inputs,
    stack the results into one ``(len(texts), dimensions)`` matrix."""
    items = check_texts(texts)
    parts: list[Matrix] = [np.empty((0, dimensions), dtype=np.float32)]
    for start, stop in batches(items, max_count=max_count, max_chars=max_chars):
        part = yield from embed_isolating(
            items[start:stop], start, request, dimensions=dimensions, who=who
        )
        parts.append(part)
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def positive_int(name: str, value: object) -> int:
    """Validate a positive int setting (bools refused), for constructors."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a positive int, got {value!r}")
    return value


# ---------------------------------------------------------------- HTTP embedders
class HttpEmbedder(Generic[C]):
    """What the HTTP embedders (Ollama, OpenAI) share: the checks of their common
    settings, ``embed`` / ``aembed`` driving the embedder's one operation over its
    clients -- a sync client ``C`` made at first use under ``_lock``, and one async
    client per event loop -- and closing them.

    An embedder supplies :meth:`_operation` (the batches of one call, with its retries
    and error mapping), :meth:`_request_fields` (what a request sends besides the
    texts), :meth:`_send` (one request on either client) and :meth:`_sync_client`.
    """

    _model: str
    _dimensions: int
    _max_batch_size: int
    _max_batch_chars: int
    _lock: threading.Lock
    _client: C | None
    _async_client: PerLoopClient[Any]

    @staticmethod
    def check_common(model: object, native_dimensions: object, dimensions: object) -> None:
        """``ConfigurationError`` unless ``model`` is a non-empty string and the
        vector lengths given are positive ints."""
        if not isinstance(model, str) or not model:
            raise ConfigurationError("model must be a non-empty string")
        if native_dimensions is not None:
            positive_int("native_dimensions", native_dimensions)
        if dimensions is not None:
            positive_int("dimensions", dimensions)

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        """Embed ``texts`` (errors: see the class docstring)."""
        fields = self._request_fields(role)
        check_texts(texts)
        client = self._sync_client()

        def execute(step: BatchStep) -> Any:
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                return None
            return self._send(client, step.texts, fields)

        return run_sync(self._operation(texts), execute)

    # aembed must stay beside embed: the same steps, but the replies are awaited
    # (a sync function cannot await them).
    async def aembed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        """Async :meth:`embed` on the embedder's async client (same errors)."""
        fields = self._request_fields(role)
        check_texts(texts)
        client = await self._async_client.get()

        async def execute(step: BatchStep) -> Any:
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                return None
            return await self._send(client, step.texts, fields)

        return await run_async(self._operation(texts), execute)

    def _operation(self, texts: Sequence[str]) -> BatchOperation[Matrix]:
        raise NotImplementedError

    def _request_fields(self, role: str) -> dict[str, Any]:
        """What a request sends besides the texts; ``ValueError`` for an unknown role."""
        raise NotImplementedError

    def _send(self, client: Any, texts: Sequence[str], fields: dict[str, Any]) -> Any:
        """One request on ``client``, sync or async (the async client's call returns
        what ``aembed`` awaits)."""
        raise NotImplementedError

    def _sync_client(self) -> C:
        raise NotImplementedError

    def close(self) -> None:
        """Close the sync HTTP client (a later call opens a new one)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            self._close_client(client)

    def _close_client(self, client: C) -> None:
        client.close()  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        """Close the running loop's async HTTP client (a later call opens a new
        one); the client of a loop that shut down was closed with it."""
        await self._async_client.aclose()

    def _embed_all(
        self,
        texts: Sequence[str],
        request: Callable[[Sequence[str]], BatchOperation[Sequence[Any]]],
        who: str,
    ) -> BatchOperation[Matrix]:
        """:func:`embed_all` with this embedder's vector length and batch caps."""
        return embed_all(
            texts,
            request,
            dimensions=self._dimensions,
            max_count=self._max_batch_size,
            max_chars=self._max_batch_chars,
            who=who,
        )
