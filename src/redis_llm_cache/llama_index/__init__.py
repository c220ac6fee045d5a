"""LlamaIndex integration (``pip install redis-llm-cache[llama-index]``).

* :class:`CachedLLM` -- any ``LLM``, its answers cached in Redis (exact and semantic).
* :class:`CachedEmbedding` -- any ``BaseEmbedding``, cached in Redis.
* :class:`EmbedderEmbedding` -- any core ``Embedder`` as a ``BaseEmbedding``.
* :class:`OllamaEmbedding` -- Ollama (bge-m3 by default) as a ``BaseEmbedding``.
* :class:`LlamaIndexEmbedder` -- any ``BaseEmbedding`` as a core ``Embedder`` (e.g.
  the semantic LLM cache's embedder).
* :class:`LLMCacheEvent` -- the instrumentation event of each ``CachedLLM`` lookup.

Importing this package does not import the ``ollama`` client library (the
Ollama adapter loads it on its first embed).

Example:
    >>> from llama_index.core import Settings
    >>> from redis_llm_cache.llama_index import CachedEmbedding, CachedLLM, OllamaEmbedding
    >>> Settings.llm = CachedLLM(your_llm, redis_url="redis://localhost:6379")
    >>> Settings.embed_model = CachedEmbedding(
    ...     OllamaEmbedding(model="bge-m3"), redis_url="redis://localhost:6379"
    ... )
"""

from .._extras import requires_extra

with requires_extra("llama-index", feature="redis_llm_cache.llama_index"):
    from .codec import ResponseCodec
    from .embedder import LlamaIndexEmbedder
    from .embedding import CachedEmbedding, EmbedderEmbedding
    from .llm import CachedLLM, LLMCacheEvent
    from .ollama import OllamaEmbedding

__all__ = [
    "CachedEmbedding",
    "CachedLLM",
    "EmbedderEmbedding",
    "LLMCacheEvent",
    "LlamaIndexEmbedder",
    "OllamaEmbedding",
    "ResponseCodec",
]
