"""Semantic-tier vector search: our three index strategies vs RedisVL SemanticCache.

Precomputed vectors, so embedding time is excluded. For each N (entries) and d
(dimensions): bulk-insert rate, lookup latency p50/p99 (k=1, one partition
holding every entry -- the pre-filter's worst case), Redis bytes per entry
(``used_memory`` growth / N, answer of ~1 KB included), and recall@1 of the
approximate indexes against exact search (numpy) on the same vectors.

Vectors: with ``--data DIR`` the 384-d runs use real embeddings of labelled
questions (the bundled model, queries = the other side of each pair); otherwise,
and for 1024-d, clustered random vectors (centres + noise, normalized), with
queries that are perturbed copies of stored vectors.

Contenders, one server per run (Redis 8.2 + RediSearch): ``search`` (RediSearch
HNSW, TAG pre-filter), ``vectorset`` (VADD/VSIM), ``client`` (in-process index
kept in step with Redis), RedisVL ``SemanticCache`` (its default FLAT index,
``store``/``check`` with our vectors), and at N=1k the naive "scan every key"
approach (HGETALL each entry, cosine in Python).

Run: ``.venv/bin/python bench/semantic_index.py [--sizes 1000,10000,100000] [--dims 384,1024]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import redis

from redis_llm_cache.cache import make_index
from redis_llm_cache.config import CacheSettings
from redis_llm_cache.core.index.base import IndexEntry, partition_id
from redis_llm_cache.redis.connection import RedisConnector
from redis_llm_cache.redis.embedded import EmbeddedRedis
from redis_llm_cache.runtime import run_sync

warnings.filterwarnings("ignore")

ANSWER = "x" * 1000
QUERIES = 300


def clustered(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n // 50), d)).astype(np.float32)
    rows = centres[rng.integers(0, len(centres), n)] + 0.35 * rng.standard_normal((n, d)).astype(
        np.float32
    )
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def perturbed(base: np.ndarray, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = base[rng.integers(0, len(base), count)]
    # Noise of about 30 % of a unit vector's length: near, not identical, questions.
    noise = rng.standard_normal(picks.shape).astype(np.float32) * (0.3 / np.sqrt(base.shape[1]))
    noisy = picks + noise
    return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)


def real_vectors(data: Path, n: int, cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of the first ``n`` questions and of ``QUERIES`` paraphrases; with
    ``cache`` (a directory outside the repository) they are embedded once:
    ``stored.npy`` holds the longest prefix embedded so far, ``queries.npy`` the queries."""
    if cache is not None and (cache / "stored.npy").exists() and (cache / "queries.npy").exists():
        stored = np.load(cache / "stored.npy")
        if len(stored) >= n:
            return stored[:n], np.load(cache / "queries.npy")
    from redis_llm_cache.embedders import LocalEmbedder

    a: list[str] = []
    b: list[str] = []
    for path in sorted(data.glob("*.jsonl")):
        for line in path.open(encoding="utf-8"):
            row = json.loads(line)
            a.append(row["a"])
            b.append(row["b"])
            if len(a) >= n:
                break
        if len(a) >= n:
            break
    embedder = LocalEmbedder()
    stored, queries = embedder.embed(a, role="query"), embedder.embed(b[:QUERIES], role="query")
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.save(cache / "stored.npy", stored)
        np.save(cache / "queries.npy", queries)
    return stored, queries


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def run_ours(
    strategy: str, dtype: str, url: str, stored: np.ndarray, queries: np.ndarray, tag: str
) -> dict[str, Any]:
    n, d = stored.shape
    connector = RedisConnector(url=url, settings=CacheSettings(timeout=30, connect_timeout=5))
    client = redis.Redis.from_url(url)
    index = make_index(strategy, namespace=f"b{tag}", model_key=f"bench-{d}", dimensions=d,
                       dtype=dtype)  # fmt: skip
    run_sync(index.prepare(), connector.execute)
    partition = partition_id("", "bench", "")
    before = used_memory(client)
    started = time.perf_counter()
    for i in range(n):
        exact_key = f"b{tag}:llm:v1:{i:016x}:{0:016x}:{i:064x}"
        client.set(exact_key, ANSWER)
        entry = IndexEntry(
            exact_key=exact_key,
            partition=partition,
            vector=stored[i],
            text=f"question {i}",
            created_ms=int(time.time() * 1000),
            ttl_ms=None,
        )
        run_sync(index.add(entry), connector.execute)
    insert_s = time.perf_counter() - started
    time.sleep(0.5)  # let background indexing settle before measuring memory
    bytes_per_entry = (used_memory(client) - before) / n
    latencies, found = [], []
    for q in queries:
        t0 = time.perf_counter()
        result = run_sync(index.search(q, partition, k=1, min_similarity=-1.0), connector.execute)
        latencies.append(time.perf_counter() - t0)
        found.append(int(result[0].exact_key.rsplit(":", 1)[1], 16) if result else -1)
    truth = np.argmax(queries @ stored.T, axis=1)
    recall = float(np.mean(np.asarray(found) == truth))
    run_sync(index.clear(), connector.execute)
    connector.close()
    client.close()
    return {
        "insert_per_s": n / insert_s,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": float(np.percentile(latencies, 99) * 1000),
        "min_ms": min(latencies) * 1000,
        "bytes_per_entry": bytes_per_entry,
        "recall@1": recall,
    }


