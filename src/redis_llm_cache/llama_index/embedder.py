"""``LlamaIndexEmbedder``: any LlamaIndex ``BaseEmbedding`` as a core ``Embedder``.

So a LlamaIndex model can serve as the semantic cache's embedder. Queries go
through the model's query embedding, documents through its text embedding (the
model's own instructions per role apply); rows are checked and L2-normalized.
The model's private ``_get_*`` methods are called, as LlamaIndex's own wrappers
do internally, so no instrumentation events are emitted for cache work.
"""

from __future__ import annotations

from collections.abc import Sequence

from llama_index.core.base.embeddings.base import BaseEmbedding

from ..core.embedder import EmbedderIdentity, Matrix, Role, as_normalized_matrix
from ..errors import ConfigurationError


class LlamaIndexEmbedder:
    """A core ``Embedder`` over a LlamaIndex ``BaseEmbedding``.

    Args:
        inner: The LlamaIndex model.
        model: Its name in the identity (default: its ``model_name``, unless that is
            LlamaIndex's placeholder ``"unknown"``).
        dimensions: Vector length; default: learned by embedding one probe text when
            the identity is first needed (one model call, once).

    Example:
        >>> from redis_llm_cache.langchain import RedisLLMCache
        >>> RedisLLMCache(embedder=LlamaIndexEmbedder(HuggingFaceEmbedding(...)))
    """

    def __init__(
        self, inner: BaseEmbedding, *, model: str | None = None, dimensions: int | None = None
    ) -> None:
        name = model or (inner.model_name if inner.model_name != "unknown" else None)
        if not name:
            raise ConfigurationError(
                f"cannot tell which model {type(inner).__name__} runs: pass model='...' "
                "(the model is part of every vector key and of threshold calibration)"
            )
        self.inner = inner
        self._model = name
        self._dimensions = dimensions
        self._identity: EmbedderIdentity | None = None

    @property
    def identity(self) -> EmbedderIdentity:
        if self._identity is None:
            if self._dimensions is None:
                self._dimensions = len(self.inner._get_query_embedding("dimension probe"))
            self._identity = EmbedderIdentity(
                provider=f"llama_index:{type(self.inner).__name__}",
                model=self._model,
                dimensions=self._dimensions,
            )
        return self._identity

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        items = list(texts)
        if role == "query":
            rows = [self.inner._get_query_embedding(text) for text in items]
        else:
            rows = self.inner._get_text_embeddings(items)
        return as_normalized_matrix(rows, dimensions=self.identity.dimensions, count=len(items))

    async def aembed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        items = list(texts)
        if role == "query":
            rows = [await self.inner._aget_query_embedding(text) for text in items]
        else:
            rows = await self.inner._aget_text_embeddings(items)
        return as_normalized_matrix(rows, dimensions=self.identity.dimensions, count=len(items))
