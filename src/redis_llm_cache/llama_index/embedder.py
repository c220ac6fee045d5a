"""``LlamaIndexEmbedder``: any LlamaIndex ``BaseEmbedding`` as a core ``Embedder``.

So a LlamaIndex model can serve as the semantic cache's embedder. Queries go
through the model's query embedding, documents through its text embedding (the
model's own instructions per role apply); rows are checked and L2-normalized
(:class:`~redis_llm_cache.core.embedder.FrameworkEmbedder`). The model's private
``_get_*`` methods are called, as LlamaIndex's own wrappers do internally, so no
instrumentation events are emitted for cache work.
"""

from __future__ import annotations

from llama_index.core.base.embeddings.base import BaseEmbedding

from ..core.embedder import FrameworkEmbedder
from ..errors import ConfigurationError


class LlamaIndexEmbedder(FrameworkEmbedder):
    """A core ``Embedder`` over a LlamaIndex ``BaseEmbedding``.

    Args:
        inner: The LlamaIndex model.
        model: Its name in the identity (default: its ``model_name``, unless that is
            LlamaIndex's placeholder ``"unknown"``).
        dimensions: Vector length; default: learned with one probe call.

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
        super().__init__(
            provider=f"llama_index:{type(inner).__name__}",
            model=name,
            dimensions=dimensions,
            query=inner._get_query_embedding,
            documents=inner._get_text_embeddings,
            aquery=inner._aget_query_embedding,
            adocuments=inner._aget_text_embeddings,
        )
