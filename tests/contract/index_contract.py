"""The contract every vector index strategy meets (see ``core/vector_index.py``).

:class:`VectorIndexContract` is a mixin in the manner of cachetools'
``CacheTestMixin``: a test class per (strategy, server) subclasses it and provides

* ``factory`` -- the strategy class, built as ``factory(namespace, model_key, dimensions, dtype)``;
* ``dtype`` and ``tolerance`` -- stored type and how close a reported similarity
  must be to the true cosine (quantized storage is allowed more);
* a ``server_url`` fixture -- the Redis to run on (skipping when it lacks the capability);
  :class:`ClusterIndexContract` provides the session's Redis Cluster, driven by the
  cache's own :class:`RedisConnector`, as in production.

Vectors are random unit vectors of dimension 384 with *constructed* cosine
similarities (``with_similarity``), so every expected similarity is exact; one test
uses real embeddings from the bundled model.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import pytest
import redis
import redis.asyncio
import redis.cluster

from redis_llm_cache.config import CacheSettings
from redis_llm_cache.core.index.base import Candidate, IndexEntry, VectorIndex, partition_id
from redis_llm_cache.core.ops import Call, Operation, Pipeline, Request
from redis_llm_cache.redis.connection import RedisConnector
from redis_llm_cache.redis.embedded import EmbeddedCluster
from redis_llm_cache.runtime import run_async, run_sync

DIM = 384
MODEL = '{"dimensions":384,"model":"contract-test","options":{},"provider":"test"}'
OTHER_MODEL = '{"dimensions":384,"model":"contract-test-2","options":{},"provider":"test"}'
PART_A = partition_id("tenant-a", "llm", "")
PART_B = partition_id("tenant-b", "llm", "")
PART_C = partition_id("tenant-c", "llm", "")
#: TTL of entries a test waits to expire: the calls between adding such an entry
#: and first seeing it must fit inside it on a loaded CI machine.
SHORT_TTL_MS = 3_000

Run = Callable[[Operation[Any]], Any]


# -- vectors ----------------------------------------------------------------------------------


def unit(rng: np.random.Generator, dim: int = DIM) -> np.ndarray:
    v = rng.standard_normal(dim).astype(np.float64)
    return (v / np.linalg.norm(v)).astype(np.float32)


def with_similarity(v: np.ndarray, similarity: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector whose cosine with unit ``v`` is ``similarity`` (to float32 precision)."""
    base = v.astype(np.float64)
    noise = rng.standard_normal(base.shape[0])
    noise -= noise.dot(base) * base
    noise /= np.linalg.norm(noise)
    out = similarity * base + np.sqrt(max(0.0, 1.0 - similarity**2)) * noise
    return (out / np.linalg.norm(out)).astype(np.float32)


def now_ms() -> int:
    return int(time.time() * 1000)


def entry(
    name: str,
    vector: np.ndarray,
    partition: str = PART_A,
    *,
    ttl_ms: int | None = 60_000,
    text: str | None = None,
) -> IndexEntry:
    # Exact keys shaped like the exact tier's: the last segment is a 64-hex digest.
    digest = hashlib.sha256(name.encode()).hexdigest()
    return IndexEntry(
        exact_key=f"ns:llm:v1:{'0' * 16}:{'1' * 16}:{digest}",
        partition=partition,
        vector=vector,
        text=text if text is not None else f"question {name}",
        created_ms=now_ms(),
        ttl_ms=ttl_ms,
    )


# -- drivers ----------------------------------------------------------------------------------


def sync_executor(client: Any) -> Callable[[Request], Any]:
    if isinstance(client, RedisConnector):  # e.g. a cluster: the cache's own executor
        return client.execute

    def execute(request: Request) -> Any:
        if isinstance(request, Call):
            return client.execute_command(*request.command)
        pipe = client.pipeline(transaction=False)
        for command in request.commands:
            pipe.execute_command(*command)
        return pipe.execute(raise_on_error=False)

    return execute


def async_executor(client: Any) -> Callable[[Request], Any]:
    if isinstance(client, RedisConnector):
        return client.aexecute

    async def execute(request: Request) -> Any:
        if isinstance(request, Call):
            return await client.execute_command(*request.command)
        assert isinstance(request, Pipeline)
        pipe = client.pipeline(transaction=False)
        for command in request.commands:
            pipe.execute_command(*command)
        return await pipe.execute(raise_on_error=False)

    return execute


def keys_of(candidates: list[Candidate]) -> list[str]:
    return [c.exact_key for c in candidates]


# -- the mixin --------------------------------------------------------------------------------


