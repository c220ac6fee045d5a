"""``OllamaEmbedding``: :class:`~redis_llm_cache.embedders.OllamaEmbedder` as a
LlamaIndex ``BaseEmbedding``.

A thin adapter: batching, retries and error mapping are the embedder's; this
class holds its settings as pydantic fields (so LlamaIndex can show, serialize
and rebuild it) and builds the embedder from them. Importing it does not import
the ``ollama`` client library; the first embed does.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr

from ..embedders.ollama import OllamaEmbedder
from ..errors import ConfigurationError
from .embedding import EmbedderEmbedding


class OllamaEmbedding(EmbedderEmbedding):
    """LlamaIndex embeddings computed by Ollama's ``/api/embed`` (bge-m3 by
    default), with no caching; errors are :class:`OllamaEmbedder`'s:
    ``ModelNotFoundError`` if the model is not pulled, ``EmbedderError`` if Ollama
    stays busy, unreachable or slow after the retries, ``EmbeddingInputError`` (a
    ``ValueError``) naming an input it cannot embed.

    Queries are embedded with role ``"query"``, texts with ``"document"``; the
    async methods use ``ollama.AsyncClient``. Picklable (``IngestionPipeline``
    with ``num_workers``): a copy keeps the settings and the resolved ``host``
    and opens its own HTTP clients. Wrapped in
    :class:`~redis_llm_cache.llama_index.CachedEmbedding`, vectors are cached
    under the embedder's own identity, shared with every other adapter of it.

    Args:
        model: Ollama model name (alias of the ``model_name`` field).
        host: Ollama's address; default ``$OLLAMA_HOST``, else
            ``http://127.0.0.1:11434`` (``base_url`` is accepted as an alias, the
            name ``llama-index-embeddings-ollama`` uses). Pinned on construction.
        embed_batch_size: Texts per LlamaIndex batch, and per Ollama request.
        native_dimensions, dimensions, num_ctx, truncate, keep_alive, timeout,
            max_batch_chars, max_attempts, retry_base_delay, retry_max_delay,
            headers: As in :class:`~redis_llm_cache.embedders.OllamaEmbedder`.

    Raises:
        ConfigurationError: Invalid settings (checked here, with no I/O).

    Example:
        >>> from llama_index.core import Settings, VectorStoreIndex
        >>> from redis_llm_cache.llama_index import CachedEmbedding, OllamaEmbedding
        >>> Settings.embed_model = OllamaEmbedding(model="bge-m3")
        >>> # or, embedding each text once:
        >>> Settings.embed_model = CachedEmbedding(
        ...     OllamaEmbedding(model="bge-m3"), redis_url="redis://localhost:6379"
        ... )
        >>> index = VectorStoreIndex.from_documents(documents)
    """

    # The defaults repeat OllamaEmbedder's on purpose: LlamaIndex shows and
    # serializes these fields, so they must hold real values, not "unset".
    # tests/adapters/embedders/test_ollama_adapters.py pins them to OllamaEmbedder's.
    model_name: str = Field(default="bge-m3", description="Ollama model name.")
    host: str | None = Field(default=None, description="Ollama's address.")
    embed_batch_size: int = Field(
        default=64, gt=0, le=2048, description="Texts per batch and per Ollama request."
    )
    native_dimensions: int | None = None
    dimensions: int | None = None
    num_ctx: int | None = 8192
    truncate: bool = True
    keep_alive: str | float | None = "5m"
    timeout: float = 60.0
    max_batch_chars: int = 64_000
    max_attempts: int = 4
    retry_base_delay: float = 0.25
    retry_max_delay: float = 8.0
    # Excluded from serialization: headers may carry credentials. Pickling keeps them.
    headers: dict[str, str] | None = Field(default=None, exclude=True)

    _embedder: OllamaEmbedder = PrivateAttr()

    def __init__(
        self, model: str | None = None, *, base_url: str | None = None, **data: Any
    ) -> None:
        if model is not None and data.setdefault("model_name", model) != model:
            raise ConfigurationError("model and model_name disagree")
        if base_url is not None and data.setdefault("host", base_url) != base_url:
            raise ConfigurationError("host and base_url disagree")
        # Validate the fields first, then build the embedder from them, so the
        # fields always describe the embedder in use. (EmbedderEmbedding's
        # __init__ takes a ready embedder; this one is made from the fields.)
        BaseEmbedding.__init__(self, **data)
        self._embedder = OllamaEmbedder(
            self.model_name,
            host=self.host,
            native_dimensions=self.native_dimensions,
            dimensions=self.dimensions,
            num_ctx=self.num_ctx,
            truncate=self.truncate,
            keep_alive=self.keep_alive,
            timeout=self.timeout,
            max_batch_size=self.embed_batch_size,
            max_batch_chars=self.max_batch_chars,
            max_attempts=self.max_attempts,
            retry_base_delay=self.retry_base_delay,
            retry_max_delay=self.retry_max_delay,
            headers=self.headers,
        )
        # Pin the resolved address so a copy unpickled in another process
        # (spawned with another environment) talks to the same Ollama.
        self.host = self._embedder.host

    @classmethod
    def class_name(cls) -> str:
        return "OllamaEmbedding"

    @property
    def embedder(self) -> OllamaEmbedder:
        """The core embedder this adapter delegates to."""
        return self._embedder

    def close(self) -> None:
        """Close the sync HTTP client (a later call opens a new one)."""
        self.embedder.close()

    async def aclose(self) -> None:
        """Close the async HTTP client (a later call opens a new one)."""
        await self.embedder.aclose()


__all__ = ["OllamaEmbedding"]
