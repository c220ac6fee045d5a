"""redis-llm-cache: exact LLM response caching in Redis, with thin framework adapters.

Framework classes live in extras: ``redis_llm_cache.langchain.RedisLLMCache``.

Logging: the ``redis_llm_cache`` logger has no handler of its own. In an app
that configured no logging, Python's ``logging.lastResort`` prints its WARNING
records (the first failure of each kind: Redis unreachable, an uncalibrated
similarity threshold) to stderr; configure logging, or set that logger's level,
to route or silence them.
"""

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

# No NullHandler, on purpose (the usual library advice): it would swallow the
# one WARNING that tells a user with no logging set up that Redis is down and
# every call is served without the cache. Without a handler anywhere,
# ``logging.lastResort`` prints WARNING and above to stderr -- and nothing at
# all once the app configures logging itself.

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
