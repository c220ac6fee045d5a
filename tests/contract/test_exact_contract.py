"""The exact tier against real Redis servers: every test runs on each server kind,
through each framework's LLM cache (a driver: LangChain's ``RedisLLMCache`` and
LlamaIndex's ``CachedLLM``, each with the values of its framework)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    MessageRole,
)

from redis_llm_cache.core.codec import MAGIC
from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.llama_index import CachedLLM
from support.llama_models import CountingLLM

# The exact tier keeps one contract on every Redis kind, cluster included.
pytestmark = pytest.mark.redis_kinds("stack", "plain", "cluster")

LLM = "model=test;temperature=0"


class Driver:
    """How the suite builds a cache and the values it stores, for one framework."""

    def __init__(self, framework: str, build_cache: Callable[..., Any], redis_url: str) -> None:
        self.framework = framework
        self._build_cache = build_cache
        self._redis_url = redis_url

    def make_cache(self, **kwargs: Any) -> Any:
        kwargs.setdefault("redis_url", self._redis_url)
        if self.framework == "langchain":
            return self._build_cache(RedisLLMCache, **kwargs)
        kwargs.pop("fresh_message_ids", None)  # LlamaIndex messages have no ids
        return self._build_cache(CachedLLM, CountingLLM(), **kwargs)

    def gen(self, text: str) -> Any:
        """A plain answer."""
        if self.framework == "langchain":
            return [Generation(text=text)]
        return CompletionResponse(text=text)

    def unfaithful(self) -> Any:
        """An answer that would come back different (a tuple turned list)."""
        if self.framework == "langchain":
            return [Generation(text="t", generation_info={"pair": (1, 2)})]
        return CompletionResponse(text="t", additional_kwargs={"pair": (1, 2)})

    def with_tool_calls(self) -> Any:
        """A chat answer calling a tool, with usage and provider metadata."""
        if self.framework == "langchain":
            message = AIMessage(
                content="",
                tool_calls=[{"name": "lookup", "args": {"q": "x"}, "id": "call_9"}],
                usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
                response_metadata={"finish_reason": "tool_calls"},
                id="run-1",
            )
            return [
                ChatGeneration(message=message, generation_info={"n": 1}),
                Generation(text="2nd"),
            ]
        call = {"id": "call_9", "name": "lookup", "arguments": '{"q": "x"}'}
        message = ChatMessage(
            role=MessageRole.ASSISTANT, content="", additional_kwargs={"tool_calls": [call]}
        )
        return ChatResponse(
            message=message,
            raw={"finish_reason": "tool_calls"},
            additional_kwargs={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        )


@pytest.fixture(params=["langchain", "llama_index"])
def driver(
    request: pytest.FixtureRequest, build_cache: Callable[..., Any], redis_url: str
) -> Driver:
    return Driver(request.param, build_cache, redis_url)


@pytest.fixture
def make_cache(driver: Driver) -> Callable[..., Any]:
    return driver.make_cache


@pytest.fixture
def gen(driver: Driver) -> Callable[[str], Any]:
    return driver.gen


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_miss_then_hit(make_cache: Callable[..., Any], gen: Callable[[str], Any]) -> None:
    cache = make_cache()
    assert cache.lookup("q", LLM) is None
    cache.update("q", LLM, gen("a"))
    assert cache.lookup("q", LLM) == gen("a")
    stats = cache.stats()
    assert (stats["hits"], stats["hits_exact"], stats["misses"], stats["writes"]) == (1, 1, 1, 1)
    assert stats["errors"] == 0 and stats["lookup_ms"]["count"] == 2


async def test_async_miss_then_hit(
    make_cache: Callable[..., Any], gen: Callable[[str], Any], async_cleanup: list[RedisLLMCache]
) -> None:
    cache = make_cache()
    async_cleanup.append(cache)
    assert await cache.alookup("q", LLM) is None
    await cache.aupdate("q", LLM, gen("a"))
    assert await cache.alookup("q", LLM) == gen("a")
    assert cache.lookup("q", LLM) == gen("a")  # sync and async see the same entries


def test_partition_by_llm_string_and_tenant(
    make_cache: Callable[..., Any], gen: Callable[[str], Any]
) -> None:
    acme, globex = make_cache(tenant="acme"), make_cache(tenant="globex")
    acme.update("q", LLM, gen("acme answer"))
    assert globex.lookup("q", LLM) is None
    assert acme.lookup("q", LLM + "x") is None
    globex.update("q", LLM, gen("globex answer"))
    assert acme.lookup("q", LLM) == gen("acme answer")
    assert globex.lookup("q", LLM) == gen("globex answer")


def test_ttl_is_set_with_the_write(
    make_cache: Callable[..., Any], gen: Callable[[str], Any], redis_client: redis.Redis
) -> None:
    # 3 s: long enough that the entry is still there when its TTL is read on a
    # loaded machine, short enough to wait for its expiry (polled).
    cache = make_cache(ttl=3.0)
    cache.update("q", LLM, gen("a"))
    key = cache.core.exact.key("q", LLM)
    assert 0 < redis_client.pttl(key) <= 3000
    assert wait_until(lambda: cache.lookup("q", LLM) is None)


def test_sliding_ttl_renews_on_hit(
    make_cache: Callable[..., Any], gen: Callable[[str], Any], redis_client: redis.Redis
) -> None:
    cache = make_cache(ttl=60, sliding_ttl=True)
    cache.update("q", LLM, gen("a"))
    key = cache.core.exact.key("q", LLM)
    # Shortened to 10 s, not less: the hit below must find the entry on a loaded
    # machine, and 10 s is still far below what a renewal restores.
    redis_client.pexpire(key, 10_000)
    assert cache.lookup("q", LLM) == gen("a")
    assert redis_client.pttl(key) > 50_000
    fixed = make_cache(ttl=60, namespace=cache.settings.namespace + "-fixed")
    fixed.update("q", LLM, gen("a"))
    fixed_key = fixed.core.exact.key("q", LLM)
    redis_client.pexpire(fixed_key, 10_000)
    assert fixed.lookup("q", LLM) == gen("a")
    assert redis_client.pttl(fixed_key) <= 10_000


def test_max_entries_evicts_least_recently_used(
    make_cache: Callable[..., Any], gen: Callable[[str], Any]
) -> None:
    cache = make_cache(max_entries=3)
    for name in "abc":
        cache.update(name, LLM, gen(name))
        time.sleep(0.002)  # distinct millisecond scores
    assert cache.lookup("a", LLM) == gen("a")  # "a" is now the most recently used
    time.sleep(0.002)
    cache.update("d", LLM, gen("d"))
    assert cache.lookup("b", LLM) is None
    assert [cache.lookup(n, LLM) is not None for n in "acd"] == [True, True, True]
    assert cache.core.count() == 3
    assert cache.stats()["evictions"] == 1


def test_clear_removes_only_this_namespace(
    make_cache: Callable[..., Any], gen: Callable[[str], Any]
) -> None:
    mine, neighbour = make_cache(), make_cache(namespace=make_cache().settings.namespace + "x")
    mine.update("q", LLM, gen("a"))
    neighbour.update("q", LLM, gen("b"))
    mine.clear()
    assert mine.lookup("q", LLM) is None
    assert neighbour.lookup("q", LLM) == gen("b")


def test_clear_by_tenant_and_by_llm_string(
    make_cache: Callable[..., Any], gen: Callable[[str], Any]
) -> None:
    acme, globex = make_cache(tenant="acme"), make_cache(tenant="globex")
    for cache in (acme, globex):
        cache.update("q", "model-a", gen("a"))
        cache.update("q", "model-b", gen("b"))
    acme.clear(tenant="acme", llm_string="model-a")
    assert acme.lookup("q", "model-a") is None
    assert acme.lookup("q", "model-b") == gen("b")
    assert globex.lookup("q", "model-a") == gen("a")
    globex.clear(llm_string="model-b")  # every tenant's model-b entries
    assert acme.lookup("q", "model-b") is None and globex.lookup("q", "model-b") is None
    assert globex.lookup("q", "model-a") == gen("a")
    acme.clear(tenant="globex")
    assert globex.lookup("q", "model-a") is None


@pytest.mark.parametrize("special", ["*", "?", "[a-z]", "\\", "a*b"])
def test_glob_characters_never_widen_a_clear(
    make_cache: Callable[..., Any], gen: Callable[[str], Any], namespace: str, special: str
) -> None:
    # Namespace "<ns>*" must not clear "<ns>abc"; prompts and tenants with glob
    # characters are hashed, so they cannot reach a pattern at all.
    globby = make_cache(namespace=namespace + special, tenant=special)
    other = make_cache(namespace=namespace + "abc")
    same_prefix = make_cache(namespace=namespace)
    for cache in (globby, other, same_prefix):
        cache.update(special, special, gen("x"))
    globby.clear()
    globby.clear(tenant=special)
    assert globby.lookup(special, special) is None
    assert other.lookup(special, special) == gen("x")
    assert same_prefix.lookup(special, special) == gen("x")


def test_clear_leaves_foreign_keys_alone(
    make_cache: Callable[..., Any],
    gen: Callable[[str], Any],
    redis_client: redis.Redis,
    namespace: str,
) -> None:
    cache = make_cache()
    cache.update("q", LLM, gen("a"))
    user_key = f"{namespace}:llm:v1:user-data"
    redis_client.set(user_key, b"keep me")
    try:
        cache.clear()
        assert redis_client.get(user_key) == b"keep me"
    finally:
        redis_client.delete(user_key)


@pytest.mark.parametrize(
    "planted",
    [b"garbage \xff\xfe", MAGIC + b'{"g": [{"k": "g", "tex', MAGIC, b"", b"\x80\x04pickle",
     b'rlc0j{"g": [{"k": "g", "text": "older framing"}]}'],
    ids=["garbage", "truncated", "header-only", "empty", "pickle", "other-version"],
)  # fmt: skip
def test_corrupt_or_foreign_values_are_misses_counted_and_removed(
    make_cache: Callable[..., Any],
    gen: Callable[[str], Any],
    redis_client: redis.Redis,
    planted: bytes,
) -> None:
    cache = make_cache()
    key = cache.core.exact.key("q", LLM)
    redis_client.set(key, planted)
    assert cache.lookup("q", LLM) is None
    assert redis_client.exists(key) == 0
    stats = cache.stats()
    assert stats["corrupt_removed"] == 1 and stats["misses"] == 1 and stats["errors"] == 0
    cache.update("q", LLM, gen("good"))  # the slot is usable again
    assert cache.lookup("q", LLM) == gen("good")


@pytest.mark.parametrize("max_entries", [None, 10])
def test_wrong_redis_type_at_our_key_is_a_counted_miss_and_removed(
    make_cache: Callable[..., Any],
    gen: Callable[[str], Any],
    redis_client: redis.Redis,
    max_entries: int | None,
) -> None:
    cache = make_cache(max_entries=max_entries)
    key = cache.core.exact.key("q", LLM)
    redis_client.rpush(key, b"x")
    assert cache.lookup("q", LLM) is None
    stats = cache.stats()
    assert stats["corrupt_removed"] == 1 and stats["errors"] == 0  # not a Redis failure
    assert redis_client.exists(key) == 0
    cache.update("q", LLM, gen("good"))
    assert cache.lookup("q", LLM) == gen("good")


@pytest.mark.parametrize("planted", ["corrupt", "wrong-type"])
async def test_async_lookup_of_a_bad_entry_is_a_counted_miss_and_removed(
    make_cache: Callable[..., Any],
    gen: Callable[[str], Any],
    redis_client: redis.Redis,
    async_cleanup: list[Any],
    planted: str,
) -> None:
    # A hit is read without the operation's generators; anything else the read
    # gets (here with a sliding TTL: GETEX) is handed to the operation.
    cache = make_cache(ttl=60, sliding_ttl=True)
    async_cleanup.append(cache)
    key = cache.core.exact.key("q", LLM)
    if planted == "corrupt":
        redis_client.set(key, MAGIC + b'{"g": [')
    else:
        redis_client.rpush(key, b"x")
    assert await cache.alookup("q", LLM) is None
    assert redis_client.exists(key) == 0
    stats = cache.stats()
    assert (stats["corrupt_removed"], stats["misses"], stats["errors"]) == (1, 1, 0)
    await cache.aupdate("q", LLM, gen("good"))
    assert await cache.alookup("q", LLM) == gen("good")
    assert cache.stats()["hits_exact"] == 1


def test_skipped_writes_are_counted(
    make_cache: Callable[..., Any], gen: Callable[[str], Any], driver: Driver
) -> None:
    cache = make_cache(max_entry_bytes=100)
    cache.update("q", LLM, gen("x" * 200))
    cache.update("q2", LLM, driver.unfaithful())
    cache.update("q3", LLM, [])
    assert cache.lookup("q", LLM) is None and cache.lookup("q2", LLM) is None
    assert cache.stats()["skipped_by_reason"] == {"too_large": 1, "unsupported_value": 2}


def test_chat_generations_with_tool_calls_round_trip(
    make_cache: Callable[..., Any], driver: Driver
) -> None:
    cache = make_cache(fresh_message_ids=False)
    value = driver.with_tool_calls()
    cache.update("q", LLM, value)
    assert cache.lookup("q", LLM) == value


def test_concurrent_threads_and_tasks(
    make_cache: Callable[..., Any], gen: Callable[[str], Any]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    cache = make_cache()

    def work(i: int) -> bool:
        cache.update(f"q{i % 10}", LLM, gen(f"a{i % 10}"))
        return cache.lookup(f"q{i % 10}", LLM) == gen(f"a{i % 10}")

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(200)))

    async def main() -> list[bool]:
        async def one(i: int) -> bool:
            await cache.aupdate(f"q{i}", LLM, gen(f"a{i}"))
            return await cache.alookup(f"q{i}", LLM) == gen(f"a{i}")

        try:
            return await asyncio.gather(*(one(i) for i in range(50)))
        finally:
            await cache.aclose()

    assert all(asyncio.run(main()))
    assert all(asyncio.run(main()))  # a second event loop: its own client, no errors
    assert cache.stats()["errors"] == 0


def test_bad_arguments_fail_open_as_counted_internal_errors(
    make_cache: Callable[..., Any],
    gen: Callable[[str], Any],
) -> None:
    cache = make_cache()
    assert cache.lookup(None, LLM) is None  # type: ignore[arg-type]
    cache.update(None, LLM, gen("a"))  # type: ignore[arg-type]
    assert cache.stats()["errors_by_kind"] == {"internal:TypeError": 2}
    strict = make_cache(fail_open=False)
    with pytest.raises(TypeError, match="must be str"):
        strict.lookup(None, LLM)  # type: ignore[arg-type]
