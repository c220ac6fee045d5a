"""The public names are a promise: changing them must be deliberate."""

from __future__ import annotations

import redis_llm_cache
import redis_llm_cache.langchain


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
    assert sorted(redis_llm_cache.langchain.__all__) == ["GenerationCodec", "RedisLLMCache"]


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
