"""Pick HNSW / quantization parameters: recall@1 of the server-side indexes vs exact search.

5k clustered random vectors at d=384 (``--dim``; centres + noise, normalized:
neighbours are close, like paraphrases), one partition holding every entry (the
pre-filter's worst case), queries = perturbed copies of stored vectors. Prints
recall@1, the largest similarity error against float64 truth, p50 (and, for vector
sets, minimum) latency and Redis bytes per entry. Vector sets: quantization x
``VSIM`` ``EF`` / ``FILTER-EF`` (with the expiry filter the index always sends).

Run: ``.venv/bin/python bench/index_recall.py [--n 5000] [--queries 300] [--dim 1024]
[--search-only | --vectorset-only]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
import redis

from redis_llm_cache.core.index.base import IndexEntry, partition_id
from redis_llm_cache.core.index.search import SearchIndex
from redis_llm_cache.core.ops import Call, Request
from redis_llm_cache.redis.embedded import EmbeddedRedis
from redis_llm_cache.runtime import run_sync

DIM = 384
PART = partition_id("bench", "llm", "")


def clustered(n: int, seed: int, spread: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((100, DIM))
    points = centres[rng.integers(0, len(centres), n)] + spread * rng.standard_normal((n, DIM))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def queries_for(data: np.ndarray, count: int, seed: int, noise: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = data[rng.integers(0, len(data), count)].astype(np.float64)
    q = picks + noise * rng.standard_normal(picks.shape) / np.sqrt(DIM)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def execute_on(client: redis.Redis) -> Any:
    def execute(request: Request) -> Any:
        if isinstance(request, Call):
            return client.execute_command(*request.command)
        pipe = client.pipeline(transaction=False)
        for command in request.commands:
            pipe.execute_command(*command)
        return pipe.execute(raise_on_error=False)

    return execute


def bench_search(client: redis.Redis, data: np.ndarray, queries: np.ndarray, truth: Any) -> None:
    execute = execute_on(client)
    index = SearchIndex("bench-search", "bench-model", DIM)
    run_sync(index.clear(), execute)
    if _has_index(client, index):
        client.execute_command("FT.DROPINDEX", index.index_name)
    run_sync(index.prepare(), execute)
    before = used_memory(client)
    now = int(time.time() * 1000)
    for i, v in enumerate(data):
        run_sync(index.add(IndexEntry(f"k:{i:064x}", PART, v, f"q{i}", now, None)), execute)
    while int(_info(client, index.index_name)[b"indexing"]):
        time.sleep(0.1)
    per_entry = (used_memory(client) - before) / len(data)
    # With the partition filter (what the index runs) and without it (pure HNSW: the
    # engine may brute-force a filtered set, which hides the graph's own recall).
    for where, ef in [(w, e) for w in (f"@p:{{{PART}}}", "*") for e in (10, 32, 64, 128)]:
        hits, errs, lat = 0, 0.0, []
        for q, (best, best_sim) in zip(queries, truth, strict=True):
            cmd = (
                "FT.SEARCH", index.index_name,
                f"({where})=>[KNN 1 @v $vec EF_RUNTIME {ef} AS dist]",
                "PARAMS", 2, "vec", q.tobytes(), "SORTBY", "dist", "RETURN", 2, "dist", "k",
                "DIALECT", 2, "LIMIT", 0, 1,
            )  # fmt: skip
            t0 = time.perf_counter()
            reply = client.execute_command(*cmd)
            lat.append(time.perf_counter() - t0)
            doc = reply[b"results"][0][b"extra_attributes"]
            if doc[b"k"].decode() == f"k:{best:064x}":
                hits += 1
                errs = max(errs, abs(1 - float(doc[b"dist"]) - best_sim))
        print(
            f"search {where[:2]:2s} float32 M=16 EFC=200 EF_RUNTIME={ef:4d}: "
            f"recall@1={hits / len(queries):.3f} "
            f"max|sim err|={errs:.1e} p50={statistics.median(lat) * 1e6:.0f}us "
            f"bytes/entry={per_entry:.0f}"
        )
    run_sync(index.clear(), execute)


def _info(client: redis.Redis, name: str) -> Any:
    return client.execute_command("FT.INFO", name)


def _has_index(client: redis.Redis, index: SearchIndex) -> bool:
    try:
        _info(client, index.index_name)
    except redis.ResponseError:
        return False
    return True


def bench_vectorset(client: redis.Redis, data: np.ndarray, queries: np.ndarray, truth: Any) -> None:
    for quant in ("NOQUANT", "Q8", "BIN"):
        key = f"bench-vs:{quant}"
        client.delete(key)
        before = used_memory(client)
        pipe = client.pipeline(transaction=False)
        for i, v in enumerate(data):
            attrs = f'{{"x":9007199254740991,"k":"k:{i:064x}","q":"q{i}","c":0}}'
            pipe.execute_command("VADD", key, "FP32", v.tobytes(), f"{i}", quant, "SETATTR", attrs)
            if i % 500 == 499:
                pipe.execute()
        pipe.execute()
        per_entry = (used_memory(client) - before) / len(data)
        # EF / FILTER-EF: None is the server's default (FILTER-EF = COUNT * 100).
        for ef, filter_ef in ((None, None), (64, None), (None, 64), (64, 64), (200, 200)):
            hits, errs, lat = 0, 0.0, []
            for q, (best, best_sim) in zip(queries, truth, strict=True):
                cmd: tuple[Any, ...] = ("VSIM", key, "FP32", q.tobytes(), "WITHSCORES", "COUNT", 4)
                if ef:
                    cmd += ("EF", ef)
                cmd += ("FILTER", ".x > 1")
                if filter_ef:
                    cmd += ("FILTER-EF", filter_ef)
                t0 = time.perf_counter()
                reply = client.execute_command(*cmd)
                lat.append(time.perf_counter() - t0)
                (name, score), *_ = reply.items()
                if int(name) == best:
                    hits += 1
                    errs = max(errs, abs(2 * score - 1 - best_sim))
            print(
                f"vectorset {quant:7s} EF={ef!s:4s} FILTER-EF={filter_ef!s:4s}: "
                f"recall@1={hits / len(queries):.3f} max|sim err|={errs:.1e} "
                f"p50={statistics.median(lat) * 1e6:.0f}us min={min(lat) * 1e6:.0f}us "
                f"bytes/entry={per_entry:.0f}"
            )
        client.delete(key)


def main() -> None:
    global DIM  # --dim overrides the module default the helpers read
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--spread", type=float, default=1.5, help="cluster noise (x centre)")
    parser.add_argument("--noise", type=float, default=0.5, help="query noise (norm)")
    parser.add_argument("--search-only", action="store_true")
    parser.add_argument("--vectorset-only", action="store_true")
    parser.add_argument("--dim", type=int, default=DIM)
    parser.add_argument(
        "--fresh", action="store_true", help="queries are new points of the same clusters"
    )
    args = parser.parse_args()
    DIM = args.dim
    points = clustered(args.n + args.queries, 1, args.spread)
    data = points[: args.n]
    # --fresh, the hard case: the nearest stored vector is not a near copy of the query.
    queries = points[args.n :] if args.fresh else queries_for(data, args.queries, 2, args.noise)
    sims = queries.astype(np.float64) @ data.astype(np.float64).T
    best = sims.argmax(axis=1)
    truth = [(int(b), float(sims[i, b])) for i, b in enumerate(best)]
    second = np.sort(sims, axis=1)[:, -2]
    print(
        f"n={args.n} d={DIM} queries={args.queries}; best sim median "
        f"{np.median(sims.max(axis=1)):.3f}, "
        f"gap to 2nd median {np.median(sims.max(1) - second):.3f}"
    )
    with EmbeddedRedis(modules=("search",)) as server:
        client = redis.Redis.from_url(server.url)
        if not args.vectorset_only:
            bench_search(client, data, queries, truth)
        if not args.search_only:
            bench_vectorset(client, data, queries, truth)
        client.close()


if __name__ == "__main__":
    main()
