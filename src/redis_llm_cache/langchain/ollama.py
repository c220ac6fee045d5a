"""``OllamaEmbeddings``: :class:`~redis_llm_cache.embedders.OllamaEmbedder` as
LangChain ``Embeddings``.

A thin adapter: batching, retries and error mapping are the embedder's; this
class only builds it from keyword settings (as LangChain's tooling and
``langchain-tests`` construct models) and converts matrices to float lists.
Importing it does not import the ``ollama`` client library; the first embed does.
"""

from __future__ import annotations

from typing import Any

from ..embedders.ollama import OllamaEmbedder
from ..errors import ConfigurationError
from .embeddings import EmbedderEmbeddings


class OllamaEmbeddings(EmbedderEmbeddings):
    """LangChain ``Embeddings`` computed by Ollama's ``/api/embed`` (bge-m3 by
    default), with no caching; errors are :class:`OllamaEmbedder`'s:
    ``ModelNotFoundError`` if the model is not pulled, ``EmbedderError`` if Ollama
    stays busy, unreachable or slow after the retries, ``EmbeddingInputError`` (a
    ``ValueError``) naming an input it cannot embed.

    ``embed_query`` embeds with role ``"query"``, ``embed_documents`` with
    ``"document"``; ``aembed_*`` are natively async (``ollama.AsyncClient``).
    Wrapped in :class:`~redis_llm_cache.langchain.CachedEmbeddings`, vectors are
    cached under the embedder's own identity (model, length, ``num_ctx``,
    ``dimensions``), shared with every other adapter of the same embedder.

    Args:
        model: Ollama model name.
        host: Ollama's address; default ``$OLLAMA_HOST``, else
            ``http://127.0.0.1:11434``. ``base_url`` is accepted as an alias
            (the name ``langchain-ollama`` uses).
        **settings: The other :class:`~redis_llm_cache.embedders.OllamaEmbedder`
            settings: ``native_dimensions``, ``dimensions``, ``num_ctx``,
            ``truncate``, ``keep_alive``, ``timeout``, ``max_batch_size``,
            ``max_batch_chars``, ``max_attempts``, ``retry_base_delay``,
            ``retry_max_delay``, ``headers``.

    Raises:
        ConfigurationError: Invalid settings (checked here, with no I/O).

    Example:
        >>> from redis_llm_cache.langchain import CachedEmbeddings, OllamaEmbeddings
        >>> embeddings = CachedEmbeddings(OllamaEmbeddings(), redis_url="redis://localhost:6379")
        >>> store = InMemoryVectorStore.from_texts(texts, embedding=embeddings)
    """

    embedder: OllamaEmbedder

    def __init__(
        self,
        model: str = "bge-m3",
        *,
        host: str | None = None,
        base_url: str | None = None,
        **settings: Any,
    ) -> None:
        if host is not None and base_url is not None and host != base_url:
            raise ConfigurationError(f"host={host!r} and base_url={base_url!r} disagree")
        super().__init__(OllamaEmbedder(model, host=host or base_url, **settings))

    @property
    def model(self) -> str:
        """Model name (without ``:latest``), as in the embedder's identity."""
        return self.embedder.identity.model

    @property
    def host(self) -> str:
        """The Ollama address requests go to."""
        return self.embedder.host

    base_url = host

    @property
    def dimensions(self) -> int:
        """Length of the vectors returned."""
        return self.embedder.identity.dimensions

    def close(self) -> None:
        """Close the sync HTTP client (a later call opens a new one)."""
        self.embedder.close()

    async def aclose(self) -> None:
        """Close the async HTTP client (a later call opens a new one)."""
        await self.embedder.aclose()

    def __repr__(self) -> str:
        return f"OllamaEmbeddings(model={self.model!r}, host={self.host!r})"


__all__ = ["OllamaEmbeddings"]
