"""The store path: what one semantic-cache write costs, what bulk loading does, and
the Redis memory an entry takes -- ours beside the raw floors and the peers.

One Redis 8.2 + RediSearch server (started by the script, or ``--url``), one run,
contenders one after the other on the same data:

* ``ours: <strategy>`` -- ``RedisLLMCache.update`` (the LangChain adapter, default
  settings, verifier off) of a prompt whose vector is precomputed: the embedder is a
  table lookup, so the model's time is excluded for everyone. Strategies: ``search``
  (its default FLOAT16), ``vectorset`` (default ``NOQUANT``, and ``--vectorset-q8``
  for ``Q8``), ``client``.
* ``floor: HSET + FT FLAT`` -- one ``HSET`` of {vector FLOAT32, answer, prompt} into a
  hash a RediSearch FLAT index covers; hit: ``FT.SEARCH ... KNN 1`` returning the answer.
* ``floor: VADD Q8 + SET`` -- ``VADD ... Q8 SETATTR`` and the answer's ``SET``, pipelined
  (one round trip); hit: ``VSIM ... COUNT 1 WITHATTRIBS`` then ``GET`` of the answer.
* peers, when importable: RedisVL ``SemanticCache`` (FLAT; ``store`` with our vector)
  and langchain-redis ``RedisSemanticCache`` (``update``, same table embedder).

Per contender: store p50/p99 (ms, one entry per call), hit p50 (ms: a lookup of a
perturbed copy of a stored vector that must return that entry's answer), and Redis
bytes per entry (``used_memory`` growth / N; the 1 KB answer included). Then, for our
strategies, ``store_many`` (entries/s, batches of ``STORE_BATCH``) beside a raw
pipelined ``HSET`` load.

Vectors: clustered random unit vectors (centres + noise), ``--dim`` wide.

Run: ``python bench/store_path.py [-n 10000] [--dim 1024] [--url redis://...]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import redis

from redis_llm_cache.core.embedding.embedder import EmbedderIdentity

warnings.filterwarnings("ignore")

ANSWER = "x" * 1024
LLM = "model=bench;temperature=0"
HITS = 300


def clustered(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n // 50), d)).astype(np.float32)
    rows = centres[rng.integers(0, len(centres), n)]
    rows = rows + 0.35 * rng.standard_normal((n, d)).astype(np.float32)
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def perturbed(base: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(base.shape).astype(np.float32) * (0.3 / np.sqrt(base.shape[1]))
    noisy = base + noise
    return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)


class TableEmbedder:
    """Answers each known text with its precomputed vector (no model time)."""

    def __init__(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        self.table = dict(zip(texts, vectors, strict=True))
        # What a peer embeds to learn the vector length ("dimension test"), say.
        self.other = vectors[0]
        self.identity = EmbedderIdentity(
            provider="bench", model="table", dimensions=int(vectors.shape[1])
        )

    def embed(self, texts: Sequence[str], *, role: str = "document") -> np.ndarray:
        return np.stack([self.table.get(t, self.other) for t in texts])

    async def aembed(self, texts: Sequence[str], *, role: str = "document") -> np.ndarray:
        return self.embed(texts)

    # LangChain Embeddings, for langchain-redis
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.table.get(t, self.other).tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.table.get(text, self.other).tolist()


def first_field(reply: Any, name: str) -> Any:
    """A field of the first document of an ``FT.SEARCH`` reply (RESP2 or RESP3)."""
    if isinstance(reply, dict):
        results = reply.get(b"results") or reply.get("results") or []
        if not results:
            return None
        attributes = results[0].get(b"extra_attributes") or results[0]["extra_attributes"]
        return attributes.get(name.encode())
    if not reply or reply[0] == 0:
        return None
    fields = reply[2]
    return dict(zip(fields[0::2], fields[1::2], strict=True)).get(name.encode())


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def timed(calls: Sequence[Callable[[], Any]]) -> tuple[list[float], list[Any]]:
    latencies, results = [], []
    for call in calls:
        t0 = time.perf_counter()
        results.append(call())
        latencies.append(time.perf_counter() - t0)
    return latencies, results


def summary(store: list[float], hit: list[float], grown: int, n: int, ok: float) -> dict[str, Any]:
    return {
        "store_p50_ms": statistics.median(store) * 1000,
        "store_p99_ms": float(np.percentile(store, 99) * 1000),
        "hit_p50_ms": statistics.median(hit) * 1000,
        "bytes_per_entry": grown / n,
        "hits_right": ok,
    }


class Bench:
    def __init__(self, url: str, n: int, d: int) -> None:
        self.url, self.n, self.d = url, n, d
        self.client = redis.Redis.from_url(url, protocol=2)
        self.stored = clustered(n, d, seed=n + d)
        self.picks = np.random.default_rng(3).choice(n, size=min(HITS, n), replace=False)
        self.queries = perturbed(self.stored[self.picks], seed=7)
        self.prompts = [f"stored question {i}" for i in range(n)]
        self.paraphrases = [f"paraphrase {i}" for i in self.picks]
        self.embedder = TableEmbedder(
            [*self.prompts, *self.paraphrases, "warm-up"],
            np.concatenate([self.stored, self.queries, self.stored[:1]]),
        )

    def fresh(self) -> int:
        self.client.flushall()
        time.sleep(0.2)
        return used_memory(self.client)

    # -- ours ----------------------------------------------------------------------------

    def cache(self, strategy: str, dtype: str | None, namespace: str) -> Any:
        from redis_llm_cache.config import SemanticSettings
        from redis_llm_cache.langchain import RedisLLMCache

        semantic = SemanticSettings(threshold=0.5, strategy=strategy, verifier=None, dtype=dtype)
        return RedisLLMCache(redis_url=self.url, embedder=self.embedder, semantic=semantic,
                             timeout=30.0, namespace=namespace)  # fmt: skip

    def ours(self, strategy: str, dtype: str | None = None) -> dict[str, Any]:
        from langchain_core.outputs import Generation

        cache = self.cache(strategy, dtype, "bench")
        value = [Generation(text=ANSWER)]
        cache.lookup("warm-up", LLM)  # connect, create the index
        before = self.fresh()
        cache.core._semantic = None  # the index is prepared again after FLUSHALL
        store, _ = timed([lambda p=p: cache.update(p, LLM, value) for p in self.prompts])
        time.sleep(0.5)
        grown = used_memory(self.client) - before
        hit, found = timed([lambda p=p: cache.lookup(p, LLM) for p in self.paraphrases])
        ok = float(np.mean([f is not None and f[0].text == ANSWER for f in found]))
        cache.close()
        return summary(store, hit, grown, self.n, ok)

    def ours_bulk(self, strategy: str, dtype: str | None = None) -> float:
        from langchain_core.outputs import Generation

        cache = self.cache(strategy, dtype, "bulk")
        cache.lookup("warm-up", LLM)
        self.fresh()
        cache.core._semantic = None
        value = [Generation(text=ANSWER)]
        t0 = time.perf_counter()
        stored = cache.store_many((p, LLM, value) for p in self.prompts)
        elapsed = time.perf_counter() - t0
        assert stored == self.n, stored
        cache.close()
        return self.n / elapsed

    # -- floors --------------------------------------------------------------------------

    def floor_flat(self) -> dict[str, Any]:
        before = self.fresh()
        c = self.client
        c.execute_command(
            "FT.CREATE", "floor", "ON", "HASH", "PREFIX", 1, "floor:", "SCHEMA", "v", "VECTOR",
            "FLAT", 6, "TYPE", "FLOAT32", "DIM", self.d, "DISTANCE_METRIC", "COSINE",
        )  # fmt: skip
        blobs = [v.tobytes() for v in self.stored]
        store, _ = timed(
            [
                lambda i=i: c.hset(
                    f"floor:{i}", mapping={"v": blobs[i], "a": ANSWER, "q": self.prompts[i]}
                )
                for i in range(self.n)
            ]
        )
        time.sleep(0.5)
        grown = used_memory(c) - before

        def hit(q: np.ndarray) -> Any:
            return c.execute_command(
                "FT.SEARCH", "floor", "*=>[KNN 1 @v $b AS d]", "PARAMS", 2, "b", q.tobytes(),
                "RETURN", 1, "a", "DIALECT", 2,
            )  # fmt: skip

        hits, found = timed([lambda q=q: hit(q) for q in self.queries])
        ok = float(np.mean([first_field(f, "a") == ANSWER.encode() for f in found]))
        return summary(store, hits, grown, self.n, ok)

    def floor_vadd(self) -> dict[str, Any]:
        before = self.fresh()
        c = self.client
        blobs = [v.tobytes() for v in self.stored]

        def store_one(i: int) -> Any:
            pipe = c.pipeline(transaction=False)
            pipe.execute_command(
                "VADD", "floorvs", "FP32", blobs[i], f"e{i}", "Q8", "SETATTR", f'{{"k":"a:{i}"}}'
            )
            pipe.set(f"a:{i}", ANSWER)
            return pipe.execute()

        store, _ = timed([lambda i=i: store_one(i) for i in range(self.n)])
        time.sleep(0.5)
        grown = used_memory(c) - before

        def hit(q: np.ndarray) -> Any:
            reply = c.execute_command(
                "VSIM", "floorvs", "FP32", q.tobytes(), "WITHSCORES", "WITHATTRIBS", "COUNT", 1
            )
            return c.get(f"a:{reply[0].decode()[1:]}")

        hits, found = timed([lambda q=q: hit(q) for q in self.queries])
        ok = float(np.mean([f == ANSWER.encode() for f in found]))
        return summary(store, hits, grown, self.n, ok)

    def floor_bulk(self) -> float:
        """Raw pipelined HSETs (vector, answer, prompt) into a FLAT-indexed prefix."""
        self.fresh()
        c = self.client
        c.execute_command(
            "FT.CREATE", "floorb", "ON", "HASH", "PREFIX", 1, "fb:", "SCHEMA", "v", "VECTOR",
            "FLAT", 6, "TYPE", "FLOAT32", "DIM", self.d, "DISTANCE_METRIC", "COSINE",
        )  # fmt: skip
        t0 = time.perf_counter()
        for start in range(0, self.n, 256):
            pipe = c.pipeline(transaction=False)
            for i in range(start, min(self.n, start + 256)):
                pipe.hset(
                    f"fb:{i}",
                    mapping={"v": self.stored[i].tobytes(), "a": ANSWER, "q": self.prompts[i]},
                )
            pipe.execute()
        return self.n / (time.perf_counter() - t0)

    # -- peers ---------------------------------------------------------------------------

    def redisvl(self) -> dict[str, Any]:
        from redisvl.extensions.cache.llm import SemanticCache
        from redisvl.utils.vectorize import CustomTextVectorizer

        before = self.fresh()
        vectorizer = CustomTextVectorizer(embed=self.embedder.embed_query)
        cache = SemanticCache(name="rvl", redis_client=self.client, vectorizer=vectorizer,
                              distance_threshold=0.5)  # fmt: skip
        before = used_memory(self.client)
        store, _ = timed(
            [
                lambda i=i: cache.store(
                    prompt=self.prompts[i], response=ANSWER, vector=self.stored[i].tolist()
                )
                for i in range(self.n)
            ]
        )
        time.sleep(0.5)
        grown = used_memory(self.client) - before
        hits, found = timed(
            [lambda q=q: cache.check(vector=q.tolist(), num_results=1) for q in self.queries]
        )
        ok = float(np.mean([bool(f) and f[0]["response"] == ANSWER for f in found]))
        return summary(store, hits, grown, self.n, ok)

    def langchain_redis(self) -> dict[str, Any]:
        from langchain_core.embeddings import Embeddings
        from langchain_core.outputs import Generation
        from langchain_redis import RedisSemanticCache

        table = self.embedder

        class TableEmbeddings(Embeddings):
            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return table.embed_documents(texts)

            def embed_query(self, text: str) -> list[float]:
                return table.embed_query(text)

        self.fresh()
        cache = RedisSemanticCache(
            embeddings=TableEmbeddings(), redis_url=self.url, distance_threshold=0.5
        )
        before = used_memory(self.client)
        value = [Generation(text=ANSWER)]
        store, _ = timed([lambda p=p: cache.update(p, LLM, value) for p in self.prompts])
        time.sleep(0.5)
        grown = used_memory(self.client) - before
        hits, found = timed([lambda p=p: cache.lookup(p, LLM) for p in self.paraphrases])
        ok = float(np.mean([bool(f) and f[0].text == ANSWER for f in found]))
        return summary(store, hits, grown, self.n, ok)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--url", help="a Redis 8.2 with RediSearch (default: start one)")
    parser.add_argument("--only", default="", help="comma-separated name fragments to run")
    args = parser.parse_args()
    server = None
    url = args.url
    if url is None:
        from redis_llm_cache.redis.embedded import EmbeddedRedis

        server = EmbeddedRedis(modules=("search", "json")).start()
        url = server.url
    bench = Bench(url, args.n, args.dim)
    contenders: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("ours: search (float16)", lambda: bench.ours("search")),
        ("ours: vectorset (float32/NOQUANT)", lambda: bench.ours("vectorset")),
        ("ours: vectorset (float16/Q8)", lambda: bench.ours("vectorset", "float16")),
        ("ours: client (float16)", lambda: bench.ours("client")),
        ("floor: HSET + FT FLAT", bench.floor_flat),
        ("floor: VADD Q8 + SET", bench.floor_vadd),
        ("RedisVL SemanticCache (FLAT)", bench.redisvl),
        ("langchain-redis RedisSemanticCache", bench.langchain_redis),
    ]
    bulk: list[tuple[str, Callable[[], float]]] = [
        ("ours store_many: search", lambda: bench.ours_bulk("search")),
        ("ours store_many: vectorset", lambda: bench.ours_bulk("vectorset")),
        ("ours store_many: client", lambda: bench.ours_bulk("client")),
        ("floor: pipelined HSET + FT FLAT", bench.floor_bulk),
    ]
    only = [s for s in args.only.split(",") if s]
    rows = []
    for name, run in contenders:
        if only and not any(s in name for s in only):
            continue
        try:
            result = run()
        except Exception as exc:  # a peer not installed, or failing: the rest still runs
            print(f"{name}: left out ({type(exc).__name__}: {exc})", file=sys.stderr)
            continue
        rows.append((name, result))
        print(name, {k: round(v, 3) for k, v in result.items()}, flush=True)
    rates = []
    for name, rate in bulk:
        if only and not any(s in name for s in only):
            continue
        rates.append((name, rate()))
        print(name, round(rates[-1][1]), flush=True)
    print(f"\n{args.n:,} entries x {args.dim}-d, 1 KB answer\n")
    print(
        "| contender | store p50 (ms) | store p99 (ms) | hit p50 (ms) | bytes/entry | hits right |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(
            f"| {name} | {r['store_p50_ms']:.2f} | {r['store_p99_ms']:.2f} | "
            f"{r['hit_p50_ms']:.2f} | {r['bytes_per_entry']:,.0f} | {r['hits_right']:.3f} |"
        )
    if rates:
        print("\n| bulk load | entries/s |\n|---|---:|")
        for name, rate in rates:
            print(f"| {name} | {rate:,.0f} |")
    if server is not None:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
