"""A Redis URL redis-py cannot use is a ConfigurationError when the cache is built.

Before, ``redis_url="http://x"`` was accepted and every call failed open later
(redis-py's ``ValueError`` at the first connection): a typo looked like an
unreachable Redis.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.outputs import Generation
from llama_index.core.embeddings import MockEmbedding

from redis_llm_cache.config import validate_redis_url
from redis_llm_cache.embeddings import EmbeddingCache
from redis_llm_cache.errors import ConfigurationError
from redis_llm_cache.langchain import CachedEmbeddings, RedisLLMCache
from redis_llm_cache.llama_index import CachedEmbedding
from redis_llm_cache.redis.embedded import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[2]

BAD_SCHEME = [
    "http://localhost:6379",
    "https://user:s3cret@redis.example.com:6379",
    "tcp://127.0.0.1:6379",
    "valkey://127.0.0.1:6379",
]
MALFORMED = [
    "localhost:6379",  # no scheme
    "redis://localhost:port/0",  # port not a number
    "redis://localhost:99999/0",  # port out of range
    "unix://",  # no socket path
]
GOOD = [
    "redis://localhost:6379/0",
    "REDIS://localhost",
    "redis://",
    "rediss://default:pw@redis.example.com:6380/1",
    "unix:///run/redis/redis.sock?db=2",
]


class StaticEmbedder:
    """The smallest ``SupportsEmbed``: the cache never calls it in these tests."""

    def embed(self, texts: Any, *, role: str = "document") -> list[list[float]]:
        return [[1.0, 0.0, 0.0] for _ in texts]

    async def aembed(self, texts: Any, *, role: str = "document") -> list[list[float]]:
        return self.embed(texts, role=role)


BUILDERS: dict[str, Callable[[str], Any]] = {
    "RedisLLMCache": lambda url: RedisLLMCache(redis_url=url),
    "EmbeddingCache": lambda url: EmbeddingCache(
        StaticEmbedder(), identity_key="static", dimensions=3, redis_url=url
    ),
    "CachedEmbeddings": lambda url: CachedEmbeddings(
        DeterministicFakeEmbedding(size=3), model_id="fake-3", redis_url=url
    ),
    "CachedEmbedding": lambda url: CachedEmbedding(
        MockEmbedding(embed_dim=3), model_id="mock-3", redis_url=url
    ),
}


@pytest.mark.parametrize("url", BAD_SCHEME + MALFORMED)
@pytest.mark.parametrize("builder", list(BUILDERS))
def test_every_cache_refuses_a_bad_url_when_built(builder: str, url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        BUILDERS[builder](url)
    message = str(caught.value)
    assert "redis_url" in message
    assert "s3cret" not in message  # a password never reaches the message


@pytest.mark.parametrize("url", BAD_SCHEME)
def test_redis_py_refuses_the_schemes_we_refuse(url: str) -> None:
    # Our list follows redis-py's: from_url raises for each of these (no I/O).
    with pytest.raises(ValueError, match="redis://, rediss://, unix://"):
        redis.Redis.from_url(url)


@pytest.mark.parametrize("url", GOOD)
def test_good_urls_are_accepted_without_io(url: str) -> None:
    # Nothing listens at most of these: building must not connect.
    assert validate_redis_url(url) == url
    RedisLLMCache(redis_url=url).close()
    redis.Redis.from_url(url).close()  # and redis-py agrees they are usable


def test_the_scheme_message_says_what_is_allowed() -> None:
    with pytest.raises(ConfigurationError, match=r"redis://, rediss:// or unix://.*'http://'"):
        RedisLLMCache(redis_url="http://x")


def test_redis_url_from_the_environment_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "http://x")
    with pytest.raises(ConfigurationError, match=r"\$REDIS_URL"):
        RedisLLMCache()


def test_a_cluster_over_a_unix_socket_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unix sockets"):
        RedisLLMCache(redis_url="unix:///run/redis.sock", cluster=True)


def test_a_validated_url_still_reaches_redis(private_redis: EmbeddedRedis) -> None:
    cache = RedisLLMCache(redis_url=private_redis.url)
    try:
        cache.update("q", "llm", [Generation(text="a")])
        assert cache.lookup("q", "llm") == [Generation(text="a")]
    finally:
        cache.close()


def test_the_cli_reports_a_bad_url() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "redis_llm_cache.cli", "doctor", "--url", "http://u:s3cret@x"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        timeout=120,
    )
    assert done.returncode == 1
    assert "ConfigurationError: --url must start with redis://" in done.stderr
    assert "s3cret" not in done.stderr


def test_the_service_reports_a_bad_url(capsys: pytest.CaptureFixture[str]) -> None:
    from redis_llm_cache.service import main

    with pytest.raises(SystemExit) as exited:
        main(["--url", "http://x"])
    assert exited.value.code == 2  # argparse's usage error; no Redis was started
    assert "--url must start with redis://" in capsys.readouterr().err


@pytest.mark.parametrize("builder", list(BUILDERS))
def test_every_cache_builds_with_a_good_url(builder: str) -> None:
    cache = BUILDERS[builder]("redis://127.0.0.1:9/0")  # nothing listens: no I/O yet
    assert cache is not None