class VectorIndexContract:
    factory: ClassVar[Callable[..., VectorIndex]]
    dtype: ClassVar[str] = "float32"
    tolerance: ClassVar[float] = 1e-3

    def connect(self, server_url: str) -> Any:
        """Another client of the server ("another process"); overridable."""
        return redis.Redis.from_url(server_url)

    def connect_async(self, server_url: str) -> Any:
        return redis.asyncio.Redis.from_url(server_url)

    @pytest.fixture
    def client(self, server_url: str) -> Iterator[redis.Redis]:
        client = redis.Redis.from_url(server_url)
        yield client
        client.close()

    @pytest.fixture
    def run(self, client: redis.Redis) -> Run:
        execute = sync_executor(client)
        return lambda op: run_sync(op, execute)

    @pytest.fixture
    def make(self, namespace: str, run: Run) -> Iterator[Callable[..., VectorIndex]]:
        """Prepared indexes of this test's namespace (or a suffixed one); cleared after."""
        made: list[VectorIndex] = []

        def make(suffix: str = "", model_key: str = MODEL) -> VectorIndex:
            index = type(self).factory(namespace + suffix, model_key, DIM, self.dtype)
            run(index.prepare())
            made.append(index)
            return index

        yield make
        for index in made:
            run(index.clear())

    @pytest.fixture
    def index(self, make: Callable[..., VectorIndex]) -> VectorIndex:
        return make()

    @pytest.fixture
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(20240607)

    # -- search basics ------------------------------------------------------------------------

    def test_added_entry_is_found_with_its_cosine_similarity(
        self, index: VectorIndex, run: Run, rng: np.random.Generator
    ) -> None:
        stored = entry("a", unit(rng), text="How do I reset my password?")
        run(index.add(stored))
        query = with_similarity(stored.vector, 0.9, rng)
        found = run(index.search(query, PART_A, k=3, min_similarity=0.5))
        assert keys_of(found) == [stored.exact_key]
        assert found[0].similarity == pytest.approx(0.9, abs=self.tolerance)
        assert found[0].text == "How do I reset my password?"
        assert found[0].created_ms == stored.created_ms

    def test_results_are_best_first_and_at_most_k(
        self, index: VectorIndex, run: Run, rng: np.random.Generator
    ) -> None:
        query = unit(rng)
        sims = [0.7, 0.95, 0.6, 0.9, 0.8]
        entries = [entry(str(s), with_similarity(query, s, rng)) for s in sims]
        for e in entries:
            run(index.add(e))
        found = run(index.search(query, PART_A, k=3, min_similarity=-1.0))
        by_sim = {e.exact_key: s for e, s in zip(entries, sims, strict=True)}
        assert [by_sim[key] for key in keys_of(found)] == [0.95, 0.9, 0.8]
        similarities = [c.similarity for c in found]
        assert similarities == sorted(similarities, reverse=True)
        for c in found:
            assert c.similarity == pytest.approx(by_sim[c.exact_key], abs=self.tolerance)
        assert len(run(index.search(query, PART_A, k=1, min_similarity=-1.0))) == 1

    @pytest.mark.parametrize(
        ("min_similarity", "expected"),
        [(0.85, [0.95, 0.9]), (0.0, [0.95, 0.9, 0.3]), (-1.0, [0.95, 0.9, 0.3, -0.4])],
    )
    def test_min_similarity_is_honoured(
        self,
        index: VectorIndex,
        run: Run,
        rng: np.random.Generator,
        min_similarity: float,
        expected: list[float],
    ) -> None:
        query = unit(rng)
        sims = [0.3, 0.95, -0.4, 0.9]
        entries = [entry(str(s), with_similarity(query, s, rng)) for s in sims]
        for e in entries:
            run(index.add(e))
        found = run(index.search(query, PART_A, k=10, min_similarity=min_similarity))
        by_key = {e.exact_key: s for e, s in zip(entries, sims, strict=True)}
        assert [by_key[key] for key in keys_of(found)] == expected
        assert all(c.similarity >= min_similarity for c in found)

    def test_empty_partition_finds_nothing(
        self, index: VectorIndex, run: Run, rng: np.random.Generator
    ) -> None:
        assert run(index.search(unit(rng), PART_C, k=5, min_similarity=-1.0)) == []

    # -- partitions ---------------------------------------------------------------------------

    def test_nearer_entries_of_another_partition_never_hide_or_leak(
        self, index: VectorIndex, run: Run, rng: np.random.Generator
    ) -> None:
        query = unit(rng)
        ours = entry("ours", with_similarity(query, 0.8, rng), PART_A)
        run(index.add(ours))
        # Partition B holds the query itself and many entries nearer than ours: a
        # "top-k then compare partition" implementation returns nothing for A.
        theirs = [entry("same", query, PART_B)] + [
            entry(f"near{i}", with_similarity(query, 0.9 + i * 0.001, rng), PART_B)
            for i in range(60)
        ]
        for e in theirs:
            run(index.add(e))
        found = run(index.search(query, PART_A, k=1, min_similarity=0.5))
        assert keys_of(found) == [ours.exact_key]
        found = run(index.search(query, PART_A, k=5, min_similarity=-1.0))
        assert keys_of(found) == [ours.exact_key]
        found_b = run(index.search(query, PART_B, k=70, min_similarity=-1.0))
        assert ours.exact_key not in keys_of(found_b)
        assert found_b[0].exact_key == theirs[0].exact_key
        assert found_b[0].similarity == pytest.approx(1.0, abs=self.tolerance)

    def test_two_embedders_never_share_an_index(
        self, make: Callable[..., VectorIndex], run: Run, rng: np.random.Generator
    ) -> None:
        first, second = make(model_key=MODEL), make(model_key=OTHER_MODEL)
        stored = entry("a", unit(rng))
        run(first.add(stored))
        assert run(second.search(stored.vector, PART_A, k=5, min_similarity=-1.0)) == []
        assert run(second.clear()) == 0
        assert keys_of(run(first.search(stored.vector, PART_A, k=5, min_similarity=-1.0))) == [
            stored.exact_key
        ]

    # -- lifetime -----------------------------------------------------------------------------

    def test_entry_disappears_after_its_ttl(
        self, index: VectorIndex, run: Run, rng: np.random.Generator
    ) -> None:
        query = unit(rng)
        # Long enough to be seen once on a loaded CI machine, short enough to wait out.
        short = entry("short", with_similarity(query, 0.95, rng), ttl_ms=SHORT_TTL_MS)
        forever = entry("forever", with_similarity(query, 0.9, rng), ttl_ms=None)
        run(index.add(short))
        run(index.add(forever))
        assert keys_of(run(index.search(query, PART_A, k=5, min_similarity=0.0))) == [
            short.exact_key,
            forever.exact_key,
        ]
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            found = keys_of(run(index.search(query, PART_A, k=5, min_similarity=0.0)))
            if short.exact_key not in found:
                break
            time.sleep(0.05)
        assert found == [forever.exact_key]

    def test_renew_outlives_the_first_ttl_and_never_revives(
        self, index: VectorIndex, run: Run, rng: np.random.Generator
    ) -> None:
        # Sliding TTL: a renewed entry outlives its first TTL; a removed one stays removed.
        query = unit(rng)
        kept = entry("kept", with_similarity(query, 0.95, rng), ttl_ms=SHORT_TTL_MS)
        removed = entry("removed", with_similarity(query, 0.9, rng), ttl_ms=60_000)
        run(index.add(kept))
        first_ttl_ends_by = time.monotonic() + SHORT_TTL_MS / 1000
        run(index.add(removed))
        found = {c.exact_key: c for c in run(index.search(query, PART_A, k=5, min_similarity=0.0))}
        assert set(found) == {kept.exact_key, removed.exact_key}
        run(index.remove([removed.exact_key]))
        run(index.renew(found[removed.exact_key], PART_A, 60_000))
        run(index.renew(found[kept.exact_key], PART_A, 60_000))
        # Past the first TTL of ``kept``, however long the calls above took.
        time.sleep(max(0.0, first_ttl_ends_by - time.monotonic()) + 0.2)
        assert keys_of(run(index.search(query, PART_A, k=5, min_similarity=0.0))) == [
            kept.exact_key
        ]

    def test_remove_reports_what_existed(
        self, index: VectorIndex, run: Run, rng: np.random.Generator
    ) -> None:
        a, b = entry("a", unit(rng)), entry("b", unit(rng))
        run(index.add(a))
        run(index.add(b))
        assert run(index.remove([a.exact_key, entry("missing", unit(rng)).exact_key])) == 1
        assert run(index.search(a.vector, PART_A, k=5, min_similarity=0.5)) == []
        assert keys_of(run(index.search(b.vector, PART_A, k=5, min_similarity=0.5))) == [
            b.exact_key
        ]
        assert run(index.remove([a.exact_key])) == 0
        assert run(index.remove([])) == 0

    def test_clear_removes_only_this_namespace(
        self, make: Callable[..., VectorIndex], run: Run, rng: np.random.Generator
    ) -> None:
        ours, other = make(), make(suffix="-other")
        # A namespace that extends ours with our own key structure must not be touched.
        tricky = make(suffix=":sem:v1:h")
        vectors = [unit(rng) for _ in range(3)]
        for i, v in enumerate(vectors):
            run(ours.add(entry(f"ours{i}", v)))
        run(other.add(entry("other", vectors[0])))
        run(tricky.add(entry("tricky", vectors[1])))
        assert run(ours.clear()) == 3
        assert run(ours.search(vectors[0], PART_A, k=5, min_similarity=-1.0)) == []
        assert len(run(other.search(vectors[0], PART_A, k=5, min_similarity=0.5))) == 1
        assert len(run(tricky.search(vectors[1], PART_A, k=5, min_similarity=0.5))) == 1
        # The index still works after a clear.
        run(ours.add(entry("again", vectors[2])))
        assert len(run(ours.search(vectors[2], PART_A, k=5, min_similarity=0.5))) == 1

    def test_adding_the_same_exact_key_replaces_the_entry(
        self, index: VectorIndex, run: Run, rng: np.random.Generator
    ) -> None:
        old_vector, new_vector = unit(rng), unit(rng)  # nearly orthogonal
        first = entry("k", old_vector, text="old")
        second = IndexEntry(
            exact_key=first.exact_key,
            partition=PART_A,
            vector=new_vector,
            text="new",
            created_ms=first.created_ms + 1,
            ttl_ms=60_000,
        )
        run(index.add(first))
        run(index.add(second))
        found = run(index.search(new_vector, PART_A, k=5, min_similarity=-1.0))
        assert len(found) == 1 and found[0].text == "new"
        assert found[0].similarity == pytest.approx(1.0, abs=self.tolerance)
        assert run(index.search(old_vector, PART_A, k=5, min_similarity=0.5)) == []

    def test_replacing_into_another_partition_leaves_nothing_behind(
        self, index: VectorIndex, run: Run, rng: np.random.Generator
    ) -> None:
        v = unit(rng)
        first = entry("k", v, PART_A)
        moved = IndexEntry(first.exact_key, PART_B, v, "moved", first.created_ms, 60_000)
        run(index.add(first))
        run(index.add(moved))
        assert run(index.search(v, PART_A, k=5, min_similarity=-1.0)) == []
        assert keys_of(run(index.search(v, PART_B, k=5, min_similarity=0.5))) == [first.exact_key]
        assert run(index.remove([first.exact_key])) == 1
        assert run(index.search(v, PART_B, k=5, min_similarity=-1.0)) == []

    def test_writes_of_a_batch_store_every_entry_after_one_pipeline(
        self, index: VectorIndex, run: Run, make: Callable[..., VectorIndex],
        rng: np.random.Generator,
    ) -> None:  # fmt: skip
        vectors = [unit(rng) for _ in range(5)]
        moved_first = entry("m", vectors[4], PART_A)
        run(index.add(moved_first))
        batch = [entry(f"b{i}", vectors[i], PART_A if i < 2 else PART_B) for i in range(4)]
        batch.append(IndexEntry(moved_first.exact_key, PART_B, vectors[4], "moved",
                                moved_first.created_ms, 60_000))  # fmt: skip

        def write_batch() -> Operation[None]:
            writes = index.writes(batch)
            # The caller sends the commands in its own round trip (a pipeline of
            # anything it likes around them), then hands back their replies.
            replies = yield Pipeline(writes.commands)
            assert len(replies) == len(writes.commands)
            yield from writes.finish(list(replies))

        run(write_batch())
        for i, item in enumerate(batch):
            found = run(index.search(vectors[i], item.partition, k=1, min_similarity=0.5))
            assert keys_of(found) == [item.exact_key]
            assert found[0].similarity == pytest.approx(1.0, abs=self.tolerance)
        # The moved entry left its old partition; another process sees the batch.
        assert run(index.search(vectors[4], PART_A, k=5, min_similarity=0.5)) == []
        reader = make()
        found = run(reader.search(vectors[2], PART_B, k=5, min_similarity=0.5))
        assert keys_of(found) == [batch[2].exact_key]

    # -- several writers ----------------------------------------------------------------------

    def test_concurrent_writers_are_all_visible(
        self, index: VectorIndex, run: Run, server_url: str, rng: np.random.Generator
    ) -> None:
        writers, per_writer = 4, 10
        batches = [
            [entry(f"w{w}-{i}", unit(rng)) for i in range(per_writer)] for w in range(writers)
        ]
        errors: list[BaseException] = []
        start = threading.Barrier(writers)

        def write(batch: list[IndexEntry]) -> None:
            client = self.connect(server_url)
            try:
                execute = sync_executor(client)
                start.wait()
                for e in batch:
                    run_sync(index.add(e), execute)
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)
            finally:
                client.close()

        threads = [threading.Thread(target=write, args=(b,)) for b in batches]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert errors == []
        for e in (e for batch in batches for e in batch):
            found = run(index.search(e.vector, PART_A, k=1, min_similarity=0.5))
            assert keys_of(found) == [e.exact_key]

    def test_entries_written_by_another_client_are_visible(
        self, namespace: str, run: Run, server_url: str, rng: np.random.Generator
    ) -> None:
        # Another "process": its own index object (no shared state) and its own client.
        writer = type(self).factory(namespace, MODEL, DIM, self.dtype)
        other_client = self.connect(server_url)
        try:
            execute = sync_executor(other_client)
            run_sync(writer.prepare(), execute)
            stored = entry("from-elsewhere", unit(rng))
            run_sync(writer.add(stored), execute)
        finally:
            other_client.close()
        reader = type(self).factory(namespace, MODEL, DIM, self.dtype)
        run(reader.prepare())
        try:
            found = run(reader.search(stored.vector, PART_A, k=1, min_similarity=0.5))
            assert keys_of(found) == [stored.exact_key]
        finally:
            run(reader.clear())

    def test_prepare_is_idempotent(
        self, index: VectorIndex, run: Run, rng: np.random.Generator
    ) -> None:
        stored = entry("a", unit(rng))
        run(index.add(stored))
        for _ in range(3):
            run(index.prepare())
        assert keys_of(run(index.search(stored.vector, PART_A, k=1, min_similarity=0.5))) == [
            stored.exact_key
        ]

    # -- async driver and real embeddings -----------------------------------------------------

    async def test_async_driver_runs_the_same_operations(
        self, namespace: str, server_url: str, rng: np.random.Generator
    ) -> None:
        client = self.connect_async(server_url)
        execute = async_executor(client)
        index = type(self).factory(namespace, MODEL, DIM, self.dtype)
        try:
            await run_async(index.prepare(), execute)
            stored = entry("async", unit(rng))
            await run_async(index.add(stored), execute)
            query = with_similarity(stored.vector, 0.93, rng)
            found = await run_async(index.search(query, PART_A, k=2, min_similarity=0.5), execute)
            assert keys_of(found) == [stored.exact_key]
            assert found[0].similarity == pytest.approx(0.93, abs=self.tolerance)
            assert await run_async(index.remove([stored.exact_key]), execute) == 1
            assert await run_async(index.clear(), execute) == 0
        finally:
            await client.aclose()

    def test_real_embeddings_paraphrase_ranks_above_unrelated(
        self, index: VectorIndex, run: Run, local_vectors: dict[str, np.ndarray]
    ) -> None:
        texts = list(local_vectors)
        stored_text, paraphrase = texts[0], texts[1]
        for i, t in enumerate(texts):
            if t != paraphrase:
                run(index.add(entry(f"real{i}", local_vectors[t], text=t)))
        query = local_vectors[paraphrase]
        found = run(index.search(query, PART_A, k=len(texts), min_similarity=-1.0))
        assert found[0].text == stored_text
        for c in found:
            true_similarity = float(np.dot(local_vectors[c.text], query))
            assert c.similarity == pytest.approx(true_similarity, abs=self.tolerance)
        # The paraphrase is clearly nearer than anything unrelated.
        assert found[0].similarity - found[1].similarity > 0.05


# -- on the Redis Cluster ---------------------------------------------------------------------


class ClusterIndexContract(VectorIndexContract):
    """The index contract with requests run by the cache's cluster connector."""

    @pytest.fixture
    def server_url(self, redis_cluster: EmbeddedCluster) -> str:
        return redis_cluster.url

    @pytest.fixture
    def client(self, server_url: str) -> Iterator[redis.cluster.RedisCluster]:  # type: ignore[override]
        client = redis.cluster.RedisCluster.from_url(server_url)
        yield client
        client.close()

    def connect(self, server_url: str) -> RedisConnector:
        return RedisConnector(url=server_url, settings=CacheSettings(timeout=5.0, cluster=True))

    connect_async = connect

    @pytest.fixture
    def run(self, server_url: str) -> Iterator[Run]:  # type: ignore[override]
        connector = RedisConnector(url=server_url, settings=CacheSettings(timeout=5.0))
        yield lambda op: run_sync(op, connector.execute)
        assert connector.is_cluster is True  # found out by itself
        connector.close()