def run_client_exact(url: str, stored: np.ndarray, queries: np.ndarray, tag: str) -> dict[str, Any]:
    """The ``client`` index with its two-stage search switched off: the baseline."""
    from redis_llm_cache.core.index import client as client_index

    saved = client_index._COARSE_MIN_ROWS
    client_index._COARSE_MIN_ROWS = len(stored) + 1
    try:
        return run_ours("client", "float16", url, stored, queries, tag + "x")
    finally:
        client_index._COARSE_MIN_ROWS = saved


def run_redisvl(url: str, stored: np.ndarray, queries: np.ndarray, tag: str) -> dict[str, Any]:
    from redisvl.extensions.cache.llm import SemanticCache
    from redisvl.utils.vectorize import CustomTextVectorizer

    n, d = stored.shape
    vectorizer = CustomTextVectorizer(embed=lambda text: [0.0] * d)
    client = redis.Redis.from_url(url)
    cache = SemanticCache(name=f"rvl{tag}", redis_client=client, vectorizer=vectorizer,
                          distance_threshold=2.0)  # fmt: skip
    before = used_memory(client)
    started = time.perf_counter()
    for i in range(n):
        cache.store(prompt=f"question {i}", response=ANSWER, vector=stored[i].tolist(),
                    metadata={"i": i})  # fmt: skip
    insert_s = time.perf_counter() - started
    time.sleep(0.5)
    bytes_per_entry = (used_memory(client) - before) / n
    latencies, found = [], []
    for q in queries:
        t0 = time.perf_counter()
        hits = cache.check(vector=q.tolist(), num_results=1)
        latencies.append(time.perf_counter() - t0)
        found.append(int(hits[0]["metadata"]["i"]) if hits else -1)
    truth = np.argmax(queries @ stored.T, axis=1)
    recall = float(np.mean(np.asarray(found) == truth))
    cache.delete()
    return {
        "insert_per_s": n / insert_s,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": float(np.percentile(latencies, 99) * 1000),
        "min_ms": min(latencies) * 1000,
        "bytes_per_entry": bytes_per_entry,
        "recall@1": recall,
    }


def run_naive(url: str, stored: np.ndarray, queries: np.ndarray, tag: str) -> dict[str, Any]:
    """Scan every key, compare in Python: what a cache without an index does."""
    n = len(stored)
    client = redis.Redis.from_url(url)
    pipe = client.pipeline(transaction=False)
    started = time.perf_counter()
    for i in range(n):
        pipe.hset(f"naive{tag}:{i}", mapping={"v": stored[i].tobytes(), "r": ANSWER})
    pipe.execute()
    insert_s = time.perf_counter() - started
    latencies, found = [], []
    for q in queries[:50]:
        t0 = time.perf_counter()
        best, best_i = -2.0, -1
        for key in client.scan_iter(match=f"naive{tag}:*", count=1000):
            vector = np.frombuffer(client.hget(key, "v"), dtype=np.float32)
            sim = float(vector @ q)
            if sim > best:
                best, best_i = sim, int(key.rsplit(b":", 1)[1])
        latencies.append(time.perf_counter() - t0)
        found.append(best_i)
    truth = np.argmax(queries[:50] @ stored.T, axis=1)
    for start in range(0, n, 1000):
        client.delete(*[f"naive{tag}:{i}" for i in range(start, min(n, start + 1000))])
    return {
        "insert_per_s": n / insert_s,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": float(np.percentile(latencies, 99) * 1000),
        "min_ms": min(latencies) * 1000,
        "bytes_per_entry": float("nan"),
        "recall@1": float(np.mean(np.asarray(found) == truth)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--dims", default="384,1024")
    parser.add_argument("--data", type=Path, help="labelled pairs dir for real 384-d vectors")
    parser.add_argument("--skip", default="", help="comma-separated contenders to skip")
    parser.add_argument("--dtypes", default="float32,float16", help="our stored vector types")
    parser.add_argument("--embedding-cache", type=Path, help="directory for real embeddings")
    parser.add_argument(
        "--client-exact", action="store_true", help="also the client index without two stages"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    dims = [int(d) for d in args.dims.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    rows = []
    with EmbeddedRedis(modules=("search", "json")) as server:
        for d in dims:
            for n in sizes:
                if d == 384 and args.data is not None:
                    stored, queries = real_vectors(args.data, n, args.embedding_cache)
                    source = "real e5"
                else:
                    stored = clustered(n, d, seed=n + d)
                    queries = perturbed(stored, QUERIES, seed=7)
                    source = "clustered"
                tag = f"{n}x{d}"
                contenders: list[tuple[str, Any, tuple[Any, ...]]] = [
                    (f"ours: {strategy} ({dtype})", run_ours, (strategy, dtype))
                    for strategy in ("search", "vectorset", "client")
                    for dtype in args.dtypes.split(",")
                ]
                if args.client_exact:
                    contenders.append(("ours: client (float16, exact scan)", run_client_exact, ()))
                contenders.append(("RedisVL SemanticCache", run_redisvl, ()))
                if n <= 1000:
                    contenders.append(("naive scan", run_naive, ()))
                for name, fn, extra in contenders:
                    if any(s in name for s in skip):
                        continue
                    result = fn(*extra, server.url, stored, queries, tag)
                    rows.append((n, d, source, name, result))
                    print(n, d, name, {k: round(v, 3) for k, v in result.items()}, flush=True)
    print(
        "\n| N | d | vectors | contender | insert/s | lookup p50 (ms) | p99 (ms) | min (ms) "
        "| bytes/entry | recall@1 |"
    )
    print("|---:|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for n, d, source, name, r in rows:
        print(
            f"| {n:,} | {d} | {source} | {name} | {r['insert_per_s']:,.0f} | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['min_ms']:.2f} | {r['bytes_per_entry']:,.0f} | "
            f"{r['recall@1']:.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
