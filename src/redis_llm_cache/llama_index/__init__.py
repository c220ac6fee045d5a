"""LlamaIndex integration (``pip install redis-llm-cache[llama-index]``).

Example:
    >>> from llama_index.core import Settings
    >>> from redis_llm_cache.llama_index import CachedEmbedding
    >>> Settings.embed_model = CachedEmbedding(my_embed_model, redis_url="redis://localhost:6379")
"""

from .embedding import CachedEmbedding

__all__ = ["CachedEmbedding"]
