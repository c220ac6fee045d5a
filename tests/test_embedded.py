"""The embedded Redis launcher used by the demo and by these tests."""

from __future__ import annotations

import os

import pytest
import redis

from redis_llm_cache import ConfigurationError
from redis_llm_cache.redis.embedded import EmbeddedRedis, find_module


def module_names(url: str) -> set[str]:
    client = redis.Redis.from_url(url)
    try:
        return {entry[b"name"].decode() for entry in client.execute_command("MODULE", "LIST")}
    finally:
        client.close()


def test_stack_server_has_search_and_json() -> None:
    with EmbeddedRedis(modules=("search", "json")) as server:
        assert {"search", "ReJSON"} <= module_names(server.url)
        assert redis.Redis.from_url(server.url).info("server")["redis_version"].startswith("8.")


def test_plain_server_has_no_search_module() -> None:
    with EmbeddedRedis() as server:
        assert not {"search", "ReJSON"} & module_names(server.url)


def test_stop_ends_the_process() -> None:
    server = EmbeddedRedis().start()
    pid = server.pid
    assert pid is not None
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_unknown_module_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown module"):
        find_module("graph")
