"""``LangChainEmbedder``: any LangChain ``Embeddings`` as a core ``Embedder``.

So a LangChain model can serve as the semantic cache's embedder. Rows are
checked and L2-normalized (:func:`~redis_llm_cache.core.embedder.as_normalized_matrix`);
queries use ``embed_query`` semantics per text (``embed_documents`` for documents),
async uses the model's own ``aembed_*`` methods.
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.embeddings import Embeddings

from ..core.embedder import EmbedderIdentity, Matrix, Role, as_normalized_matrix
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


class LangChainEmbedder:
    """A core ``Embedder`` over a LangChain ``Embeddings``.

    Args:
        inner: The LangChain model.
        model: Its name in the identity (default: its ``model``/``model_name``).
        dimensions: Vector length; default: learned by embedding one probe text when
            the identity is first needed (one model call, once).

    Example:
        >>> RedisLLMCache(embedder=OpenAIEmbeddings(model="text-embedding-3-small"))
    """

    def __init__(
        self, inner: Embeddings, *, model: str | None = None, dimensions: int | None = None
    ) -> None:
        self.inner = inner
        self._model = _model_name(inner, model)
        self._dimensions = dimensions
        self._identity: EmbedderIdentity | None = None

    @property
    def identity(self) -> EmbedderIdentity:
        if self._identity is None:
            if self._dimensions is None:
                self._dimensions = len(self.inner.embed_query("dimension probe"))
            self._identity = EmbedderIdentity(
                provider=f"langchain:{type(self.inner).__name__}",
                model=self._model,
                dimensions=self._dimensions,
            )
        return self._identity

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        items = list(texts)
        if role == "query":
            rows = [self.inner.embed_query(text) for text in items]
        else:
            rows = self.inner.embed_documents(items)
        return as_normalized_matrix(rows, dimensions=self.identity.dimensions, count=len(items))

    async def aembed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        items = list(texts)
        if role == "query":
            rows = [await self.inner.aembed_query(text) for text in items]
        else:
            rows = await self.inner.aembed_documents(items)
        return as_normalized_matrix(rows, dimensions=self.identity.dimensions, count=len(items))
