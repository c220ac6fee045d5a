"""LangChain integration (``pip install redis-llm-cache[langchain]``).

* :class:`RedisLLMCache` -- LangChain's LLM cache on Redis.
* :class:`CachedEmbeddings` -- any ``Embeddings`` (or core ``Embedder``), cached in Redis.
* :class:`EmbedderEmbeddings` -- any core ``Embedder`` as LangChain ``Embeddings``.
* :class:`OllamaEmbeddings` -- Ollama (bge-m3 by default) as LangChain ``Embeddings``.
* :class:`CachedStreamingChatModel` -- ``stream()`` / ``astream()`` through the LLM cache.
* :func:`llm_string_of` -- the ``llm_string`` a chat model's cache entries are keyed by.

Importing this package does not import the ``ollama`` client library (the
Ollama adapter loads it on its first embed).

Example:
    >>> from langchain_core.globals import set_llm_cache
    >>> from redis_llm_cache.langchain import CachedEmbeddings, OllamaEmbeddings, RedisLLMCache
    >>> set_llm_cache(RedisLLMCache(redis_url="redis://localhost:6379"))
    >>> embeddings = CachedEmbeddings(OllamaEmbeddings(), redis_url="redis://localhost:6379")
"""

from .._extras import requires_extra

with requires_extra("langchain", feature="redis_llm_cache.langchain"):
    from .cache import RedisLLMCache
    from .codec import GenerationCodec
    from .embeddings import CachedEmbeddings, EmbedderEmbeddings
    from .llm_string import llm_string_of
    from .ollama import OllamaEmbeddings
    from .streaming import CachedStreamingChatModel

__all__ = [
    "CachedEmbeddings",
    "CachedStreamingChatModel",
    "EmbedderEmbeddings",
    "GenerationCodec",
    "OllamaEmbeddings",
    "RedisLLMCache",
    "llm_string_of",
]
