"""Bounded load test: threads x seconds of mixed hits, misses and writes.

Runs the same workload against a single Redis and against a Redis Cluster
(3 masters + 3 replicas), both started by the script on loopback, through
``RedisLLMCache`` (the LangChain adapter) with its default settings unless told
otherwise. Every thread loops until the time is up, choosing per operation:

* ``hit``   -- lookup of a prompt written before the run (must return its answer;
  ``None`` is counted apart, as ``hits_missed``: the cache failed open),
* ``miss``  -- lookup of a prompt never written (must return ``None``),
* ``write`` -- update of a prompt from a bounded pool (same answer each time).

Reported per target: operations and throughput, p50/p99 latency per kind (from a
fixed-size log histogram, so the harness itself holds constant memory), errors
that reached the application (must be 0: the cache fails open), errors the cache
counted (Redis failures, timeouts), wrong answers, and the process's memory --
RSS, and with ``--tracemalloc`` the Python heap -- after the warm-up fifth of
the run and at its end, to show the client does not grow without bound.

Run: ``.venv/bin/python bench/load.py --threads 8 --seconds 60`` (``--targets single``
or ``cluster`` for one; ``--json`` for machine-readable output).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from langchain_core.outputs import Generation

from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.redis.embedded import EmbeddedCluster, EmbeddedRedis

LLM_STRING = "model=load-test;temperature=0"
WARM_PROMPTS = 2000
WRITE_POOL = 5000
MIX = (("hit", 0.6), ("miss", 0.2), ("write", 0.2))
KINDS = tuple(kind for kind, _ in MIX)


def answer_of(prompt: str) -> list[Generation]:
    return [Generation(text=f"answer to {prompt} " + "x" * 200)]


class Histogram:
    """Latencies in log-spaced buckets (1 µs .. 100 s, ~1% wide): constant memory."""

    LOW, HIGH, BUCKETS = 1e-6, 100.0, 1900

    def __init__(self) -> None:
        self.counts = [0] * (self.BUCKETS + 1)
        self._scale = self.BUCKETS / math.log(self.HIGH / self.LOW)

    def add(self, seconds: float) -> None:
        index = int(math.log(max(seconds, self.LOW) / self.LOW) * self._scale)
        self.counts[min(index, self.BUCKETS)] += 1

    def merge(self, other: Histogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]

    @property
    def total(self) -> int:
        return sum(self.counts)

    def percentile(self, q: float) -> float:
        """Upper edge of the bucket holding the ``q`` quantile, in seconds."""
        target = q * self.total
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if count and seen >= target:
                return self.LOW * math.exp((index + 1) / self._scale)
        return float("nan")


@dataclass
class WorkerResult:
    histograms: dict[str, Histogram] = field(
        default_factory=lambda: {kind: Histogram() for kind in KINDS}
    )
    app_errors: int = 0
    wrong_answers: int = 0
    degraded: int = 0
    first_error: str = ""


def rss_bytes() -> int:
    """Resident set size of this process (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def worker(cache: RedisLLMCache, seed: int, stop: threading.Event, result: WorkerResult) -> None:
    rng = random.Random(seed)
    kinds, weights = KINDS, [w for _, w in MIX]
    misses = 0
    while not stop.is_set():
        kind = rng.choices(kinds, weights)[0]
        started = time.perf_counter()
        try:
            if kind == "hit":
                prompt = f"warm prompt {rng.randrange(WARM_PROMPTS)}"
                found = cache.lookup(prompt, LLM_STRING)
                if found is None:  # Redis failed or the breaker was open: fail-open
                    result.degraded += 1
                ok = found is None or found == answer_of(prompt)
            elif kind == "miss":
                misses += 1
                ok = cache.lookup(f"never asked {seed} {misses}", LLM_STRING) is None
            else:
                prompt = f"pool prompt {rng.randrange(WRITE_POOL)}"
                cache.update(prompt, LLM_STRING, answer_of(prompt))
                ok = True
        except Exception as exc:  # the cache must never raise into the app
            result.app_errors += 1
            result.first_error = result.first_error or repr(exc)
            continue
        result.histograms[kind].add(time.perf_counter() - started)
        if not ok:
            result.wrong_answers += 1


def run_load(
    url: str,
    *,
    threads: int,
    seconds: float,
    cache_options: dict[str, Any] | None = None,
    trace_memory: bool = False,
    namespace: str = "loadtest",
) -> dict[str, Any]:
    """Run the workload against ``url`` and return the measurements."""
    cache = RedisLLMCache(redis_url=url, namespace=namespace, **(cache_options or {}))
    try:
        for i in range(WARM_PROMPTS):
            cache.update(f"warm prompt {i}", LLM_STRING, answer_of(f"warm prompt {i}"))
        cache.core.stats_counter.reset()
        if trace_memory:
            tracemalloc.start()
        stop = threading.Event()
        results = [WorkerResult() for _ in range(threads)]
        pool = [
            threading.Thread(target=worker, args=(cache, seed, stop, results[seed]), daemon=True)
            for seed in range(threads)
        ]
        started = time.monotonic()
        for thread in pool:
            thread.start()
        # Memory after the warm-up fifth (clients, pools and memos have filled) and at the end.
        time.sleep(seconds / 5)
        rss_warm = rss_bytes()
        heap_warm = tracemalloc.get_traced_memory()[0] if trace_memory else 0
        snapshot_warm = tracemalloc.take_snapshot() if trace_memory else None
        time.sleep(max(0.0, seconds - (time.monotonic() - started)))
        stop.set()
        for thread in pool:
            thread.join(timeout=30)
        elapsed = time.monotonic() - started
        rss_end = rss_bytes()
        heap_end = tracemalloc.get_traced_memory()[0] if trace_memory else 0
        growth: list[str] = []
        if snapshot_warm is not None:
            diff = tracemalloc.take_snapshot().compare_to(snapshot_warm, "lineno")
            growth = [str(stat) for stat in diff[:5]]
            tracemalloc.stop()
        merged = {kind: Histogram() for kind in KINDS}
        for result in results:
            for kind in KINDS:
                merged[kind].merge(result.histograms[kind])
        stats = cache.stats()
        ops = sum(h.total for h in merged.values())
        return {
            "threads": threads,
            "seconds": round(elapsed, 1),
            "ops": ops,
            "ops_per_s": round(ops / elapsed),
            "latency_ms": {
                kind: {
                    "count": h.total,
                    "p50": round(h.percentile(0.5) * 1000, 3),
                    "p99": round(h.percentile(0.99) * 1000, 3),
                }
                for kind, h in merged.items()
            },
            "app_errors": sum(r.app_errors for r in results),
            "first_app_error": next((r.first_error for r in results if r.first_error), ""),
            "cache_errors": stats["errors"],
            "cache_errors_by_kind": stats["errors_by_kind"],
            "breaker_opens": stats["breaker_opens"],
            "wrong_answers": sum(r.wrong_answers for r in results),
            "hits_missed": sum(r.degraded for r in results),
            "rss_mb": {"warm": round(rss_warm / 2**20, 1), "end": round(rss_end / 2**20, 1)},
            "heap_mb": (
                {"warm": round(heap_warm / 2**20, 2), "end": round(heap_end / 2**20, 2)}
                if trace_memory
                else None
            ),
            "heap_growth_top": growth,
        }
    finally:
        cache.core.clear()
        cache.close()


@contextmanager
def target(name: str) -> Iterator[str]:
    """URL of a fresh server of the kind ``name``, stopped afterwards."""
    if name == "single":
        with EmbeddedRedis() as server:
            yield server.url
    elif name == "cluster":
        with EmbeddedCluster(masters=3, replicas=1) as cluster:
            yield cluster.url
    else:
        raise SystemExit(f"unknown target {name!r}: single or cluster")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--targets", default="single,cluster")
    parser.add_argument("--timeout", type=float, default=None, help="cache round-trip budget (s)")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace the Python heap")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    options = {} if args.timeout is None else {"timeout": args.timeout}
    report = {}
    for name in args.targets.split(","):
        with target(name) as url:
            report[name] = run_load(
                url,
                threads=args.threads,
                seconds=args.seconds,
                cache_options=options,
                trace_memory=args.tracemalloc,
            )
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for name, r in report.items():
        print(
            f"\n{name}: {r['threads']} threads x {r['seconds']} s, {r['ops']} ops "
            f"({r['ops_per_s']}/s); app errors {r['app_errors']}, cache errors "
            f"{r['cache_errors']} {r['cache_errors_by_kind'] or ''}, wrong answers "
            f"{r['wrong_answers']}, hits missed {r['hits_missed']} (breaker opened "
            f"{r['breaker_opens']}x)"
        )
        for kind, lat in r["latency_ms"].items():
            p50, p99 = lat["p50"], lat["p99"]
            print(f"  {kind:5}  n={lat['count']:7}  p50 {p50:8.3f} ms  p99 {p99:8.3f} ms")
        heap = f", heap {r['heap_mb']['warm']} -> {r['heap_mb']['end']} MB" if r["heap_mb"] else ""
        print(f"  memory: RSS {r['rss_mb']['warm']} -> {r['rss_mb']['end']} MB{heap}")
        for line in r["heap_growth_top"]:
            print(f"    {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
