"""``LangChainEmbedder``: any LangChain ``Embeddings`` as a core ``Embedder``.

The one wrapper of a LangChain model for every cache: the semantic cache's
embedder (``RedisLLMCache(embedder=...)``) and the model behind
:class:`~redis_llm_cache.langchain.embeddings.CachedEmbeddings`, so one model has
one identity in both. Queries use the model's ``embed_query`` (its query
instructions apply), documents ``embed_documents``; async uses its own
``aembed_*`` methods. Rows are checked and L2-normalized for the semantic cache
(:class:`~redis_llm_cache.core.embedding.embedder.FrameworkEmbedder`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from langchain_core.embeddings import Embeddings

from ..core.embedding.embedder import Embedder, FrameworkEmbedder
from ..errors import ConfigurationError


class LangChainEmbedder(FrameworkEmbedder):
    """A core ``Embedder`` over a LangChain ``Embeddings``.

    Identity: provider ``"langchain:<ClassName>"``, model ``model`` or the
    model's ``model`` / ``model_name`` attribute; a ``dimensions`` attribute (as
    OpenAI's has) is one of the options, since it changes the vectors. An
    :class:`~redis_llm_cache.langchain.embeddings.EmbedderEmbeddings` (e.g.
    ``OllamaEmbeddings``) without ``model`` / ``options`` has its core embedder's
    own identity, which names everything that changes its vectors.

    Args:
        inner: The LangChain model.
        model: Its name in the identity (default: its ``model``/``model_name``).
        options: More settings that change the vectors (JSON values).
        dimensions: Vector length; default: learned with one probe call when
            the semantic cache first needs it.

    Example:
        >>> RedisLLMCache(embedder=OpenAIEmbeddings(model="text-embedding-3-small"))
    """

    def __init__(
        self,
        inner: Embeddings,
        *,
        model: str | None = None,
        options: Mapping[str, object] | None = None,
        dimensions: int | None = None,
    ) -> None:
        if not isinstance(inner, Embeddings):
            raise TypeError(f"inner must be LangChain Embeddings, got {type(inner).__name__}")
        self.inner = inner
        delegate = _core_embedder(inner)
        if delegate is not None and model is None and not options:
            super().__init__(
                provider=f"langchain:{type(inner).__name__}",
                model=delegate.identity.model,
                delegate=delegate,
            )
            return
        merged: dict[str, object] = {}
        requested = getattr(inner, "dimensions", None)
        if isinstance(requested, int) and not isinstance(requested, bool):
            merged["dimensions"] = requested
        merged.update(options or {})
        super().__init__(
            provider=f"langchain:{type(inner).__name__}",
            model=_model_name(inner, model),
            options=merged,
            dimensions=dimensions,
        )

    def _embed_query(self, text: str) -> Sequence[float]:
        return self.inner.embed_query(text)

    def _embed_documents(self, texts: list[str]) -> Sequence[Sequence[float]]:
        return self.inner.embed_documents(texts)

    async def _aembed_query(self, text: str) -> Sequence[float]:
        return await self.inner.aembed_query(text)

    async def _aembed_documents(self, texts: list[str]) -> Sequence[Sequence[float]]:
        return await self.inner.aembed_documents(texts)


def _model_name(inner: Embeddings, model: str | None) -> str:
    if model:
        return model
    for attribute in ("model", "model_name"):
        value = getattr(inner, attribute, None)
        if isinstance(value, str) and value:
            return value
    raise ConfigurationError(
        f"cannot tell which model {type(inner).__name__} runs: pass its name "
        "(embedder_model='...' to RedisLLMCache, model_id='...' to CachedEmbeddings); "
        "the model is part of every vector key and of threshold calibration"
    )


def _core_embedder(inner: Embeddings) -> Embedder | None:
    from .embeddings import EmbedderEmbeddings

    return inner.embedder if isinstance(inner, EmbedderEmbeddings) else None
