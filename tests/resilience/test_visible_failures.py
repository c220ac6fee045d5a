"""The first failure of each kind reaches someone who configured no logging.

Each test runs a fresh Python that sets up no logging at all, as a script or a
notebook does: our WARNING records then reach stderr through Python's
``logging.lastResort``, once per kind, while ``stats()`` counts every failure.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from langchain_core.outputs import Generation

from redis_llm_cache.core.embedding.embedder import EmbedderIdentity, Matrix, Role
from redis_llm_cache.errors import EmbedderError
from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.redis.embedded import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "my very private question"


def run_script(
    code: str, *args: str, python_flags: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh Python with no logging configured, ``args`` as its argv."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env["PYTHONPATH"] = str(ROOT / "src")
    return subprocess.run(
        [sys.executable, *python_flags, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def stderr_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.strip()]


def refused_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


UNREACHABLE = """
import json, sys
from redis_llm_cache.langchain import RedisLLMCache
cache = RedisLLMCache(redis_url=sys.argv[1])
for _ in range(2):
    assert cache.lookup({prompt!r}, "llm") is None
print(json.dumps(cache.stats()))
"""


def test_unreachable_redis_with_no_logging_configured() -> None:
    url = refused_url()
    done = run_script(UNREACHABLE.format(prompt=PROMPT), url)
    assert done.returncode == 0, done.stderr
    lines = stderr_lines(done)
    assert len(lines) == 1, lines  # the second identical failure is not printed again
    assert lines[0].startswith("redis-llm-cache: lookup failed (ConnectionError")
    assert "serving without the cache" in lines[0]
    assert PROMPT not in done.stderr
    stats = json.loads(done.stdout)
    assert stats["errors"] == 2  # ...but it is counted
    assert stats["errors_by_kind"] == {"ConnectionError": 2}
    assert stats["misses"] == 2


def test_the_app_can_silence_it() -> None:
    code = (
        "import logging\n"
        "logging.getLogger('redis_llm_cache').setLevel(logging.ERROR)\n"
        + UNREACHABLE.format(prompt=PROMPT)
    )
    done = run_script(code, refused_url())
    assert done.returncode == 0, done.stderr
    assert stderr_lines(done) == []
    assert json.loads(done.stdout)["errors"] == 2


def test_configured_logging_gets_the_record_instead() -> None:
    code = (
        "import logging, sys\n"
        "logging.basicConfig(stream=sys.stdout, format='APP %(levelname)s %(name)s')\n"
        "from redis_llm_cache.langchain import RedisLLMCache\n"
        "cache = RedisLLMCache(redis_url=sys.argv[1])\n"
        "cache.lookup('q', 'llm')\n"
    )
    done = run_script(code, refused_url())
    assert done.returncode == 0, done.stderr
    assert stderr_lines(done) == []  # lastResort stays out of an app's own setup
    assert "APP WARNING redis_llm_cache" in done.stdout


UNCALIBRATED = """
import json, sys
import numpy as np
from redis_llm_cache.core.embedding.embedder import EmbedderIdentity
from redis_llm_cache.langchain import RedisLLMCache

class ToyEmbedder:
    identity = EmbedderIdentity(provider="toy", model=sys.argv[3], dimensions=4)

    def embed(self, texts, *, role="document"):
        return np.asarray([[1.0, float(len(t)), 0.0, 1.0] for t in texts], dtype=np.float32)

    async def aembed(self, texts, *, role="document"):
        return self.embed(texts, role=role)

def build():
    return RedisLLMCache(redis_url=sys.argv[1], namespace=sys.argv[2], embedder=ToyEmbedder(),
                         semantic_strategy="client")

first = build()
for _ in range(2):
    assert first.lookup({prompt!r}, "llm") is None
second = build()  # the same model again: already warned about
assert second.lookup({prompt!r}, "llm") is None
print(json.dumps([first.stats(), second.stats()]))
"""


def test_uncalibrated_threshold_with_no_logging_configured(private_redis: EmbeddedRedis) -> None:
    model = f"uncalibrated-{uuid.uuid4().hex[:8]}"
    done = run_script(
        UNCALIBRATED.format(prompt=PROMPT), private_redis.url, f"vis-{uuid.uuid4().hex[:8]}", model
    )
    assert done.returncode == 0, done.stderr
    lines = stderr_lines(done)
    assert len(lines) == 1, lines
    assert f"no calibrated similarity threshold for embedder toy/{model}" in lines[0]
    assert PROMPT not in done.stderr
    first, second = (stats["semantic"] for stats in json.loads(done.stdout))
    assert first["threshold_calibrated"] is False and second["threshold_calibrated"] is False
    assert first["uncalibrated_searches"] == 2
    assert second["uncalibrated_searches"] == 1
    assert first["bypassed"] == {}  # the new counter is not mistaken for a bypass rule


UNDER_W_ERROR = """
import asyncio, json, sys
from langchain_core.outputs import Generation
from redis_llm_cache.langchain import RedisLLMCache

cache = RedisLLMCache(redis_url=sys.argv[1])

async def main():
    assert await cache.alookup("async question", "llm") is None
    await cache.aupdate("async question", "llm", [Generation(text="a")])
    await cache.aclose()

for _ in range(2):
    assert cache.lookup("sync question", "llm") is None
cache.update("sync question", "llm", [Generation(text="a")])
asyncio.run(main())
print(json.dumps(cache.stats()))
"""


def test_fails_open_under_w_error() -> None:
    done = run_script(UNDER_W_ERROR, refused_url(), python_flags=("-W", "error"))
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert stats["misses"] == 3
    assert stats["errors"] + stats["breaker_skips"] >= 5  # every call failed open, counted
    assert set(stats["errors_by_kind"]) == {"ConnectionError"}
    lines = stderr_lines(done)
    assert len(lines) == 1 and "ConnectionError" in lines[0], lines


class LeakyEmbedder:
    """Fails the way some providers do: quoting the input in the error message."""

    identity = EmbedderIdentity(provider="test", model="leaky", dimensions=4)

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        raise EmbedderError(f"cannot embed {texts[0]!r}: quota exceeded")

    async def aembed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        return self.embed(texts, role=role)


def test_an_embedder_error_is_logged_without_its_text(
    private_redis: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RedisLLMCache(
        redis_url=private_redis.url,
        namespace=f"vis-{uuid.uuid4().hex[:8]}",
        embedder=LeakyEmbedder(),
        semantic_strategy="client",
        semantic_threshold=0.9,
    )
    try:
        with caplog.at_level(logging.DEBUG, logger="redis_llm_cache"):
            assert cache.lookup(PROMPT, "llm") is None
            cache.update(PROMPT, "llm", [Generation(text="answer")])
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert any("embedder:EmbedderError" in r.getMessage() for r in warnings), warnings
        assert all(PROMPT not in r.getMessage() and r.exc_info is None for r in warnings)
        # The details stay available at DEBUG.
        debug = [r for r in caplog.records if r.levelno == logging.DEBUG and r.exc_info]
        assert any(PROMPT in str(r.exc_info[1]) for r in debug if r.exc_info)
        assert cache.stats()["errors_by_kind"].get("embedder:EmbedderError", 0) >= 1
    finally:
        cache.close()
