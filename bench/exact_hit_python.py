"""Python cost of an exact hit, with the network taken out.

``RedisLLMCache.lookup`` / ``alookup`` of the payloads of ``exact_lookup.py``, with
the cache's Redis connector replaced by one that returns the stored bytes at once:
what is left is our code (key, operation drivers, fail-open policy, decoding, stats
and token accounting). Reported: the minimum over many short repeats, which on a
shared machine is far steadier than the ratio to a round trip -- use it to compare
code versions; use ``exact_lookup.py`` for what a hit costs next to Redis.

Run: ``.venv/bin/python bench/exact_hit_python.py``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import timeit
from typing import Any

from exact_lookup import LLM_STRING, PROMPT, payloads
from redis_llm_cache.core.codec import frame
from redis_llm_cache.core.ops import Request
from redis_llm_cache.langchain import RedisLLMCache


def offline_cache(stored: Any) -> RedisLLMCache:
    """A cache whose every Redis request answers with the bytes ``stored`` encodes."""
    cache = RedisLLMCache(redis_url="redis://127.0.0.1:1/0")  # never connected
    raw = frame(cache.core.exact.codec.encode(stored))

    def execute(request: Request) -> bytes:
        return raw

    async def aexecute(request: Request) -> bytes:
        return raw

    cache.core.connector.execute = execute  # type: ignore[method-assign]
    cache.core.connector.aexecute = aexecute  # type: ignore[method-assign]
    return cache


def per_call_us(cache: RedisLLMCache, calls: int, repeats: int) -> tuple[float, float]:
    """Microseconds per ``lookup`` and per ``alookup``: minimum over ``repeats``."""

    async def lookups() -> None:
        for _ in range(calls):
            await cache.alookup(PROMPT, LLM_STRING)

    sync_s = min(
        timeit.repeat(lambda: cache.lookup(PROMPT, LLM_STRING), number=calls, repeat=repeats)
    )
    loop = asyncio.new_event_loop()
    try:
        async_s = min(
            timeit.repeat(lambda: loop.run_until_complete(lookups()), number=1, repeat=repeats)
        )
    finally:
        loop.close()
    return sync_s / calls * 1e6, async_s / calls * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100, help="lookups per repeat")
    parser.add_argument("--repeats", type=int, default=1000)
    args = parser.parse_args()
    print("| payload | sync lookup (µs) | async alookup (µs) |")
    print("|---|---:|---:|")
    for name, value in payloads().items():
        cache = offline_cache(value)
        hit = cache.lookup(PROMPT, LLM_STRING)
        if hit is None or hit[0].text != value[0].text:
            raise SystemExit(f"{name}: the lookup did not return the stored answer")
        sync_us, async_us = per_call_us(cache, args.calls, args.repeats)
        print(f"| {name} | {sync_us:.2f} | {async_us:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
