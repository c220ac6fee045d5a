"""Index build parameters vs insert speed and recall@1, on real embeddings.

Vectors: the bench's cached 384-d embeddings of the labelled pairs (the bundled
model; ``~/.cache/redis-llm-cache-bench/*.test.500.*.npz``, written by
``bench/verifier/common.py``): stored = every pair's first side plus the second side
of pairs 150..499 of each set (distractors that are paraphrases of stored ones);
queries = the second side of pairs 0..149. A result is right when its exact (float64)
cosine equals the best stored one's (within 1e-6): the sets repeat questions, so a
query often has several equally near stored vectors. ``--tile K`` repeats the
stored set K times with a small random perturbation per copy, to reach a larger N
with the same neighbourhood structure (said in the output).

Contenders (one Redis 8.2 + RediSearch, started by the script):

* RediSearch HNSW, FLOAT16, M 16, ``EF_CONSTRUCTION`` 200 / 100 / 64, ``EF_RUNTIME`` 64:
  ``HSET`` one at a time (p50 per insert), then KNN 1.
* Vector sets, ``VADD ... EF <e>`` ``NOQUANT`` / ``Q8``, one at a time and pipelined
  with ``CAS`` (the neighbour search runs in a server thread); ``VSIM ... EF 64``.
* ``Q8`` + exact rerank: ``VSIM COUNT 8`` on the Q8 set, candidates rescored in numpy
  against float16 copies of their vectors (what a stored fp16 copy allows).

Run: ``python bench/build_params.py [--tile 1]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import redis

CACHE = Path.home() / ".cache" / "redis-llm-cache-bench"
FIRST = 150  # per set: pairs whose second side is a query


def real_vectors(tile: int) -> tuple[np.ndarray, np.ndarray]:
    stored, queries = [], []
    for path in sorted(CACHE.glob("*.test.500.*.npz")):
        v = np.load(path)["v"].astype(np.float32)
        a, b = v[: len(v) // 2], v[len(v) // 2 :]
        stored += [a, b[FIRST:]]
        queries.append(b[:FIRST])
    base = np.concatenate(stored)
    rng = np.random.default_rng(5)
    copies = [base]
    for _ in range(tile - 1):
        # A small random rotation-like perturbation: same geometry, other points.
        noisy = base + 0.05 * rng.standard_normal(base.shape).astype(np.float32) / np.sqrt(
            base.shape[1]
        )
        copies.append(noisy / np.linalg.norm(noisy, axis=1, keepdims=True))
    all_stored = np.concatenate(copies).astype(np.float32)
    all_stored /= np.linalg.norm(all_stored, axis=1, keepdims=True)
    q = np.concatenate(queries)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return all_stored, q.astype(np.float32)


def per_call(calls: list[Any]) -> tuple[float, float]:
    latencies = []
    started = time.perf_counter()
    for call in calls:
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)
    return statistics.median(latencies) * 1000, len(calls) / (time.perf_counter() - started)


def hnsw(c: redis.Redis, stored: np.ndarray, queries: np.ndarray, efc: int) -> dict[str, Any]:
    c.flushall()
    d = stored.shape[1]
    c.execute_command(
        "FT.CREATE", "i", "ON", "HASH", "PREFIX", 1, "h:", "SCHEMA", "v", "VECTOR", "HNSW", 12,
        "TYPE", "FLOAT16", "DIM", d, "DISTANCE_METRIC", "COSINE", "M", 16,
        "EF_CONSTRUCTION", efc, "EF_RUNTIME", 64,
    )  # fmt: skip
    blobs = [v.astype(np.float16).tobytes() for v in stored]
    p50, rate = per_call([lambda i=i: c.hset(f"h:{i}", "v", blobs[i]) for i in range(len(blobs))])
    found = []
    for q in queries:
        reply = c.execute_command(
            "FT.SEARCH", "i", "*=>[KNN 1 @v $b AS d]", "PARAMS", 2, "b",
            q.astype(np.float16).tobytes(), "NOCONTENT", "DIALECT", 2,
        )  # fmt: skip
        found.append(int(reply[1].split(b":")[1]) if reply[0] else -1)
    return {"insert_p50_ms": p50, "inserts_per_s": rate, "found": found}


def vset(
    c: redis.Redis, stored: np.ndarray, queries: np.ndarray, quant: str, ef: int, cas: bool
) -> dict[str, Any]:
    c.flushall()
    blobs = [v.tobytes() for v in stored]
    extra = ("CAS",) if cas else ()
    if cas:  # pipelined: the server overlaps the neighbour searches
        started = time.perf_counter()
        for start in range(0, len(blobs), 256):
            pipe = c.pipeline(transaction=False)
            for i in range(start, min(len(blobs), start + 256)):
                pipe.execute_command("VADD", "s", "FP32", blobs[i], str(i), quant, "EF", ef, *extra)
            pipe.execute()
        p50, rate = float("nan"), len(blobs) / (time.perf_counter() - started)
    else:
        p50, rate = per_call(
            [
                lambda i=i: c.execute_command(
                    "VADD", "s", "FP32", blobs[i], str(i), quant, "EF", ef
                )
                for i in range(len(blobs))
            ]
        )
    found, reranked = [], []
    fp16 = stored.astype(np.float16).astype(np.float32)
    for q in queries:
        reply = c.execute_command("VSIM", "s", "FP32", q.tobytes(), "COUNT", 8, "EF", 64)
        ids = [int(x) for x in reply]
        found.append(ids[0] if ids else -1)
        reranked.append(ids[int(np.argmax(fp16[ids] @ q))] if ids else -1)
    return {"insert_p50_ms": p50, "inserts_per_s": rate, "found": found, "reranked": reranked}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tile", type=int, default=1)
    parser.add_argument("--url")
    args = parser.parse_args()
    stored, queries = real_vectors(args.tile)
    sims = queries.astype(np.float64) @ stored.astype(np.float64).T
    best = sims.max(axis=1)
    rows_index = np.arange(len(queries))
    tiled = f" (tiled x{args.tile})" if args.tile > 1 else ""
    print(
        f"{len(stored):,} stored x {stored.shape[1]}-d real embeddings{tiled}, "
        f"{len(queries)} queries"
    )
    server = None
    url = args.url
    if url is None:
        from redis_llm_cache.redis.embedded import EmbeddedRedis

        server = EmbeddedRedis(modules=("search",)).start()
        url = server.url
    c = redis.Redis.from_url(url, protocol=2)
    rows = []

    def report(name: str, r: dict[str, Any], key: str = "found") -> None:
        # A result as similar as the best (1e-6) is right: the pair files repeat
        # questions, so many queries have several stored vectors at the same cosine.
        recall = float(np.mean(sims[rows_index, np.asarray(r[key])] >= best - 1e-6))
        rows.append((name, r["insert_p50_ms"], r["inserts_per_s"], recall))
        print(rows[-1], flush=True)

    for efc in (200, 100, 64):
        report(f"search HNSW EF_CONSTRUCTION {efc}", hnsw(c, stored, queries, efc))
    for quant in ("NOQUANT", "Q8"):
        for ef in (200, 100):
            for cas in (False, True):
                r = vset(c, stored, queries, quant, ef, cas)
                name = f"VADD {quant} EF {ef}{' CAS pipelined' if cas else ''}"
                report(name, r)
                if quant == "Q8":
                    report(name + " + fp16 rerank of 8", r, "reranked")
    print("\n| contender | insert p50 (ms) | inserts/s | recall@1 |\n|---|---:|---:|---:|")
    for name, p50, rate, recall in rows:
        print(f"| {name} | {p50:.2f} | {rate:,.0f} | {recall:.3f} |")
    if server is not None:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
