"""redis-llm-cache: exact LLM response caching in Redis, with thin framework adapters.

Framework classes live in extras: ``redis_llm_cache.langchain.RedisLLMCache``.

Logging: the ``redis_llm_cache`` logger has no handler of its own. In an app
that configured no logging, Python's ``logging.lastResort`` prints its WARNING
records (the first failure of each kind: Redis unreachable, an uncalibrated
similarity threshold) to stderr; configure logging, or set that logger's level,
to route or silence them.
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_getattr
from .cache import ResponseCache
from .config import (
    CacheSettings,
    ConnectionSettings,
    EmbeddingSettings,
    SemanticSettings,
    validate_redis_url,
    validate_threshold,
)
from .core.embedding.embedder import Embedder, EmbedderIdentity
from .core.semantic.verify import (
    CandidatePair,
    ChatModelJudge,
    JudgedVerifier,
    PairVerifier,
    Verdict,
    Verifier,
)
from .core.stats import (
    EmbeddingStatsSnapshot,
    LookupLatency,
    ProviderCacheSnapshot,
    SemanticStatsSnapshot,
    StatsSnapshot,
)
from .embeddings import EmbeddingCache
from .errors import (
    BackendError,
    CacheError,
    ConfigurationError,
    CorruptEntryError,
    EmbedderError,
    EmbeddingInputError,
    MissingExtraError,
    ModelNotFoundError,
    UnsupportedValueError,
)

if TYPE_CHECKING:
    from .core.semantic.calibration import (
        Calibration,
        LabelledPair,
        calibrate,
        load_pairs,
        pair_similarities,
    )
    from .embedders import LocalEmbedder, OllamaEmbedder, OpenAIEmbedder

__version__ = "0.1.0"

# No NullHandler, on purpose (the usual library advice): it would swallow the
# one WARNING that tells a user with no logging set up that Redis is down and
# every call is served without the cache. Without a handler anywhere,
# ``logging.lastResort`` prints WARNING and above to stderr -- and nothing at
# all once the app configures logging itself.

#: Names loaded on first access: the embedders' modules are where a missing
#: extra would be found, and calibration is for notebooks and the CLI, not the
#: hot path; ``import redis_llm_cache`` needs no extra and stays light.
_LAZY = {
    "LocalEmbedder": ".embedders",
    "OllamaEmbedder": ".embedders",
    "OpenAIEmbedder": ".embedders",
    "Calibration": ".core.semantic.calibration",
    "LabelledPair": ".core.semantic.calibration",
    "calibrate": ".core.semantic.calibration",
    "load_pairs": ".core.semantic.calibration",
    "pair_similarities": ".core.semantic.calibration",
}

__all__ = [
    "BackendError",
    "CacheError",
    "CacheSettings",
    "Calibration",
    "CandidatePair",
    "ChatModelJudge",
    "ConfigurationError",
    "ConnectionSettings",
    "CorruptEntryError",
    "Embedder",
    "EmbedderError",
    "EmbedderIdentity",
    "EmbeddingCache",
    "EmbeddingInputError",
    "EmbeddingSettings",
    "EmbeddingStatsSnapshot",
    "JudgedVerifier",
    "LabelledPair",
    "LocalEmbedder",
    "LookupLatency",
    "MissingExtraError",
    "ModelNotFoundError",
    "OllamaEmbedder",
    "OpenAIEmbedder",
    "PairVerifier",
    "ProviderCacheSnapshot",
    "ResponseCache",
    "SemanticSettings",
    "SemanticStatsSnapshot",
    "StatsSnapshot",
    "UnsupportedValueError",
    "Verdict",
    "Verifier",
    "__version__",
    "calibrate",
    "load_pairs",
    "pair_similarities",
    "validate_redis_url",
    "validate_threshold",
]


__getattr__ = lazy_getattr(__name__, globals(), _LAZY)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
