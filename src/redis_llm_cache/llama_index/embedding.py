"""LlamaIndex ``BaseEmbedding`` on the redis-llm-cache core: ``CachedEmbedding``
caches any other in Redis; ``EmbedderEmbedding`` exposes any core ``Embedder``."""

from __future__ import annotations

from typing import Any, Literal

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr, SerializeAsAny

from .. import Embedder, EmbeddingCache
from ..config import DEFAULT_EMBEDDING_NAMESPACE, DEFAULT_EMBEDDING_TIMEOUT_S
from ..core.embedding.embedder import is_embedder
from ..embeddings import EmbeddingCacheAdapter
from .embedder import LlamaIndexEmbedder


class CachedEmbedding(EmbeddingCacheAdapter, BaseEmbedding):
    """Embeds each text once with ``inner`` and serves it from Redis afterwards.

    On a miss the text is embedded by ``inner`` (only the misses of a batch, each
    distinct text once) and stored; if Redis is down or slow, ``inner`` embeds
    everything and the failure is counted in :meth:`stats` (fail-open). A vector
    with NaN/Inf or the wrong length raises ``ValueError`` and is not stored.
    Queries and texts are cached apart. Picklable (``IngestionPipeline`` with
    ``num_workers``): each process opens its own Redis connections.

    Args:
        inner: Any LlamaIndex embedding model.
        redis_url: Default ``$REDIS_URL`` or ``redis://localhost:6379/0``.
        model_id: Name of the model in cache keys; needed when ``inner`` has no
            ``model_name`` (not for an :class:`EmbedderEmbedding`, keyed by its
            embedder's identity). Use a new one when the model's vectors change.
        dimensions: Expected vector length; default learned from the first vector.
        namespace, ttl, dtype, memory_max_entries, timeout, fail_open: As in
            :class:`~redis_llm_cache.core.embedding.store.EmbeddingSettings`;
            ``embed_batch_size`` (default: the inner model's) also bounds the
            misses sent to ``inner`` in one call.

    Example:
        >>> from llama_index.core import Settings, VectorStoreIndex
        >>> from llama_index.embeddings.openai import OpenAIEmbedding
        >>> from redis_llm_cache.llama_index import CachedEmbedding
        >>> Settings.embed_model = CachedEmbedding(
        ...     OpenAIEmbedding(model="text-embedding-3-small"),
        ...     redis_url="redis://localhost:6379",
        ... )
        >>> index = VectorStoreIndex.from_documents(documents)  # re-runs embed nothing twice
    """

    inner: SerializeAsAny[BaseEmbedding] = Field(description="The embedding model cached.")
    # Excluded from serialization: a URL may carry a password. Pickling keeps it.
    redis_url: str | None = Field(default=None, exclude=True)
    namespace: str = DEFAULT_EMBEDDING_NAMESPACE
    ttl: float | None = None
    model_id: str | None = None
    dimensions: int | None = None
    dtype: Literal["float32", "float16"] = "float32"
    memory_max_entries: int | None = None
    timeout: float = DEFAULT_EMBEDDING_TIMEOUT_S
    fail_open: bool = True
    cluster: bool | None = None

    _cache: EmbeddingCache = PrivateAttr()

    def __init__(self, inner: BaseEmbedding, **data: Any) -> None:
        if not isinstance(inner, BaseEmbedding):
            raise TypeError(f"inner must be a LlamaIndex BaseEmbedding, got {type(inner).__name__}")
        data.setdefault("model_name", inner.model_name)
        data.setdefault("embed_batch_size", inner.embed_batch_size)
        # mypy sees BaseEmbedding's fields only, not this subclass's pydantic fields.
        super().__init__(inner=inner, **data)  # type: ignore[call-arg]
        wrapper = LlamaIndexEmbedder(inner, model=self.model_id)
        self._cache = EmbeddingCache(
            wrapper.unnormalized,  # a wrapper hands back what the model returns
            identity_key=wrapper.identity_key,
            dimensions=self.dimensions,
            redis_url=self.redis_url,
            namespace=self.namespace,
            ttl=self.ttl,
            batch_size=self.embed_batch_size,
            dtype=self.dtype,
            memory_max_entries=self.memory_max_entries,
            timeout=self.timeout,
            fail_open=self.fail_open,
            cluster=self.cluster,
        )
        # Pin the resolved URL so an unpickled copy in another process (spawned
        # with another environment) talks to the same Redis.
        self.redis_url = self._cache.redis_url

    @classmethod
    def class_name(cls) -> str:
        return "CachedEmbedding"

    def _get_query_embedding(self, query: str) -> Embedding:
        row: Embedding = self._cache.embed([query], role="query")[0].tolist()
        return row

    async def _aget_query_embedding(self, query: str) -> Embedding:
        row: Embedding = (await self._cache.aembed([query], role="query"))[0].tolist()
        return row

    def _get_text_embedding(self, text: str) -> Embedding:
        row: Embedding = self._cache.embed([text], role="document")[0].tolist()
        return row

    async def _aget_text_embedding(self, text: str) -> Embedding:
        row: Embedding = (await self._cache.aembed([text], role="document"))[0].tolist()
        return row

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        rows: list[Embedding] = self._cache.embed(texts, role="document").tolist()
        return rows

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        rows: list[Embedding] = (await self._cache.aembed(texts, role="document")).tolist()
        return rows


class EmbedderEmbedding(BaseEmbedding):
    """A core ``Embedder`` as a LlamaIndex ``BaseEmbedding`` (no caching: wrap it
    in :class:`CachedEmbedding` for that). Errors of the embedder propagate.

    Queries are embedded with role ``"query"``, texts with ``"document"``; the
    async methods call the embedder's ``aembed``. ``model_name`` defaults to the
    embedder's model. Picklable if the embedder is (``OllamaEmbedder`` is).

    Example:
        >>> from llama_index.core import Settings
        >>> from redis_llm_cache.embedders import LocalEmbedder
        >>> from redis_llm_cache.llama_index import EmbedderEmbedding
        >>> Settings.embed_model = EmbedderEmbedding(LocalEmbedder())
    """

    _embedder: Embedder = PrivateAttr()

    def __init__(self, embedder: Embedder, **data: Any) -> None:
        if not is_embedder(embedder):
            raise TypeError(f"embedder must be an Embedder, got {type(embedder).__name__}")
        data.setdefault("model_name", embedder.identity.model)
        super().__init__(**data)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "EmbedderEmbedding"

    @property
    def embedder(self) -> Embedder:
        """The core embedder this adapter delegates to."""
        return self._embedder

    def _get_query_embedding(self, query: str) -> Embedding:
        row: Embedding = self._embedder.embed([query], role="query")[0].tolist()
        return row

    async def _aget_query_embedding(self, query: str) -> Embedding:
        row: Embedding = (await self._embedder.aembed([query], role="query"))[0].tolist()
        return row

    def _get_text_embedding(self, text: str) -> Embedding:
        row: Embedding = self._embedder.embed([text], role="document")[0].tolist()
        return row

    async def _aget_text_embedding(self, text: str) -> Embedding:
        row: Embedding = (await self._embedder.aembed([text], role="document"))[0].tolist()
        return row

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        rows: list[Embedding] = self._embedder.embed(texts, role="document").tolist()
        return rows

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        rows: list[Embedding] = (await self._embedder.aembed(texts, role="document")).tolist()
        return rows
