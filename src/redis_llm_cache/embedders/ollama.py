"""``OllamaEmbedder``: a model served by Ollama's ``POST /api/embed``, bge-m3 by default.

Built on the official ``ollama`` Python client (``pip install
"redis-llm-cache[ollama]"``). The whole ``embed`` operation -- batching,
retries with backoff, mapping Ollama's errors, isolating a bad input -- is
written once as a generator (see ``_base``); ``embed`` and ``aembed`` only
choose ``ollama.Client`` or ``ollama.AsyncClient`` and ``time.sleep`` or
``asyncio.sleep``.

What Ollama answers, and what we do (wording from ollama/ollama ``server/``):

======================================================  ================================
Ollama reply                                            ``OllamaEmbedder``
======================================================  ================================
404 ``model "x" not found, try pulling it first``       ``ModelNotFoundError``: run
                                                        ``ollama pull x``
503 ``server busy, please try again.  maximum pending   retried with exponential backoff
requests exceeded``                                     and jitter, ``max_attempts`` in all
connection refused / dropped                            retried likewise
400 ``the input length exceeds the context length``     batch halved until the text is
(``truncate=False``)                                    alone: ``EmbeddingInputError``
400 ``embedding contains NaN or Inf values`` (>= 0.14)  same, naming its index
500 ``failed to encode response: json: unsupported      same
value: NaN`` (older Ollama)
timeout (``timeout`` seconds)                           ``EmbedderError``, not retried
======================================================  ================================

Identity and dimensions: the identity is known before any call, with no I/O.
For models in :data:`KNOWN_DIMENSIONS` (bge-m3: 1024) the vector length is
known; for any other model pass ``native_dimensions=`` (the model's output
length) or ``dimensions=`` (a reduction Ollama applies); otherwise the
constructor raises ``ConfigurationError``. We chose this over probing with a
first embed call so that building an embedder never does I/O and the identity
(part of every cache key) never changes after first use. Every reply is checked
against it, so a tag that now points to another model fails loudly instead of
polluting the cache.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._extras import check_extra
from .._per_loop import PerLoopClient
from ..core.embedding.embedder import EmbedderIdentity, Matrix
from ..core.ops import Sleep
from ..errors import ConfigurationError, EmbedderError, ModelNotFoundError
from ._base import BadBatch, BatchOperation, EmbedBatch, HttpEmbedder, positive_int

if TYPE_CHECKING:
    import ollama

logger = logging.getLogger(__name__)

DEFAULT_HOST = "http://127.0.0.1:11434"

#: Output length of popular Ollama embedding models (``:latest`` tags).
KNOWN_DIMENSIONS: Mapping[str, int] = {
    "bge-m3": 1024,
    "nomic-embed-text": 768,
    "mxbai-embed-large": 1024,
    "all-minilm": 384,
    "snowflake-arctic-embed2": 1024,
}

# Statuses worth another attempt: 503 is Ollama's "server busy" (its request
# queue is full, OLLAMA_MAX_QUEUE); 429/502/504 come from proxies in front of it.
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_MODEL_NOT_FOUND = re.compile(r"model .* not found", re.IGNORECASE)
# One input spoils the whole batch (Ollama embeds a batch with an errgroup):
# NaN/Inf from the model, or an input longer than the context.
_INPUT_PROBLEM = re.compile(r"\bnan\b|context length|cannot be truncated", re.IGNORECASE)


def _identity_model(model: str) -> str:
    # "bge-m3" and "bge-m3:latest" are the same model to Ollama.
    return model[: -len(":latest")] if model.endswith(":latest") else model


class OllamaEmbedder(HttpEmbedder["ollama.Client"]):
    """Embeds texts with a model served by Ollama; raises ``EmbeddingInputError``
    (a ``ValueError``) naming an input Ollama cannot embed, ``ModelNotFoundError``
    if the model is not pulled, ``EmbedderError`` if Ollama stays busy,
    unreachable or slow after the retries.

    bge-m3 is symmetric, so ``role`` does not change the request (caches still
    keep queries and documents apart). Picklable: a copy keeps the settings
    (and the resolved ``host``) and opens its own HTTP clients.

    Args:
        model: Ollama model name (``"bge-m3"``).
        host: Ollama's address; default ``$OLLAMA_HOST``, else
            ``http://127.0.0.1:11434``.
        native_dimensions: Length of the model's vectors; needed only for
            models not in :data:`KNOWN_DIMENSIONS` (and no ``dimensions``).
        dimensions: Ask Ollama to shorten vectors to this length (it keeps the
            first ``dimensions`` values and re-normalizes). Part of the identity.
        num_ctx: Context length to run the model with (Ollama caps it at the
            model's trained context). Longer inputs are truncated, or refused
            if ``truncate=False``. Part of the identity.
        truncate: Let Ollama truncate inputs longer than ``num_ctx``.
        keep_alive: How long Ollama keeps the model loaded after a request.
        timeout: Seconds for one HTTP request (finite; a cold model load on a
            slow disk can take tens of seconds).
        max_batch_size, max_batch_chars: Caps per request, by count and by
            total characters (a text longer than the cap is sent alone).
        max_attempts: Attempts per request for busy (503) or unreachable
            servers, including the first.
        retry_base_delay, retry_max_delay: Backoff: attempt ``n`` waits a
            random time in ``[0, min(max, base * 2**(n-1))]`` ("full jitter").
        headers: Extra HTTP headers (e.g. for an authenticating proxy).

    Example:
        >>> from redis_llm_cache.embedders import OllamaEmbedder
        >>> embedder = OllamaEmbedder()  # bge-m3 on $OLLAMA_HOST or 127.0.0.1:11434
        >>> embedder.identity.dimensions
        1024
        >>> vectors = embedder.embed(["what is a vector set?"])  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str = "bge-m3",
        *,
        host: str | None = None,
        native_dimensions: int | None = None,
        dimensions: int | None = None,
        num_ctx: int | None = 8192,
        truncate: bool = True,
        keep_alive: str | float | None = "5m",
        timeout: float = 60.0,
        max_batch_size: int = 64,
        max_batch_chars: int = 64_000,
        max_attempts: int = 4,
        retry_base_delay: float = 0.25,
        retry_max_delay: float = 8.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        # The client library is used at the first embed; a missing one is a
        # setting to fix now, not a failure of every later call.
        check_extra("ollama", "ollama", feature="OllamaEmbedder")
        self.check_common(model, native_dimensions, dimensions)
        if num_ctx is not None:
            positive_int("num_ctx", num_ctx)
        known = native_dimensions or KNOWN_DIMENSIONS.get(_identity_model(model).lower())
        if dimensions is None and known is None:
            raise ConfigurationError(
                f"unknown vector length for Ollama model {model!r}: pass native_dimensions= "
                "(its output length) or dimensions="
            )
        if dimensions is not None and known is not None and dimensions > known:
            raise ConfigurationError(
                f"dimensions={dimensions} exceeds {model!r}'s {known}; Ollama can only shorten"
            )
        if not (isinstance(timeout, int | float) and 0 < timeout < float("inf")):
            raise ConfigurationError(f"timeout must be a finite number > 0, got {timeout!r}")
        if not (0 <= retry_base_delay <= retry_max_delay):
            raise ConfigurationError("need 0 <= retry_base_delay <= retry_max_delay")
        self._model = model
        self._host = host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST
        self._dimensions: int = dimensions or known  # type: ignore[assignment]
        self._reduce_to = dimensions
        self._num_ctx = num_ctx
        self._truncate = bool(truncate)
        self._keep_alive = keep_alive
        self._timeout = float(timeout)
        self._max_batch_size = positive_int("max_batch_size", max_batch_size)
        self._max_batch_chars = positive_int("max_batch_chars", max_batch_chars)
        self._max_attempts = positive_int("max_attempts", max_attempts)
        self._retry_base_delay = float(retry_base_delay)
        self._retry_max_delay = float(retry_max_delay)
        self._headers = dict(headers or {})
        options: dict[str, object] = {"num_ctx": num_ctx}
        if dimensions is not None:
            options["dimensions"] = dimensions
        self._identity = EmbedderIdentity(
            provider="ollama",
            model=_identity_model(model),
            dimensions=self._dimensions,
            options=options,
        )
        self._random = random.Random()
        self._lock = threading.Lock()
        self._client = None
        self._async_client = self._new_async_client()

    # ------------------------------------------------------------ public API
    @property
    def identity(self) -> EmbedderIdentity:
        """``ollama`` / model (without ``:latest``) / vector length, with
        ``num_ctx`` and any ``dimensions`` reduction as options."""
        return self._identity

    @property
    def host(self) -> str:
        """The Ollama address requests go to."""
        return self._host

    def _close_client(self, client: ollama.Client) -> None:
        # ollama < 0.6.2 clients have no close(); they keep their httpx client as _client.
        close = getattr(client, "close", None) or client._client.close
        close()

    # -- pickling: settings travel, clients and the lock are rebuilt --------------------
    # (LlamaIndex's IngestionPipeline(num_workers=...) pickles the embed model into
    # worker processes; an HTTP client's connections cannot cross a process.)
    _RUNTIME = ("_random", "_lock", "_client", "_async_client")

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in self._RUNTIME}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._random = random.Random()
        self._lock = threading.Lock()
        self._client = None
        self._async_client = self._new_async_client()

    def __enter__(self) -> OllamaEmbedder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"OllamaEmbedder(model={self._model!r}, host={self._host!r}, "
            f"dimensions={self._dimensions})"
        )

    # ------------------------------------------------------------ the operation (once)
    def _operation(self, texts: Sequence[str]) -> BatchOperation[Matrix]:
        import ollama

        def request(batch: Sequence[str]) -> BatchOperation[Sequence[Any]]:
            return self._request(batch, ollama.ResponseError)

        return self._embed_all(texts, request, f"Ollama model {self._model!r}")

    def _request(
        self, texts: Sequence[str], response_error: type[Exception]
    ) -> BatchOperation[Sequence[Any]]:
        """One batch, with retries; returns its rows or raises ``BadBatch``
        (an input spoiled the batch) or an ``EmbedderError``."""
        import httpx

        for attempt in range(1, self._max_attempts + 1):
            last = attempt == self._max_attempts
            try:
                response = yield EmbedBatch(texts)
            except response_error as exc:
                status = int(getattr(exc, "status_code", -1))
                message = str(getattr(exc, "error", exc))
                if status == 404 and _MODEL_NOT_FOUND.search(message):
                    raise ModelNotFoundError(
                        f"Ollama at {self._host} does not have model {self._model!r}: "
                        f"run `ollama pull {self._model}` ({message})",
                        status_code=status,
                    ) from exc
                if status in (400, 500) and _INPUT_PROBLEM.search(message):
                    raise BadBatch(message) from exc
                if status in _RETRY_STATUSES and not last:
                    yield Sleep(self._backoff(attempt, f"HTTP {status}"))
                    continue
                raise EmbedderError(
                    f"Ollama at {self._host} failed with HTTP {status}: {message}",
                    status_code=status,
                ) from exc
            except (httpx.TimeoutException, TimeoutError) as exc:
                # Not retried: the server may still be working on it, and
                # retrying would multiply the caller's worst-case wait.
                raise EmbedderError(
                    f"Ollama at {self._host} did not answer within {self._timeout:g} s "
                    f"({type(exc).__name__}); raise timeout= for cold model loads"
                ) from exc
            except (ConnectionError, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if not last:
                    yield Sleep(self._backoff(attempt, type(exc).__name__))
                    continue
                raise EmbedderError(
                    f"could not reach Ollama at {self._host} after {attempt} attempts "
                    f"({type(exc).__name__}: {exc}); is `ollama serve` running?"
                ) from exc
            rows: Sequence[Any] = response.embeddings
            logger.debug("Ollama embedded %d texts on attempt %d", len(texts), attempt)
            return rows
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _backoff(self, attempt: int, reason: str) -> float:
        ceiling = min(self._retry_max_delay, self._retry_base_delay * 2 ** (attempt - 1))
        delay = self._random.uniform(0, ceiling)
        logger.info(
            "Ollama at %s: %s, retrying in %.2f s (attempt %d of %d)",
            self._host,
            reason,
            delay,
            attempt + 1,
            self._max_attempts,
        )
        return delay

    def _request_fields(self, role: str) -> dict[str, Any]:
        if role not in ("query", "document"):
            raise ValueError(f"role must be 'query' or 'document', got {role!r}")
        fields: dict[str, Any] = {"model": self._model, "truncate": self._truncate}
        if self._num_ctx is not None:
            fields["options"] = {"num_ctx": self._num_ctx}
        if self._keep_alive is not None:
            fields["keep_alive"] = self._keep_alive
        if self._reduce_to is not None:
            fields["dimensions"] = self._reduce_to
        return fields

    # ------------------------------------------------------------ clients
    def _send(self, client: Any, texts: Sequence[str], fields: dict[str, Any]) -> Any:
        return client.embed(input=list(texts), **fields)

    def _sync_client(self) -> ollama.Client:
        import ollama

        with self._lock:
            if self._client is None:
                self._client = ollama.Client(
                    host=self._host, timeout=self._timeout, headers=self._headers
                )
            return self._client

    def _new_async_client(self) -> PerLoopClient[ollama.AsyncClient]:
        async def make() -> ollama.AsyncClient:
            import ollama

            return ollama.AsyncClient(host=self._host, timeout=self._timeout, headers=self._headers)

        return PerLoopClient(make, _close_async_client)


async def _close_async_client(client: ollama.AsyncClient) -> None:
    # As in close(): older ollama clients have no close().
    close = getattr(client, "close", None) or client._client.aclose
    await close()


__all__ = ["KNOWN_DIMENSIONS", "OllamaEmbedder"]
