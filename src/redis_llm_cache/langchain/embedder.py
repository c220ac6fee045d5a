"""``LangChainEmbedder``: any LangChain ``Embeddings`` as a core ``Embedder``.

So a LangChain model can serve as the semantic cache's embedder. Queries use the
model's ``embed_query`` (its query instructions apply), documents
``embed_documents``; async uses its own ``aembed_*`` methods. Rows are checked
and L2-normalized (:class:`~redis_llm_cache.core.embedder.FrameworkEmbedder`).
"""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from ..core.embedder import FrameworkEmbedder
from ..errors import ConfigurationError


def _model_name(inner: Embeddings, model: str | None) -> str:
    if model:
        return model
    for attribute in ("model", "model_name"):
        value = getattr(inner, attribute, None)
        if isinstance(value, str) and value:
            return value
    raise ConfigurationError(
        f"cannot tell which model {type(inner).__name__} runs: pass embedder_model='...' "
        "(the model is part of every vector key and of threshold calibration)"
    )


class LangChainEmbedder(FrameworkEmbedder):
    """A core ``Embedder`` over a LangChain ``Embeddings``.

    Args:
        inner: The LangChain model.
        model: Its name in the identity (default: its ``model``/``model_name``).
        dimensions: Vector length; default: learned with one probe call.

    Example:
        >>> RedisLLMCache(embedder=OpenAIEmbeddings(model="text-embedding-3-small"))
    """

    def __init__(
        self, inner: Embeddings, *, model: str | None = None, dimensions: int | None = None
    ) -> None:
        self.inner = inner
        super().__init__(
            provider=f"langchain:{type(inner).__name__}",
            model=_model_name(inner, model),
            dimensions=dimensions,
            query=inner.embed_query,
            documents=inner.embed_documents,
            aquery=inner.aembed_query,
            adocuments=inner.aembed_documents,
        )
