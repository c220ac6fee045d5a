"""The ``client`` vector index on real Redis without modules (and with, ignoring them).

The shared contract (:mod:`index_contract`) runs against both test servers and the
Redis Cluster; the tests below it cover what only this strategy has: the change
journal that keeps each process's in-memory index in step with Redis, resyncs,
verification of candidates against Redis, and sharing one index between threads.

"Another process" is simulated by a second :class:`ClientIndex` object with its
own Redis client: the two share nothing but the server.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import pytest
import redis
import redis.asyncio
from index_contract import (
    DIM,
    MODEL,
    PART_A,
    PART_B,
    ClusterIndexContract,
    Run,
    VectorIndexContract,
    async_executor,
    entry,
    keys_of,
    sync_executor,
    unit,
    with_similarity,
)

from redis_llm_cache.core.index import client as client_index
from redis_llm_cache.core.index.client import ClientIndex
from redis_llm_cache.errors import ConfigurationError
from redis_llm_cache.runtime import run_async, run_sync

REAL_TEXTS = [
    "How do I reset my password?",  # stored
    "How can I reset my password?",  # the query: a paraphrase of the first
    "How do I reset my router?",  # near miss
    "What is the capital of France?",
    "Best pizza dough recipe with mozzarella",
]


@pytest.fixture(scope="session")
def local_vectors() -> dict[str, np.ndarray]:
    from redis_llm_cache.embedders import LocalEmbedder

    matrix = LocalEmbedder().embed(REAL_TEXTS, role="query")
    return dict(zip(REAL_TEXTS, matrix, strict=True))


class ClientIndexContract(VectorIndexContract):
    factory = ClientIndex
    kind: ClassVar[str]

    @pytest.fixture
    def server_url(self, redis_servers: dict[str, str]) -> str:
        # No capability needed: any Redis will do, modules or not.
        return redis_servers[self.kind]


class TestClientIndexOnPlain(ClientIndexContract):
    kind = "plain"


class TestClientIndexOnStack(ClientIndexContract):
    kind = "stack"


class TestClientIndexFloat16OnPlain(ClientIndexContract):
    kind = "plain"
    dtype = "float16"
    tolerance = 1e-2


class TestClientIndexTwoStageOnPlain(ClientIndexContract):
    """The whole contract with every partition searched in two stages, and a
    coarse stage that hands on only 8 rows (more only when ``k`` asks for more)."""

    kind = "plain"

    @pytest.fixture(autouse=True)
    def _two_stage_always(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(client_index, "_COARSE_MIN_ROWS", 1)
        monkeypatch.setattr(client_index, "_RERANK_ROWS", 8)


class TestClientIndexOnCluster(ClusterIndexContract):
    factory = ClientIndex


# -- strategy-specific tests ------------------------------------------------------------------


class Process:
    """One simulated process: its own index object and its own Redis client."""

    def __init__(self, url: str, namespace: str, dtype: str = "float32") -> None:
        self.client = redis.Redis.from_url(url)
        self.index = ClientIndex(namespace, MODEL, DIM, dtype)  # type: ignore[arg-type]
        execute = sync_executor(self.client)
        self.run: Run = lambda op: run_sync(op, execute)

    def find(self, vector: np.ndarray, partition: str = PART_A, k: int = 5) -> list[str]:
        return keys_of(self.run(self.index.search(vector, partition, k=k, min_similarity=0.5)))

    def stats(self) -> dict[str, int]:
        return self.index.sync_stats()


@pytest.fixture(params=["plain", "stack"])
def url(request: pytest.FixtureRequest, redis_servers: dict[str, str]) -> str:
    return redis_servers[str(request.param)]


@pytest.fixture
def processes(url: str, namespace: str) -> Iterator[Callable[..., Process]]:
    made: list[Process] = []

    def make(dtype: str = "float32") -> Process:
        process = Process(url, namespace, dtype)
        made.append(process)
        return process

    yield make
    if made:
        made[0].run(made[0].index.clear())
        made[0].client.delete(made[0].index.log_key, made[0].index.ids_key)
    for process in made:
        process.client.close()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_constructor_validates_and_does_no_io() -> None:
    # No server at all: building the object must not connect.
    index = ClientIndex("ns", MODEL, DIM)
    assert index.name == "client"
    assert re.fullmatch(r"ns:sem:v1:c:[0-9a-f]{16}:", index.prefix)
    assert index.entry_key("a:b:" + "0" * 64) == f"{index.prefix}e:{'0' * 64}"
    assert ClientIndex("ns", MODEL, DIM, "float16").prefix != index.prefix
    assert ClientIndex("ns", MODEL + "x", DIM).prefix != index.prefix
    with pytest.raises(ConfigurationError):
        ClientIndex("", MODEL, DIM)
    with pytest.raises(ConfigurationError):
        ClientIndex("ns", MODEL, 0)
    with pytest.raises(ConfigurationError):
        ClientIndex("ns", MODEL, DIM, "int8")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        ClientIndex("ns", MODEL, DIM, journal_len=0)


def test_keys_are_single_entry_hashes_a_registry_and_a_journal(
    processes: Callable[..., Process], rng: np.random.Generator
) -> None:
    p = processes()
    stored = entry("a", unit(rng), ttl_ms=60_000)
    p.run(p.index.add(stored))
    key = p.index.entry_key(stored.exact_key)
    assert p.client.type(key) == b"hash"
    assert 50_000 < p.client.pttl(key) <= 60_000  # room for a loaded machine
    assert p.client.hget(key, "k") == stored.exact_key.encode()
    assert p.client.hstrlen(key, "v") == 4 * DIM
    assert p.client.type(p.index.ids_key) == b"zset"
    assert p.client.type(p.index.log_key) == b"stream"
    # No TTL: the hash persists, its registry score is +inf.
    forever = entry("b", unit(rng), ttl_ms=None)
    p.run(p.index.add(forever))
    assert p.client.pttl(p.index.entry_key(forever.exact_key)) == -1
    assert p.client.zscore(p.index.ids_key, p.index.entry_key(forever.exact_key)[-64:]) == float(
        "inf"
    )


def test_float16_halves_what_redis_stores(
    processes: Callable[..., Process], rng: np.random.Generator
) -> None:
    p = processes("float16")
    stored = entry("a", unit(rng))
    p.run(p.index.add(stored))
    assert p.client.hstrlen(p.index.entry_key(stored.exact_key), "v") == 2 * DIM


def test_writes_of_another_process_arrive_incrementally(
    processes: Callable[..., Process], rng: np.random.Generator
) -> None:
    a, b = processes(), processes()
    first = entry("first", unit(rng))
    a.run(a.index.add(first))
    assert a.find(first.vector) == [first.exact_key]
    assert a.stats()["resyncs"] == 1  # the first search loads the index once
    fetched = a.stats()["fetched"]

    later = [entry(f"b{i}", unit(rng)) for i in range(3)]
    for e in later:
        b.run(b.index.add(e))
    for e in later:
        assert a.find(e.vector) == [e.exact_key]
    stats = a.stats()
    assert stats["resyncs"] == 1  # no reload: only the three new hashes were read
    assert stats["fetched"] == fetched + 3
    assert stats["size"] == 4


def test_own_adds_are_not_read_back(
    processes: Callable[..., Process], rng: np.random.Generator
) -> None:
    a = processes()
    a.find(unit(rng))  # initial (empty) load
    entries = [entry(f"own{i}", unit(rng)) for i in range(5)]
    for e in entries:
        a.run(a.index.add(e))
    for e in entries:
        assert a.find(e.vector) == [e.exact_key]
    assert a.stats()["fetched"] == 0
    assert a.stats()["events"] == 5


def test_a_long_backlog_is_read_in_pages(
    processes: Callable[..., Process], rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_index, "_READ_BATCH", 4)
    a, b = processes(), processes()
    a.find(unit(rng))
    entries = [entry(f"e{i}", unit(rng)) for i in range(11)]
    for e in entries:
        b.run(b.index.add(e))
    b.run(b.index.remove([entries[0].exact_key]))
    assert a.find(entries[0].vector) == []
    for e in entries[1:]:
        assert a.find(e.vector) == [e.exact_key]
    assert a.stats()["resyncs"] == 1
    assert a.stats()["events"] == 12
    assert a.stats()["verify_dropped"] == 0


def test_removal_and_clear_by_another_process_are_noticed(
    processes: Callable[..., Process], rng: np.random.Generator
) -> None:
    a, b = processes(), processes()
    kept, removed = entry("kept", unit(rng)), entry("removed", unit(rng))
    a.run(a.index.add(kept))
    a.run(a.index.add(removed))
    assert a.find(removed.vector) == [removed.exact_key]
    assert b.run(b.index.remove([removed.exact_key])) == 1
    assert a.find(removed.vector) == []
    assert a.find(kept.vector) == [kept.exact_key]

    assert b.run(b.index.clear()) == 1
    assert a.find(kept.vector) == []
    assert a.stats()["size"] == 0
    after = entry("after", unit(rng))
    b.run(b.index.add(after))
    assert a.find(after.vector) == [after.exact_key]
    # All of it through the journal: no reload, and no row was found stale only
    # when verified against Redis.
    assert a.stats()["resyncs"] == 1
    assert a.stats()["verify_dropped"] == 0


@pytest.mark.parametrize("how", ["trimmed", "deleted"])
def test_a_lost_journal_position_causes_one_resync(
    processes: Callable[..., Process], rng: np.random.Generator, how: str
) -> None:
    a, b = processes(), processes()
    old = entry("old", unit(rng))
    a.run(a.index.add(old))
    assert a.find(old.vector) == [old.exact_key]
    gone = entry("gone", unit(rng))
    b.run(b.index.add(gone))
    new = entry("new", unit(rng))
    b.run(b.index.add(new))
    # Removed behind the journal's back, as eviction or another tool would.
    b.client.unlink(b.index.entry_key(gone.exact_key))
    b.client.zrem(b.index.ids_key, b.index.entry_key(gone.exact_key)[-64:])
    if how == "trimmed":
        b.client.xtrim(b.index.log_key, maxlen=1, approximate=False)
    else:
        b.client.delete(b.index.log_key)
    assert a.find(new.vector) == [new.exact_key]
    assert a.find(old.vector) == [old.exact_key]
    assert a.find(gone.vector) == []
    assert a.stats()["resyncs"] == 2
    assert a.stats()["size"] == 2
    # Back on the incremental path from the resync's bookmark.
    c = entry("c", unit(rng))
    b.run(b.index.add(c))
    assert a.find(c.vector) == [c.exact_key]
    assert a.stats()["resyncs"] == 2


def test_a_short_journal_trims_itself_and_laggards_resync(
    url: str, namespace: str, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small pages, so the resync reads the registry and the hashes in many steps.
    monkeypatch.setattr(client_index, "_REGISTRY_BATCH", 16)
    monkeypatch.setattr(client_index, "_FETCH_BATCH", 8)
    writer = Process(url, namespace)
    reader = Process(url, namespace)
    writer.index = ClientIndex(namespace, MODEL, DIM, journal_len=1)
    try:
        reader.find(unit(rng))
        entries = [entry(f"e{i}", unit(rng)) for i in range(400)]
        for e in entries:
            writer.run(writer.index.add(e))
        # MAXLEN ~ trims whole nodes (100 entries by default): far fewer than 400 remain.
        assert writer.client.xlen(writer.index.log_key) < 300
        assert reader.find(entries[0].vector) == [entries[0].exact_key]
        assert reader.stats()["resyncs"] == 2
        assert reader.stats()["size"] == 400
    finally:
        writer.run(writer.index.clear())
        writer.client.delete(writer.index.log_key, writer.index.ids_key)
        writer.client.close()
        reader.client.close()


def test_an_entry_deleted_behind_its_back_is_not_returned(
    processes: Callable[..., Process], rng: np.random.Generator
) -> None:
    a = processes()
    query = unit(rng)
    nearest = entry("nearest", with_similarity(query, 0.95, rng))
    second = entry("second", with_similarity(query, 0.9, rng))
    a.run(a.index.add(nearest))
    a.run(a.index.add(second))
    assert a.find(query, k=1) == [nearest.exact_key]
    a.client.unlink(a.index.entry_key(nearest.exact_key))  # no journal event
    # The stale row is dropped at verification and the next one takes its place.
    assert a.find(query, k=1) == [second.exact_key]
    assert a.stats()["verify_dropped"] == 1
    assert a.stats()["size"] == 1


def test_expired_rows_are_compacted_away(
    processes: Callable[..., Process], rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_index, "_COMPACT_MIN_DEAD", 4)
    a = processes()
    query = unit(rng)
    short = [entry(f"s{i}", with_similarity(query, 0.6, rng), ttl_ms=1) for i in range(8)]
    kept = [entry(f"k{i}", with_similarity(query, 0.9, rng)) for i in range(4)]
    for e in short + kept:
        a.run(a.index.add(e))
    a.find(query)  # applies the adds (the short ones expired by now)
    assert sorted(a.find(query)) == sorted(e.exact_key for e in kept)
    state = a.index._state
    assert state is not None
    rows = state.parts[PART_A]
    assert rows.n == 4 and rows.dead == 0
    assert a.stats()["size"] == 4


def test_replacements_reuse_memory_instead_of_growing(
    processes: Callable[..., Process], rng: np.random.Generator
) -> None:
    a = processes()
    a.find(unit(rng))
    vectors = [unit(rng) for _ in range(40)]
    for v in vectors:  # the same exact key, a new vector each time
        a.run(a.index.add(entry("same", v)))
    assert a.find(vectors[-1]) == [entry("same", vectors[-1]).exact_key]
    assert a.find(vectors[0]) == []
    state = a.index._state
    assert state is not None
    rows = state.parts[PART_A]
    # Dead rows are compacted away when the matrix would otherwise grow.
    assert rows.n <= 16 and len(rows.vectors) <= 24
    assert a.stats()["size"] == 1


def test_threads_share_one_index(url: str, namespace: str, rng: np.random.Generator) -> None:
    # One index object (one process), several threads each with its own client:
    # readers search while writers add; nothing is lost or torn.
    index = ClientIndex(namespace, MODEL, DIM)
    vectors = [[unit(rng) for _ in range(15)] for _ in range(3)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def write(w: int) -> None:
        client = redis.Redis.from_url(url)
        try:
            execute = sync_executor(client)
            for i, v in enumerate(vectors[w]):
                run_sync(index.add(entry(f"w{w}-{i}", v)), execute)
        except BaseException as exc:
            errors.append(exc)
        finally:
            client.close()

    def read() -> None:
        client = redis.Redis.from_url(url)
        try:
            execute = sync_executor(client)
            while not stop.is_set():
                for found in run_sync(
                    index.search(vectors[0][0], PART_A, k=3, min_similarity=-1.0), execute
                ):
                    assert -1.0 <= found.similarity <= 1.0
        except BaseException as exc:
            errors.append(exc)
        finally:
            client.close()

    readers = [threading.Thread(target=read) for _ in range(2)]
    writers = [threading.Thread(target=write, args=(w,)) for w in range(3)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join(timeout=30)
    stop.set()
    for t in readers:
        t.join(timeout=30)
    client = redis.Redis.from_url(url)
    run: Run = lambda op: run_sync(op, sync_executor(client))  # noqa: E731
    try:
        assert errors == []
        for w, batch in enumerate(vectors):
            for i, v in enumerate(batch):
                found = run(index.search(v, PART_A, k=1, min_similarity=0.5))
                assert keys_of(found) == [entry(f"w{w}-{i}", v).exact_key]
        assert index.sync_stats()["size"] == 45
    finally:
        run(index.clear())
        client.delete(index.log_key, index.ids_key)
        client.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_both_reply_protocols_are_understood(
    url: str, namespace: str, rng: np.random.Generator, protocol: int
) -> None:
    client = redis.Redis.from_url(url, protocol=protocol)
    run: Run = lambda op: run_sync(op, sync_executor(client))  # noqa: E731
    writer, reader = ClientIndex(namespace, MODEL, DIM), ClientIndex(namespace, MODEL, DIM)
    try:
        first, second = entry("a", unit(rng)), entry("b", unit(rng), ttl_ms=None)
        run(writer.add(first))
        found = run(reader.search(first.vector, PART_A, k=2, min_similarity=0.5))  # resync
        assert keys_of(found) == [first.exact_key]
        run(writer.add(second))
        found = run(reader.search(second.vector, PART_A, k=2, min_similarity=0.5))  # journal
        assert [(c.exact_key, c.text) for c in found] == [(second.exact_key, "question b")]
        assert reader.sync_stats()["resyncs"] == 1
        assert run(writer.clear()) == 2
    finally:
        client.delete(writer.log_key, writer.ids_key)
        client.close()


async def test_async_searches_run_concurrently_on_one_loop(
    url: str, namespace: str, rng: np.random.Generator
) -> None:
    client = redis.asyncio.Redis.from_url(url)
    execute = async_executor(client)
    writer, reader = ClientIndex(namespace, MODEL, DIM), ClientIndex(namespace, MODEL, DIM)
    try:
        entries = [entry(f"a{i}", unit(rng), PART_B) for i in range(6)]
        await asyncio.gather(*(run_async(writer.add(e), execute) for e in entries))

        async def find(vector: np.ndarray) -> list[str]:
            op = reader.search(vector, PART_B, k=1, min_similarity=0.5)
            found: list[Any] = await run_async(op, execute)
            return keys_of(found)

        results = await asyncio.gather(*(find(e.vector) for e in entries))
        assert results == [[e.exact_key] for e in entries]
        assert await run_async(writer.remove([entries[0].exact_key]), execute) == 1
        assert await find(entries[0].vector) == []
        assert await run_async(writer.clear(), execute) == 5
    finally:
        await client.delete(writer.log_key, writer.ids_key)
        await client.aclose()


# -- the two-stage search of large partitions -------------------------------------------------


def test_sign_codes_count_differing_signs() -> None:
    rng = np.random.default_rng(3)
    for dim in (7, 64, 100, 384):
        a, b = rng.standard_normal(dim), rng.standard_normal(dim)
        codes = client_index.sign_codes(np.stack([a, b]).astype(np.float32))
        assert codes.shape == (-(-dim // 64), 2) and codes.dtype == np.uint64
        differing = int(np.bitwise_count(codes[:, 0] ^ codes[:, 1]).sum())
        assert differing == int(((a > 0) != (b > 0)).sum())
        one = client_index._row_code(a.astype(np.float32), codes.shape[0])
        assert np.array_equal(one, codes[:, 0])


def test_two_stage_search_finds_what_exact_search_finds(
    processes: Callable[..., Process], rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_index, "_COARSE_MIN_ROWS", 500)
    monkeypatch.setattr(client_index, "_RERANK_ROWS", 32)
    a, b = processes(), processes()
    # Clustered, so every query has many near neighbours competing for the top, and
    # sharing one strong direction, as real embeddings do (which the codes centre away).
    common = unit(rng)
    centres = [with_similarity(common, 0.8, rng) for _ in range(20)]
    vectors = np.stack([with_similarity(centres[i % 20], 0.85, rng) for i in range(1500)])
    entries = [entry(f"c{i}", v) for i, v in enumerate(vectors)]
    for e in entries:
        a.run(a.index.add(e))
    removed = entries[:100]
    a.run(a.index.remove([e.exact_key for e in removed]))
    live = vectors[100:]
    # Near questions (what a cache hit looks like), among 75 cluster-mates each;
    # and one near a removed entry, which must not come back.
    queries = [with_similarity(vectors[i], 0.97, rng) for i in range(100, 1500, 28)]
    gone = with_similarity(vectors[5], 0.999, rng)
    # b loads everything by resync, a holds its own adds and removals: same answers.
    for process in (a, b):
        for q in queries:
            found = process.run(process.index.search(q, PART_A, k=1, min_similarity=0.9))
            exact = live @ q
            best = int(np.argmax(exact))
            assert keys_of(found) == [entries[100 + best].exact_key]
            assert found[0].similarity == pytest.approx(float(exact[best]), abs=1e-5)
        assert process.run(process.index.search(gone, PART_A, k=1, min_similarity=0.9)) == []
    rows = b.index._state.parts[PART_A]  # type: ignore[union-attr]
    assert rows.n == 1400  # one contiguous block for the partition, nothing else in it


def test_codes_follow_their_rows_through_growth_and_compaction(
    processes: Callable[..., Process], rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_index, "_COMPACT_MIN_DEAD", 4)
    monkeypatch.setattr(client_index, "_COARSE_MIN_ROWS", 1)
    monkeypatch.setattr(client_index, "_RERANK_ROWS", 4)
    a = processes()
    query = unit(rng)
    short = [entry(f"s{i}", with_similarity(query, 0.99, rng), ttl_ms=1) for i in range(30)]
    kept = [entry(f"k{i}", with_similarity(query, 0.6, rng)) for i in range(20)]
    for e in short + kept:
        a.run(a.index.add(e))
    # The expired rows are the nearest: the coarse stage must skip them, not
    # spend its four slots on them.
    found = a.run(a.index.search(query, PART_A, k=1, min_similarity=0.5))
    assert keys_of(found) and keys_of(found)[0] in {e.exact_key for e in kept}
    a.find(query)
    rows = a.index._state.parts[PART_A]  # type: ignore[union-attr]
    assert rows.n == 20 and rows.dead == 0
    assert rows.centre is not None
    expected = client_index.sign_codes(rows.vectors[: rows.n] - rows.centre)
    assert np.array_equal(rows.codes[:, : rows.n], expected)
