"""``LlamaIndexEmbedder``: any LlamaIndex ``BaseEmbedding`` as a core ``Embedder``.

The one wrapper of a LlamaIndex model for every cache: the semantic cache's
embedder and the model behind
:class:`~redis_llm_cache.llama_index.embedding.CachedEmbedding`, so one model has
one identity in both. Queries go through the model's query embedding, documents
through its text embedding (the model's own instructions per role apply); rows
are checked and L2-normalized for the semantic cache
(:class:`~redis_llm_cache.core.embedding.embedder.FrameworkEmbedder`).

The model's private ``_get_*`` methods are called, as LlamaIndex's own public
methods do internally, so no instrumentation events are emitted for cache work
(a wrapping ``CachedEmbedding`` emits them once per call). What the public
methods do besides is done here too: the model's ``rate_limiter`` is acquired
before each call to the model (each query, each batch of texts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding

from ..core.embedding.embedder import Embedder, FrameworkEmbedder
from ..errors import ConfigurationError


class LlamaIndexEmbedder(FrameworkEmbedder):
    """A core ``Embedder`` over a LlamaIndex ``BaseEmbedding``.

    Identity: provider ``"llama_index:<ClassName>"``, model ``model`` or the
    model's ``model_name`` (LlamaIndex's placeholder ``"unknown"`` does not
    count); a ``dimensions`` attribute is an option, since it changes the
    vectors. An :class:`~redis_llm_cache.llama_index.embedding.EmbedderEmbedding`
    (e.g. ``OllamaEmbedding``) without ``model`` has its core embedder's own
    identity.

    Args:
        inner: The LlamaIndex model.
        model: Its name in the identity (default: its ``model_name``).
        dimensions: Vector length; default: learned with one probe call when
            the semantic cache first needs it.

    Example:
        >>> from redis_llm_cache.langchain import RedisLLMCache
        >>> RedisLLMCache(embedder=LlamaIndexEmbedder(HuggingFaceEmbedding(...)))
    """

    def __init__(
        self, inner: BaseEmbedding, *, model: str | None = None, dimensions: int | None = None
    ) -> None:
        if not isinstance(inner, BaseEmbedding):
            raise TypeError(f"inner must be a LlamaIndex BaseEmbedding, got {type(inner).__name__}")
        self.inner = inner
        provider = f"llama_index:{type(inner).__name__}"
        delegate = _core_embedder(inner)
        if delegate is not None and model is None:
            super().__init__(provider=provider, model=delegate.identity.model, delegate=delegate)
            return
        name = model or (inner.model_name if inner.model_name != "unknown" else None)
        if not name:
            raise ConfigurationError(
                f"cannot tell which model {type(inner).__name__} runs: pass its name "
                "(model='...' to LlamaIndexEmbedder, model_id='...' to CachedEmbedding); "
                "the model is part of every vector key and of threshold calibration"
            )
        options: dict[str, object] = {}
        requested = getattr(inner, "dimensions", None)
        if isinstance(requested, int) and not isinstance(requested, bool):
            options["dimensions"] = requested
        super().__init__(provider=provider, model=name, options=options, dimensions=dimensions)

    @property
    def _rate_limiter(self) -> Any:
        # BaseEmbedding.rate_limiter is newer than 0.14.6, the oldest llama-index-core
        # our range allows: a model of an older core has none.
        return getattr(self.inner, "rate_limiter", None)

    def _embed_query(self, text: str) -> Sequence[float]:
        if (limiter := self._rate_limiter) is not None:
            limiter.acquire()
        return self.inner._get_query_embedding(text)

    def _embed_documents(self, texts: list[str]) -> Sequence[Sequence[float]]:
        if (limiter := self._rate_limiter) is not None:
            limiter.acquire()
        return self.inner._get_text_embeddings(texts)

    async def _aembed_query(self, text: str) -> Sequence[float]:
        if (limiter := self._rate_limiter) is not None:
            await limiter.async_acquire()
        return await self.inner._aget_query_embedding(text)

    async def _aembed_documents(self, texts: list[str]) -> Sequence[Sequence[float]]:
        if (limiter := self._rate_limiter) is not None:
            await limiter.async_acquire()
        return await self.inner._aget_text_embeddings(texts)


def _core_embedder(inner: BaseEmbedding) -> Embedder | None:
    from .embedding import EmbedderEmbedding

    return inner.embedder if isinstance(inner, EmbedderEmbedding) else None
