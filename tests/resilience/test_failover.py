"""A master of the Redis Cluster is killed (SIGKILL) in the middle of LangChain calls.

Each test starts a cluster of its own (3 masters + 3 replicas, ``cluster-node-timeout``
1 s) so the session cluster stays whole. While the master is gone every call is
still answered (by the model when the cache cannot), nothing reaches the app as
an exception, the failures are counted, and once its replica has been promoted
the cache serves hits again by itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
import redis.cluster

from redis_llm_cache.config import DEFAULT_NAMESPACE
from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.redis.embedded import EmbeddedCluster, EmbeddedRedis
from support.chat_models import EchoChatModel

pytestmark = pytest.mark.disruptive

PROMPTS = [f"question number {i}" for i in range(24)]
#: Bound on waiting for the failover and the cache to serve hits again.
RECOVERY_S = 60.0


def cluster_cache(cluster: EmbeddedCluster) -> RedisLLMCache:
    # A budget that survives a loaded CI machine (the rounds before the kill assert
    # hits); a killed master refuses connections, and the breaker keeps the outage cheap.
    return RedisLLMCache(
        redis_url=cluster.url, timeout=2.0, connect_timeout=2.0, breaker_cooldown=0.2
    )


def pick_victim(cluster: EmbeddedCluster) -> tuple[EmbeddedRedis, str]:
    """A master holding some of the cached entries (and one of its keys), not the
    URL's node (a client made later must still reach one node to discover the rest)."""
    client = redis.cluster.RedisCluster.from_url(cluster.url)
    try:
        keys = [key.decode() for key in client.scan_iter(match=f"{DEFAULT_NAMESPACE}:llm:*")]
    finally:
        client.close()
    assert len(keys) >= len(PROMPTS)
    for key in keys:
        master = cluster.master_of(key)
        if master is not cluster.nodes[0]:
            return master, key
    raise AssertionError("every entry is on the first node")


class Tally:
    """Every answer the model gave to each prompt. A hit must be one of its own
    prompt's answers (not necessarily the latest: a model answer given while the
    cache could not write leaves the older cached one in place)."""

    def __init__(self, chat: EchoChatModel) -> None:
        self.chat = chat
        self.answers: dict[str, set[str]] = {}

    def record(self, prompt: str, reply: str, calls_before: int) -> bool:
        """True if the model answered (a miss)."""
        if self.chat.calls > calls_before:
            self.answers.setdefault(prompt, set()).add(reply)
            return True
        assert reply in self.answers[prompt]  # never another prompt's answer
        return False


def ask_all(tally: Tally) -> int:
    """Ask every prompt once; returns how many the model had to answer."""
    misses = 0
    for prompt in PROMPTS:
        before = tally.chat.calls
        reply = tally.chat.invoke(prompt).content  # never raises: fail-open
        misses += tally.record(prompt, str(reply), before)
    return misses


async def aask_all(tally: Tally) -> int:
    misses = 0
    for prompt in PROMPTS:
        before = tally.chat.calls
        reply = (await tally.chat.ainvoke(prompt)).content
        misses += tally.record(prompt, str(reply), before)
    return misses


def test_master_killed_mid_run(make_cluster: Callable[..., EmbeddedCluster]) -> None:
    cluster = make_cluster(node_timeout_ms=1000)
    cache = cluster_cache(cluster)
    tally = Tally(EchoChatModel(cache=cache))
    assert ask_all(tally) == len(PROMPTS)
    assert ask_all(tally) == 0  # all hits
    victim, victim_key = pick_victim(cluster)

    cluster.kill(victim)
    misses = [ask_all(tally)]
    assert misses[0] >= 1  # the dead master's entries: answered by the model
    deadline = time.monotonic() + RECOVERY_S
    while misses[-1] > 0:  # until one whole round is served from the cache again
        assert time.monotonic() < deadline, f"hits did not resume: misses per round {misses}"
        misses.append(ask_all(tally))
    assert cache.stats()["errors"] >= 1  # the outage was seen and counted
    assert cluster.master_of(victim_key) is not victim  # its replica took over
    cache.close()


async def test_master_killed_mid_run_async(make_cluster: Callable[..., EmbeddedCluster]) -> None:
    cluster = make_cluster(node_timeout_ms=1000)
    cache = cluster_cache(cluster)
    tally = Tally(EchoChatModel(cache=cache))
    assert await aask_all(tally) == len(PROMPTS)
    assert await aask_all(tally) == 0
    victim, victim_key = pick_victim(cluster)

    cluster.kill(victim)
    # Concurrent calls while the master is gone: every one is answered.
    calls_before = tally.chat.calls
    replies = await asyncio.gather(*(tally.chat.ainvoke(p) for p in PROMPTS))
    for prompt, reply in zip(PROMPTS, replies, strict=True):
        content = str(reply.content)
        if int(content.removeprefix("answer ")) > calls_before:  # the model's, just now
            tally.answers[prompt].add(content)
        else:
            assert content in tally.answers[prompt]  # a hit: this prompt's own answer
    misses = [await aask_all(tally)]
    deadline = time.monotonic() + RECOVERY_S
    while misses[-1] > 0:
        assert time.monotonic() < deadline, f"hits did not resume: misses per round {misses}"
        misses.append(await aask_all(tally))
    assert cache.stats()["errors"] >= 1
    assert cluster.master_of(victim_key) is not victim
    await cache.aclose()
    cache.close()
