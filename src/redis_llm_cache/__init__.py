"""redis-llm-cache: exact LLM response caching in Redis, with thin framework adapters.

Framework classes live in extras: ``redis_llm_cache.langchain.RedisLLMCache``.
"""

import logging

from .cache import ResponseCache
from .config import CacheSettings
from .errors import (
    BackendError,
    CacheError,
    ConfigurationError,
    CorruptEntryError,
    UnsupportedValueError,
)

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "BackendError",
    "CacheError",
    "CacheSettings",
    "ConfigurationError",
    "CorruptEntryError",
    "ResponseCache",
    "UnsupportedValueError",
    "__version__",
]
