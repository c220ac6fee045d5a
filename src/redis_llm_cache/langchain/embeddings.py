"""LangChain ``Embeddings`` on the redis-llm-cache core: a caching wrapper, and an
adapter that exposes any core ``Embedder`` as LangChain ``Embeddings``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.embeddings import Embeddings

from .. import Embedder, EmbeddingCache
from ..config import EmbeddingSettings
from ..core.embedding.embedder import Matrix, is_embedder
from ..core.embedding.store import SupportsEmbed
from ..embeddings import EmbeddingCacheAdapter
from ..errors import ConfigurationError
from ..redis.connection import AsyncClient, SyncClient
from .embedder import LangChainEmbedder


class CachedEmbeddings(EmbeddingCacheAdapter, Embeddings):
    """LangChain ``Embeddings`` that embed each text once and serve it from Redis.

    On a miss the text is embedded by ``inner`` (only the misses of a call, in
    batches of ``batch_size``, each distinct text once) and stored; if Redis is
    down or slow, ``inner`` embeds everything and the failure is counted in
    :meth:`stats` (fail-open). A vector ``inner`` returns with NaN/Inf or the
    wrong length raises ``ValueError`` and is not stored. Queries and documents
    are cached apart.

    Args:
        inner: Any LangChain ``Embeddings``, or a core ``Embedder``.
        redis_url: ``redis://`` / ``rediss://`` URL; default ``$REDIS_URL`` or
            ``redis://localhost:6379/0``. Or ``redis_client=`` / ``async_redis_client=``.
        model_id: Name of the model in cache keys; needed when ``inner`` has no
            ``model`` / ``model_name`` attribute (not for an
            :class:`EmbedderEmbeddings`, keyed by its embedder's identity). Use a
            new one when the model's vectors change.
        dimensions: Expected vector length; default learned from the first vector.
        options: More settings that change the vectors (JSON values), part of keys.
        settings: A prepared :class:`EmbeddingSettings`; or its fields as keyword
            arguments: ``namespace``, ``ttl``, ``batch_size``, ``dtype``
            (``"float16"`` halves memory), ``memory_max_entries`` /
            ``memory_max_bytes`` (in-process LRU tier), ``timeout``, ``fail_open`` ...

    Example:
        >>> from langchain_openai import OpenAIEmbeddings
        >>> from redis_llm_cache.langchain.embeddings import CachedEmbeddings
        >>> embeddings = CachedEmbeddings(
        ...     OpenAIEmbeddings(model="text-embedding-3-small"),
        ...     redis_url="redis://localhost:6379",
        ...     ttl=30 * 24 * 3600,
        ... )
        >>> store = InMemoryVectorStore.from_texts(texts, embedding=embeddings)
    """

    def __init__(
        self,
        inner: Embeddings | Embedder,
        *,
        redis_url: str | None = None,
        redis_client: SyncClient | None = None,
        async_redis_client: AsyncClient | None = None,
        model_id: str | None = None,
        dimensions: int | None = None,
        options: dict[str, object] | None = None,
        settings: EmbeddingSettings | None = None,
        **setting_values: Any,
    ) -> None:
        model: SupportsEmbed
        if isinstance(inner, Embeddings):
            wrapper = LangChainEmbedder(inner, model=model_id, options=options)
            model = wrapper.unnormalized  # a wrapper hands back what the model returns
            identity_key: str | None = wrapper.identity_key
        elif is_embedder(inner):
            model = inner
            identity_key = None  # the embedder's own identity
            if model_id is not None or options:
                raise ConfigurationError("model_id/options apply to LangChain models only")
        else:
            raise TypeError(
                f"inner must be LangChain Embeddings or an Embedder, got {type(inner).__name__}"
            )
        self.inner = inner
        self._cache = EmbeddingCache(
            model,
            identity_key=identity_key,
            dimensions=dimensions,
            redis_url=redis_url,
            redis_client=redis_client,
            async_redis_client=async_redis_client,
            settings=settings,
            **setting_values,
        )

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        rows: list[list[float]] = self._cache.embed(texts, role="document").tolist()
        return rows

    def embed_query(self, text: str) -> list[float]:
        row: list[float] = self._cache.embed([text], role="query")[0].tolist()
        return row

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        matrix = await self._cache.aembed(texts, role="document")
        rows: list[list[float]] = matrix.tolist()
        return rows

    async def aembed_query(self, text: str) -> list[float]:
        matrix = await self._cache.aembed([text], role="query")
        row: list[float] = matrix[0].tolist()
        return row

    def embed_documents_array(self, texts: Sequence[str]) -> Matrix:
        """:meth:`embed_documents` as a ``float32`` matrix (no conversion to lists)."""
        return self._cache.embed(texts, role="document")

    async def aembed_documents_array(self, texts: Sequence[str]) -> Matrix:
        """Async :meth:`embed_documents_array`."""
        return await self._cache.aembed(texts, role="document")


class EmbedderEmbeddings(Embeddings):
    """A core ``Embedder`` as LangChain ``Embeddings`` (no caching: wrap it in
    :class:`CachedEmbeddings` for that). Errors of the embedder propagate.

    Example:
        >>> from redis_llm_cache.langchain.embeddings import EmbedderEmbeddings
        >>> embeddings = EmbedderEmbeddings(OllamaEmbedder(model="bge-m3"))
        >>> vector = embeddings.embed_query("hello")
    """

    def __init__(self, embedder: Embedder) -> None:
        if not is_embedder(embedder):
            raise TypeError(f"embedder must be an Embedder, got {type(embedder).__name__}")
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        rows: list[list[float]] = self.embedder.embed(texts, role="document").tolist()
        return rows

    def embed_query(self, text: str) -> list[float]:
        row: list[float] = self.embedder.embed([text], role="query")[0].tolist()
        return row

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        rows: list[list[float]] = (await self.embedder.aembed(texts, role="document")).tolist()
        return rows

    async def aembed_query(self, text: str) -> list[float]:
        row: list[float] = (await self.embedder.aembed([text], role="query"))[0].tolist()
        return row
