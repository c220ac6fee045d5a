"""Search latency of the ``client`` vector index (a sanity check, not a test).

Loads N random unit vectors of d dimensions into one partition through
``ClientIndex.add`` (many adds driven together, one pipeline per step), then a
second ``ClientIndex`` -- another process, in effect -- loads them with one full
resync and answers searches. Reported per (N, d):

* ``resync_s``   -- the one full load a new process does;
* ``search_ms``  -- p50 / p99 of a whole ``search`` through the sync driver: journal
  read, in-memory search over all N rows (exact below 8,192 rows, two stages above:
  see ``core/index/client/``), verification of the k=4
  candidates (queries are perturbed stored vectors, so candidates exist);
* ``memory_ms``  -- p50 of the in-memory part alone (matrix product and top-k).

With ``--data DIR`` (labelled pairs; ``--embedding-cache DIR`` as in
``semantic_index.py``) it also measures the coarse stage on real embeddings of the
bundled model: recall@1 against exact search when only the best ``R`` rows by
Hamming distance are reranked, with the sign codes taken raw and around the mean.

Run: ``.venv/bin/python bench/client_index_search.py [--sizes 10000:384,100000:1024]
[--data DIR --real-n 9000]``
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
import redis

from redis_llm_cache.core.index.base import IndexEntry, partition_id
from redis_llm_cache.core.index.client import ClientIndex
from redis_llm_cache.core.ops import Call, Request
from redis_llm_cache.redis.embedded import EmbeddedRedis
from redis_llm_cache.runtime import run_sync

PARTITION = partition_id("tenant", "llm", "")


def execute(client: redis.Redis, request: Request) -> Any:
    if isinstance(request, Call):
        return client.execute_command(*request.command)
    pipe = client.pipeline(transaction=False)
    for command in request.commands:
        pipe.execute_command(*command)
    return pipe.execute(raise_on_error=False)


def run_many(client: redis.Redis, ops: list[Generator[Request, Any, Any]]) -> None:
    """Drive many operations in lock step, each step's requests in one pipeline."""
    requests: list[tuple[Generator[Request, Any, Any], Request]] = []
    for op in ops:
        with contextlib.suppress(StopIteration):  # an operation with no I/O at all
            requests.append((op, next(op)))
    while requests:
        pipe = client.pipeline(transaction=False)
        for _, request in requests:
            commands = (request.command,) if isinstance(request, Call) else request.commands
            for command in commands:
                pipe.execute_command(*command)
        replies = pipe.execute(raise_on_error=False)
        following = []
        at = 0
        for op, request in requests:
            if isinstance(request, Call):
                reply: Any = replies[at]
                at += 1
            else:
                reply = replies[at : at + len(request.commands)]
                at += len(request.commands)
            with contextlib.suppress(StopIteration):  # finished: drops out
                following.append((op, op.send(reply)))
        requests = following


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    m = rng.standard_normal((n, d), dtype=np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return m


def bench(url: str, n: int, d: int, searches: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    vectors = unit_rows(rng, n, d)
    client = redis.Redis.from_url(url)
    namespace = f"bench-{n}-{d}"
    writer = ClientIndex(namespace, "bench-model", d)
    now = int(time.time() * 1000)
    for start in range(0, n, 1000):
        run_many(
            client,
            [
                writer.add(
                    IndexEntry(f"k:{i}", PARTITION, vectors[i], f"question {i}", now, 3_600_000)
                )
                for i in range(start, min(n, start + 1000))
            ],
        )
    reader = ClientIndex(namespace, "bench-model", d)
    t0 = time.perf_counter()
    run_sync(
        reader.search(vectors[0], PARTITION, k=4, min_similarity=0.8), lambda r: execute(client, r)
    )
    resync_s = time.perf_counter() - t0
    assert reader.sync_stats()["size"] == n

    queries = vectors[rng.integers(0, n, searches)] + 0.01 * unit_rows(rng, searches, d)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    full, memory = [], []
    for q in queries:
        t = time.perf_counter()
        found = run_sync(
            reader.search(q, PARTITION, k=4, min_similarity=0.8), lambda r: execute(client, r)
        )
        full.append(time.perf_counter() - t)
        assert found, "a perturbed stored vector must be found"
        t = time.perf_counter()
        reader._nearest(q, PARTITION, 4, 0.8)
        memory.append(time.perf_counter() - t)
    run_sync(writer.clear(), lambda r: execute(client, r))
    client.delete(writer.log_key, writer.ids_key)
    client.close()
    full.sort()
    return {
        "resync_s": round(resync_s, 2),
        "search_p50_ms": round(statistics.median(full) * 1000, 2),
        "search_p99_ms": round(full[int(len(full) * 0.99) - 1] * 1000, 2),
        "memory_p50_ms": round(statistics.median(memory) * 1000, 2),
    }


def real_recall(data: Path, cache: Path | None, n: int) -> None:
    from redis_llm_cache.core.index import client as client_index
    from semantic_index import real_vectors

    stored, queries = real_vectors(data, n, cache)
    exact = queries @ stored.T
    truth = exact.argmax(axis=1)
    dead = np.zeros(len(stored), bool)
    centre = stored.mean(axis=0)
    for label, shift in (("raw", np.zeros_like(centre)), ("centred", centre)):
        codes = client_index.sign_codes(stored - shift)
        # 512 of 100k is the share the index reranks at 100k entries.
        for rerank in sorted({max(1, round(len(stored) * 512 / 100_000)), 128, 512}):
            hits = 0
            for q, best in zip(queries, truth, strict=True):
                rows = client_index._coarse_rows(codes, q - shift, dead, rerank)
                hits += int(rows[np.argmax(stored[rows] @ q)] == best)
            print(
                f"real n={len(stored)} {label} rerank={rerank}: recall@1 {hits / len(queries):.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000:384,100000:1024", help="N:d,N:d,...")
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--data", type=Path, help="labelled pairs dir: recall on real vectors")
    parser.add_argument("--embedding-cache", type=Path)
    parser.add_argument("--real-n", type=int, default=9000)
    args = parser.parse_args()
    if args.data is not None:
        real_recall(args.data, args.embedding_cache, args.real_n)
        return
    with EmbeddedRedis() as server:
        for spec in args.sizes.split(","):
            n, d = (int(x) for x in spec.split(":"))
            print(f"N={n} d={d}", bench(server.url, n, d, args.searches), flush=True)


if __name__ == "__main__":
    main()
