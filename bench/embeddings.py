"""Embedding cache: warm and half-warm ``embed_documents`` of 10,000 texts x 1024-d.

Contenders, all on the same Redis 8.2 server, redis-py with hiredis:

* ``CachedEmbeddings`` (ours): ``embed_documents`` (Python lists, as LangChain's API
  returns) and ``embed_documents_array`` (a float32 matrix);
* LangChain ``CacheBackedEmbeddings.from_bytes_store`` over langchain-community's
  ``RedisStore`` (the documented Redis setup), SHA-256 keys;
* RedisVL ``EmbeddingsCache``, used the way its docs show: ``mget`` the texts, embed
  the misses, ``mset`` them;
* the physical floor: one pipelined fetch of 10k raw 4 KB vectors, plus turning the
  10M floats into the Python lists the LangChain API returns.

The inner model is the same deterministic 1024-d fake for everyone (cheap, so a
half-warm run measures cache overhead plus the same model work). Warm runs are
interleaved over rounds; reported: median seconds and the ratio to the floor
measured in the same round. Bytes per vector: ``MEMORY USAGE`` averaged over keys.

Run: ``make bench`` or ``.venv/bin/python bench/embeddings.py [--texts 10000]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import redis
from langchain_core.embeddings import Embeddings

from redis_llm_cache.langchain.embeddings import CachedEmbeddings
from redis_llm_cache.redis.embedded import EmbeddedRedis

warnings.filterwarnings("ignore")  # langchain-community's sunset notice on import

DIMS = 1024


class FakeModel(Embeddings):
    """Deterministic 1024-d vectors, the same for every contender; counts texts."""

    model = "bench-fake-1024"

    def __init__(self) -> None:
        self.texts_embedded = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.texts_embedded += len(texts)
        seeds = np.array([hash(t) & 0xFFFFFFFF for t in texts], dtype=np.uint64)
        base = np.arange(DIMS, dtype=np.float32)[None, :]
        rows = np.sin(base * (seeds[:, None] % 997 + 1).astype(np.float32) * 1e-3)
        return rows.astype(np.float32).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bytes_per_key(client: redis.Redis, pattern: str, sample: int = 200) -> tuple[float, float]:
    """(``MEMORY USAGE`` average, key + value bytes average) over up to ``sample`` keys.

    ``MEMORY USAGE`` includes the allocator's rounding: jemalloc serves a 4,102-byte
    string (4 KB of floats plus Redis's own header) from its 5,120-byte class.
    """
    keys = []
    for key in client.scan_iter(match=pattern, count=1000):
        keys.append(key)
        if len(keys) >= sample:
            break
    if not keys:
        return float("nan"), float("nan")
    usage = sum(client.memory_usage(k, samples=0) or 0 for k in keys) / len(keys)
    logical = 0
    for key in keys:
        kind = client.type(key)
        if kind == b"string":
            logical += len(key) + int(client.strlen(key))
        else:  # hashes (RedisVL): field names and values
            logical += len(key) + sum(len(f) + len(v) for f, v in client.hgetall(key).items())
    return usage, logical / len(keys)


class Contenders:
    def __init__(self, url: str, texts: list[str]) -> None:
        from langchain_classic.embeddings import CacheBackedEmbeddings
        from langchain_community.storage import RedisStore
        from redisvl.extensions.cache.embeddings import EmbeddingsCache

        self.url = url
        self.texts = texts
        self.client = redis.Redis.from_url(url)
        self.model = FakeModel()
        self.ours = CachedEmbeddings(self.model, redis_url=url, namespace="bench-ours")
        self.langchain = CacheBackedEmbeddings.from_bytes_store(
            self.model,
            RedisStore(client=self.client, namespace="bench-lc"),
            namespace=self.model.model,
            key_encoder="sha256",
        )
        self.redisvl = EmbeddingsCache(name="bench-rvl", redis_client=self.client)
        self.raw_keys = [f"bench-raw:{i}" for i in range(len(texts))]

    # RedisVL's documented pattern: mget, embed the misses, mset them.
    def redisvl_embed(self, texts: list[str]) -> list[list[float]]:
        found = self.redisvl.mget(texts, model_name=self.model.model)
        missing = [i for i, hit in enumerate(found) if hit is None]
        vectors: list[Any] = [hit["embedding"] if hit else None for hit in found]
        if missing:
            fresh = self.model.embed_documents([texts[i] for i in missing])
            self.redisvl.mset(
                [
                    {"content": texts[i], "model_name": self.model.model, "embedding": v}
                    for i, v in zip(missing, fresh, strict=True)
                ]
            )
            for i, vector in zip(missing, fresh, strict=True):
                vectors[i] = vector
        return vectors

    def fill_raw(self) -> None:
        matrix = np.asarray(self.model.embed_documents(self.texts), dtype=np.float32)
        pipe = self.client.pipeline(transaction=False)
        for key, row in zip(self.raw_keys, matrix, strict=True):
            pipe.set(key, row.tobytes())
        pipe.execute()

    def floor(self) -> tuple[float, float]:
        """(fetch seconds, to-lists seconds) of the physical minimum."""
        started = time.perf_counter()
        pipe = self.client.pipeline(transaction=False)
        for key in self.raw_keys:
            pipe.get(key)
        values = pipe.execute()
        matrix = np.frombuffer(b"".join(values), dtype=np.float32).reshape(len(values), DIMS)
        fetched = time.perf_counter()
        matrix.tolist()
        return fetched - started, time.perf_counter() - fetched

    def warm_runs(self) -> dict[str, Callable[[], Any]]:
        texts = self.texts
        return {
            "CachedEmbeddings.embed_documents (lists)": lambda: self.ours.embed_documents(texts),
            "CachedEmbeddings.embed_documents_array (numpy)": (
                lambda: self.ours.embed_documents_array(texts)
            ),
            "LangChain CacheBackedEmbeddings + RedisStore": (
                lambda: self.langchain.embed_documents(texts)
            ),
            "RedisVL EmbeddingsCache (mget/mset)": lambda: self.redisvl_embed(texts),
        }

    def clear_all(self) -> None:
        self.ours.clear(all_models=True)
        for pattern in ("bench-lc*", "bench-rvl*"):
            keys = list(self.client.scan_iter(match=pattern, count=1000))
            for start in range(0, len(keys), 1000):
                self.client.unlink(*keys[start : start + 1000])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    texts = [
        f"document {i}: a paragraph of a knowledge base about topic {i % 97}"
        for i in range(args.texts)
    ]

    with EmbeddedRedis() as server:
        bench = Contenders(server.url, texts)
        bench.fill_raw()
        runs = bench.warm_runs()
        for fn in runs.values():  # cold fill, then one warm-up each
            fn()
            fn()
        # Check every contender returns the model's vectors before timing.
        expected = np.asarray(bench.model.embed_documents(texts[:50]), dtype=np.float32)
        for name, fn in runs.items():
            got = np.asarray(fn(), dtype=np.float32)[:50]
            if not np.allclose(got, expected, atol=1e-6):
                raise SystemExit(f"{name} returned other vectors")

        warm: dict[str, list[float]] = {name: [] for name in runs}
        ratio: dict[str, list[float]] = {name: [] for name in runs}
        floors: list[float] = []
        fetches: list[float] = []
        for _ in range(args.rounds):
            fetch_s, lists_s = bench.floor()
            floor_s = fetch_s + lists_s
            floors.append(floor_s)
            fetches.append(fetch_s)
            for name, fn in runs.items():
                seconds = timed(fn)
                warm[name].append(seconds)
                ratio[name].append(seconds / floor_s)

        half16 = CachedEmbeddings(
            bench.model, redis_url=server.url, namespace="bench-f16", dtype="float16"
        )
        half16.embed_documents(texts[:500])
        sizes = {
            "CachedEmbeddings (float32)": bytes_per_key(bench.client, "bench-ours:*"),
            "CachedEmbeddings (float16 option)": bytes_per_key(bench.client, "bench-f16:*"),
            "LangChain CacheBackedEmbeddings + RedisStore": bytes_per_key(
                bench.client, "bench-lc*"
            ),
            "RedisVL EmbeddingsCache": bytes_per_key(bench.client, "bench-rvl*"),
            "raw float32 bytes, no key prefix (floor)": bytes_per_key(bench.client, "bench-raw:*"),
        }

        # Half warm: every other text cached, each contender from the same state.
        half: dict[str, list[float]] = {name: [] for name in runs if "array" not in name}
        for _ in range(max(1, args.rounds // 2)):
            for name, fn in runs.items():
                if name not in half:
                    continue
                bench.clear_all()
                runs_by_half = {
                    "CachedEmbeddings.embed_documents (lists)": (
                        lambda: bench.ours.embed_documents(texts[::2])
                    ),
                    "LangChain CacheBackedEmbeddings + RedisStore": (
                        lambda: bench.langchain.embed_documents(texts[::2])
                    ),
                    "RedisVL EmbeddingsCache (mget/mset)": lambda: bench.redisvl_embed(texts[::2]),
                }
                runs_by_half[name]()
                half[name].append(timed(fn))

    floor_s = statistics.median(floors)
    print(f"\nEmbedding cache, {args.texts} texts x {DIMS}-d, {args.rounds} rounds (median)\n")
    print(
        f"Floor: pipelined fetch {statistics.median(fetches) * 1000:.0f} ms + to-lists "
        f"{(floor_s - statistics.median(fetches)) * 1000:.0f} ms = {floor_s * 1000:.0f} ms\n"
    )
    print("| contender | warm (s) | ratio to floor | 50 % warm (s) |")
    print("|---|---:|---:|---:|")
    for name in runs:
        half_s = f"{statistics.median(half[name]):.3f}" if name in half else "-"
        print(
            f"| {name} | {statistics.median(warm[name]):.3f} | "
            f"{statistics.median(ratio[name]):.2f}x | {half_s} |"
        )
    print("\n| stored per 1024-d vector | MEMORY USAGE (bytes) | key + value (bytes) |")
    print("|---|---:|---:|")
    for name, (usage, logical) in sizes.items():
        print(f"| {name} | {usage:,.0f} | {logical:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
