"""The error budget through RedisLLMCache on real Redis, with the bundled model and a
real judge callable that counts its calls.

Similarities quoted in comments were measured with the bundled model.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from langchain_core.load import dumps
from langchain_core.messages import HumanMessage
from langchain_core.outputs import Generation

from redis_llm_cache.core.index.base import partition_id
from redis_llm_cache.core.semantic.tier import SemanticSettings
from redis_llm_cache.embedders import LocalEmbedder
from redis_llm_cache.langchain import RedisLLMCache

LLM = "model=fake;temperature=0"
QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"  # 0.998 similar
NEAR_MISS = "How do I reset my router?"  # 0.927 similar
#: Which texts want the same answer, for the judge.
SAME = {QUESTION: "password", PARAPHRASE: "password", NEAR_MISS: "router"}


class CountingJudge:
    """A judge that knows the answer and counts how often it was asked."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, query: str, candidate: str) -> bool:
        with self._lock:
            self.calls += 1
        return SAME.get(query) == SAME.get(candidate)


def chat(text: str) -> str:
    return dumps([HumanMessage(text)])


def answer(text: str) -> list[Generation]:
    return [Generation(text=text)]


def settled(cache: RedisLLMCache) -> None:
    """Wait until the cache's background labelling is done (a condition, not a
    time: the deadline only stops a broken test from hanging)."""
    deadline = time.monotonic() + 60
    while cache.core.runtime.background.pending and time.monotonic() < deadline:
        time.sleep(0.005)
    assert cache.core.runtime.background.pending == 0


@pytest.fixture
def make(
    redis_servers: dict[str, str],
    build_cache: Callable[..., RedisLLMCache],
    embedder: LocalEmbedder,
) -> Callable[..., RedisLLMCache]:
    def build(**semantic: Any) -> RedisLLMCache:
        semantic.setdefault("strategy", "vectorset")
        return build_cache(
            RedisLLMCache,
            redis_url=redis_servers["plain"],
            embedder=embedder,
            ttl=600,
            semantic=SemanticSettings(**semantic),
        )

    return build


@pytest.fixture
def plain(redis_servers: dict[str, str]) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_servers["plain"])
    yield client
    client.close()


def answered(make: Callable[..., RedisLLMCache], **semantic: Any) -> RedisLLMCache:
    """A cache with an error budget of 5 % where ``QUESTION`` has been answered."""
    cache = make(error_budget=0.05, **semantic)
    cache.update(chat(QUESTION), LLM, answer("password"))
    return cache


def budget_of(cache: RedisLLMCache) -> dict[str, Any]:
    semantic = cache.stats().semantic
    assert semantic is not None
    return semantic.budget


def test_judge_labels_until_the_paraphrase_is_served_and_every_process_shares_it(
    make: Callable[..., RedisLLMCache], plain: redis.Redis
) -> None:
    judge = CountingJudge()
    first = answered(make, judge=judge)
    served_at = None
    for lookup in range(40):
        if first.lookup(chat(PARAPHRASE), LLM) is not None:
            served_at = lookup
            break
        settled(first)
    # Explored (answered as misses) while the judge's labels accumulated, then served.
    assert served_at is not None and served_at >= 1
    settled(first)
    explored = budget_of(first)["explored"]
    assert explored == served_at
    # A served pair is audited now and then (a share of serves), no more.
    assert judge.calls - explored in (0, 1)
    before = judge.calls
    for _ in range(10):
        assert first.lookup(chat(PARAPHRASE), LLM) == answer("password")
        settled(first)
    assert judge.calls - before < 10  # evidence enough: most serves ask no judge
    stats = budget_of(first)
    assert stats["judge_calls"] == judge.calls == stats["observations"]
    assert stats["served"] == 11 and stats["explored"] == explored
    assert stats["judge_said_same"] == judge.calls
    boundaries = stats["boundary_by_partition"]
    assert len(boundaries) == 1

    # The labels live beside the entry, expiring with it.
    semantic = first.core._semantic
    assert semantic is not None and semantic.budget is not None
    exact_key = first.core.exact.key(chat(QUESTION), LLM)
    entry_list = semantic.budget.keys.entry(exact_key)
    assert plain.llen(entry_list) == judge.calls
    assert 0 < plain.pttl(entry_list) <= plain.pttl(exact_key) + 1000

    # Another cache instance (another process) reads the same labels: served at once.
    other_judge = CountingJudge()
    second = make(error_budget=0.05, judge=other_judge)
    assert second.lookup(chat(PARAPHRASE), LLM) == answer("password")
    settled(second)
    assert budget_of(second)["served"] == 1 and budget_of(second)["explored"] == 0
    assert other_judge.calls <= 1  # at most an audit


def test_a_near_miss_is_learned_as_different(
    make: Callable[..., RedisLLMCache], plain: redis.Redis
) -> None:
    judge = CountingJudge()
    cache = answered(make, judge=judge)
    for _ in range(10):
        assert cache.lookup(chat(NEAR_MISS), LLM) is None
        settled(cache)
    stats = budget_of(cache)
    assert stats["served"] == 0
    assert stats["judge_calls"] >= 1 and stats["judge_said_same"] == 0
    semantic = cache.core._semantic
    assert semantic is not None and semantic.budget is not None
    entry_list = semantic.budget.keys.entry(cache.core.exact.key(chat(QUESTION), LLM))
    labels = plain.lrange(entry_list, 0, -1)
    assert labels and all(label.endswith(b",0") for label in labels)


