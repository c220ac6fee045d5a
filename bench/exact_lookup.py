"""Exact-hit lookup latency: RedisLLMCache vs a raw GET and the LangChain peers.

Every contender reads the same answer from the same Redis 8.2 server (RedisJSON
loaded, which langchain-redis needs) through redis-py with hiredis, one lookup
per round trip -- no in-process tier anywhere. Contenders run interleaved in
rounds so machine noise hits them alike; each round records every call's
latency, and results are medians over rounds of per-round medians. Ratios are
against the raw ``GET`` of the same round, for the same payload.

Run: ``make bench`` (or ``.venv/bin/python bench/exact_lookup.py --rounds 15``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation

from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.redis.embedded import EmbeddedRedis

# langchain-community announces its sunset on import and warns on every lookup
# (it calls `loads` without `allowed_objects`); neither concerns the timing.
warnings.filterwarnings("ignore")

PROMPT = '[{"role": "user", "content": "What is the weather in Paris tomorrow?"}]'
LLM_STRING = "model=gpt-4o-mini;temperature=0;max_tokens=512"
ANSWER = (
    "Tomorrow in Paris expect a mild, partly cloudy day with highs around 18 C and "
    "a light breeze from the west. " * 8
)[:1000]


def payloads() -> dict[str, list[Generation]]:
    chat = ChatGeneration(
        message=AIMessage(
            content=ANSWER,
            tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}],
            usage_metadata={"input_tokens": 42, "output_tokens": 230, "total_tokens": 272},
            response_metadata={"model_name": "gpt-4o-mini", "finish_reason": "stop"},
            id="lc_run-3f1c",
        ),
        generation_info={"finish_reason": "stop"},
    )
    return {
        "Generation (1 KB text)": [
            Generation(text=ANSWER, generation_info={"finish_reason": "stop"})
        ],
        "ChatGeneration (1 KB, tool call, usage)": [chat],
    }


def time_calls(fn: Callable[[], Any], calls: int) -> float:
    """Median seconds per call over ``calls`` calls."""
    samples = []
    clock = time.perf_counter
    for _ in range(calls):
        started = clock()
        fn()
        samples.append(clock() - started)
    return statistics.median(samples)


async def atime_calls(fn: Callable[[], Any], calls: int) -> float:
    samples = []
    clock = time.perf_counter
    for _ in range(calls):
        started = clock()
        await fn()
        samples.append(clock() - started)
    return statistics.median(samples)


def peer_caches(url: str, value: list[Generation], tag: str) -> dict[str, tuple[Any, str]]:
    """The LangChain peers that are installed (the ``bench`` extra), each holding
    ``value``, with the prompt it was stored under; ``{}`` without them."""
    peers: dict[str, tuple[Any, str]] = {}
    try:
        from langchain_redis import RedisCache as LangchainRedisCache
    except ImportError:
        print("langchain-redis not installed: left out", file=sys.stderr)
    else:
        lc_redis = LangchainRedisCache(redis_url=url, prefix=f"bench-lcr-{tag}")
        lc_redis.update(PROMPT, LLM_STRING, value)
        peers["langchain-redis RedisCache"] = (lc_redis, PROMPT)
    try:
        from langchain_community.cache import RedisCache as CommunityRedisCache
    except ImportError:
        print("langchain-community not installed: left out", file=sys.stderr)
    else:
        community = CommunityRedisCache(redis.Redis.from_url(url))
        community.update(PROMPT + tag, LLM_STRING, value)
        peers["langchain-community RedisCache"] = (community, PROMPT + tag)
    return peers


def sync_contenders(url: str, value: list[Generation], tag: str) -> dict[str, Callable[[], Any]]:
    ours = RedisLLMCache(redis_url=url, namespace=f"bench-ours-{tag}", fresh_message_ids=True)
    ours.update(PROMPT, LLM_STRING, value)
    stored_key = ours.core.exact.key(PROMPT, LLM_STRING)

    raw_client = redis.Redis.from_url(url)
    payload = raw_client.get(stored_key)
    assert payload is not None
    raw_key = f"bench-raw-{tag}"
    raw_client.set(raw_key, payload)

    caches = {"RedisLLMCache": (ours, PROMPT), **peer_caches(url, value, tag)}
    for name, (cache, prompt) in caches.items():
        got = cache.lookup(prompt, LLM_STRING)
        if got is None or len(got) != len(value) or got[0].text != value[0].text:
            raise SystemExit(f"{name} did not return the stored answer: {got!r}")

    contenders: dict[str, Callable[[], Any]] = {"raw redis-py GET": lambda: raw_client.get(raw_key)}
    for name, (cache, prompt) in caches.items():
        contenders[name] = lambda cache=cache, prompt=prompt: cache.lookup(prompt, LLM_STRING)
    return contenders


def run_sync(url: str, rounds: int, calls: int) -> list[tuple[str, str, float, float]]:
    rows = []
    for payload_name, value in payloads().items():
        tag = str(abs(hash(payload_name)))
        contenders = sync_contenders(url, value, tag)
        per_round: dict[str, list[float]] = {name: [] for name in contenders}
        ratios: dict[str, list[float]] = {name: [] for name in contenders}
        for fn in contenders.values():  # warm connections and code paths
            time_calls(fn, 200)
        for _ in range(rounds):
            medians = {name: time_calls(fn, calls) for name, fn in contenders.items()}
            for name, value_s in medians.items():
                per_round[name].append(value_s)
                ratios[name].append(value_s / medians["raw redis-py GET"])
        for name in contenders:
            rows.append(
                (
                    payload_name,
                    name,
                    statistics.median(per_round[name]) * 1e6,
                    statistics.median(ratios[name]),
                )
            )
    return rows


async def run_async(url: str, rounds: int, calls: int) -> list[tuple[str, str, float, float]]:
    rows = []
    for payload_name, value in payloads().items():
        tag = "a" + str(abs(hash(payload_name)))
        ours = RedisLLMCache(redis_url=url, namespace=f"bench-ours-{tag}")
        await ours.aupdate(PROMPT, LLM_STRING, value)
        client = redis.asyncio.Redis.from_url(url)
        raw_key = f"bench-raw-{tag}"
        await client.set(raw_key, await client.get(ours.core.exact.key(PROMPT, LLM_STRING)))
        contenders: dict[str, Callable[[], Any]] = {
            "raw redis.asyncio GET": lambda client=client, raw_key=raw_key: client.get(raw_key),
            "RedisLLMCache (async)": lambda ours=ours: ours.alookup(PROMPT, LLM_STRING),
        }
        assert (await ours.alookup(PROMPT, LLM_STRING)) is not None
        for fn in contenders.values():
            await atime_calls(fn, 200)
        per_round: dict[str, list[float]] = {name: [] for name in contenders}
        ratios: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(rounds):
            medians = {name: await atime_calls(fn, calls) for name, fn in contenders.items()}
            for name, value_s in medians.items():
                per_round[name].append(value_s)
                ratios[name].append(value_s / medians["raw redis.asyncio GET"])
        for name in contenders:
            rows.append(
                (
                    payload_name,
                    name,
                    statistics.median(per_round[name]) * 1e6,
                    statistics.median(ratios[name]),
                )
            )
        await ours.aclose()
        await client.aclose()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=1000, help="lookups per contender per round")
    args = parser.parse_args()
    with EmbeddedRedis(modules=("json",)) as server:
        rows = run_sync(server.url, args.rounds, args.calls)
        rows += asyncio.run(run_async(server.url, args.rounds, args.calls))
    print(f"\nExact-hit lookup, {args.rounds} rounds x {args.calls} calls, median per call\n")
    print("| payload | contender | p50 per lookup (us) | ratio to raw GET |")
    print("|---|---|---:|---:|")
    for payload_name, name, micros, ratio in rows:
        print(f"| {payload_name} | {name} | {micros:.1f} | {ratio:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
