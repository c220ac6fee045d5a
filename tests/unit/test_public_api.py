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
        "ConfigurationError",
        "CorruptEntryError",
        "ResponseCache",
        "UnsupportedValueError",
        "__version__",
    ]


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
        "EmbedderEmbedding",
        "LlamaIndexEmbedder",
        "OllamaEmbedding",
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