def test_an_inline_judge_serves_what_it_calls_the_same(
    make: Callable[..., RedisLLMCache], plain: redis.Redis
) -> None:
    judge = CountingJudge()
    cache = answered(make, judge=judge, judge_inline=True)
    # Nothing learned yet: the budget would explore; inline, the judge decides now.
    assert cache.lookup(chat(PARAPHRASE), LLM) == answer("password")
    assert cache.lookup(chat(NEAR_MISS), LLM) is None
    settled(cache)
    assert judge.calls == 2
    stats = budget_of(cache)
    assert stats["judged_inline_served"] == 1 and stats["observations"] == 2
    semantic = cache.core._semantic
    assert semantic is not None and semantic.budget is not None
    entry_list = semantic.budget.keys.entry(cache.core.exact.key(chat(QUESTION), LLM))
    assert sorted(label[-1:] for label in plain.lrange(entry_list, 0, -1)) == [b"0", b"1"]


def test_a_failing_judge_is_counted_and_never_breaks_the_lookup(
    make: Callable[..., RedisLLMCache],
) -> None:
    def broken(query: str, candidate: str) -> bool:
        raise RuntimeError("judge down")

    cache = answered(make, judge=broken)
    for _ in range(3):
        assert cache.lookup(chat(PARAPHRASE), LLM) is None
        settled(cache)
    stats = budget_of(cache)
    assert stats["judge_errors"] == 3 and stats["observations"] == 0
    assert cache.stats().errors == 0  # the judge's failure is not a cache failure


def test_a_hanging_judge_is_bounded_in_time_and_counted(
    make: Callable[..., RedisLLMCache],
) -> None:
    release = threading.Event()

    def hanging(query: str, candidate: str) -> bool:
        release.wait(60)
        return True

    cache = answered(make, judge=hanging, label_timeout=0.05)
    try:
        assert cache.lookup(chat(PARAPHRASE), LLM) is None
        settled(cache)
        stats = budget_of(cache)
        assert stats["judge_timeouts"] == 1 and stats["observations"] == 0
    finally:
        release.set()


def test_too_many_pending_judges_are_dropped_and_counted(
    make: Callable[..., RedisLLMCache],
) -> None:
    release = threading.Event()
    started = threading.Semaphore(0)

    def slow(query: str, candidate: str) -> bool:
        started.release()
        release.wait(60)
        return True

    cache = answered(make, judge=slow)
    try:
        background = cache.core.runtime.background
        lookups = 0
        while budget_of(cache)["judge_dropped"] == 0 and lookups < 50:
            assert cache.lookup(chat(PARAPHRASE), LLM) is None
            lookups += 1
        assert budget_of(cache)["judge_dropped"] >= 1
        assert background.pending <= 8
    finally:
        release.set()
    settled(cache)


def test_report_and_label_are_observations(
    make: Callable[..., RedisLLMCache], plain: redis.Redis
) -> None:
    cache = answered(make)  # no judge: only labels and reports teach it
    assert cache.lookup(chat(PARAPHRASE), LLM) is None  # nothing vouches for it yet
    assert budget_of(cache)["missed"]["no_judge"] == 1
    for _ in range(12):
        assert cache.label_semantic(chat(PARAPHRASE), LLM, True) is True
    assert cache.lookup(chat(PARAPHRASE), LLM) == answer("password")
    assert cache.report_wrong_hit(chat(PARAPHRASE), LLM) is True
    stats = budget_of(cache)
    assert stats["labels"] == 12 and stats["observations"] == 13
    semantic = cache.core._semantic
    assert semantic is not None and semantic.budget is not None
    partition = partition_id("", LLM, "")
    labels = plain.lrange(semantic.budget.keys.partition(partition), 0, -1)
    assert len(labels) == 13 and labels[-1].endswith(b",0")


def test_async_lookups_judge_in_tasks_closed_with_the_cache(
    make: Callable[..., RedisLLMCache],
) -> None:
    class AsyncJudge(CountingJudge):
        async def ajudge(self, query: str, candidate: str) -> bool:
            return self(query, candidate)

    judge = AsyncJudge()
    cache = make(error_budget=0.05, judge=judge)

    async def scenario() -> None:
        await cache.aupdate(chat(QUESTION), LLM, answer("password"))
        for _ in range(40):
            if await cache.alookup(chat(PARAPHRASE), LLM) is not None:
                break
            while cache.core.runtime.background.pending:
                await asyncio.sleep(0.001)
        await cache.aclose()

    asyncio.run(scenario())
    assert judge.calls >= 1
    assert budget_of(cache)["served"] == 1


def test_without_a_budget_nothing_changes(make: Callable[..., RedisLLMCache]) -> None:
    judge = CountingJudge()
    cache = make(judge=judge)  # a judge alone does nothing
    cache.update(chat(QUESTION), LLM, answer("password"))
    assert cache.lookup(chat(PARAPHRASE), LLM) == answer("password")
    assert cache.lookup(chat(NEAR_MISS), LLM) is None
    assert judge.calls == 0
    assert budget_of(cache) == {}
    assert cache.label_semantic(chat(PARAPHRASE), LLM, True) is False
