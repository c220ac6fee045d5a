"""LangChain integration (``pip install redis-llm-cache[langchain]``).

Example:
    >>> from langchain_core.globals import set_llm_cache
    >>> from redis_llm_cache.langchain import RedisLLMCache
    >>> set_llm_cache(RedisLLMCache(redis_url="redis://localhost:6379"))
"""

from .cache import RedisLLMCache
from .codec import GenerationCodec

__all__ = ["GenerationCodec", "RedisLLMCache"]
