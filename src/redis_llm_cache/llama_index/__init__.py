"""LlamaIndex integration (``pip install redis-llm-cache[llama-index]``).

* :class:`CachedEmbedding` -- any ``BaseEmbedding``, cached in Redis.
* :class:`EmbedderEmbedding` -- any core ``Embedder`` as a ``BaseEmbedding``.
* :class:`OllamaEmbedding` -- Ollama (bge-m3 by default) as a ``BaseEmbedding``.
* :class:`LlamaIndexEmbedder` -- any ``BaseEmbedding`` as a core ``Embedder`` (e.g.
  the semantic LLM cache's embedder).

Importing this package does not import the ``ollama`` client library (the
Ollama adapter loads it on its first embed).

Example:
    >>> from llama_index.core import Settings
    >>> from redis_llm_cache.llama_index import CachedEmbedding, OllamaEmbedding
    >>> Settings.embed_model = CachedEmbedding(
    ...     OllamaEmbedding(model="bge-m3"), redis_url="redis://localhost:6379"
    ... )
"""

from .._extras import requires_extra

with requires_extra("llama-index", feature="redis_llm_cache.llama_index"):
    from .embedder import LlamaIndexEmbedder
    from .embedding import CachedEmbedding, EmbedderEmbedding
    from .ollama import OllamaEmbedding

__all__ = ["CachedEmbedding", "EmbedderEmbedding", "LlamaIndexEmbedder", "OllamaEmbedding"]
