"""The vector index contract on the server-side strategies and real Redis servers.

| class | strategy | server |
|---|---|---|
| ``TestSearchIndex`` / ``TestSearchIndexFloat16`` | ``search`` | ``stack`` (RediSearch) |
| ``TestVectorSetIndexOnStack`` / ``...OnPlain`` | ``vectorset`` | ``stack`` / ``plain`` |
| ``TestVectorSetIndexOnCluster`` | ``vectorset`` | ``cluster`` (no RediSearch there) |

With ``REDIS_URL`` set, every class runs against that server and skips when it
lacks the capability (probed with ``MODULE LIST`` / ``COMMAND INFO VADD``); the
cluster class always runs on the session's local cluster.
"""

from __future__ import annotations

import time
from functools import cache
from typing import ClassVar

import numpy as np
import pytest
import redis
from index_contract import (
    DIM,
    MODEL,
    PART_A,
    PART_B,
    ClusterIndexContract,
    Run,
    VectorIndexContract,
    entry,
    keys_of,
    sync_executor,
    unit,
)

from redis_llm_cache.core.index.base import VectorIndex
from redis_llm_cache.core.index.search import SearchIndex, escape_tag
from redis_llm_cache.core.index.vectorset import VectorSetIndex
from redis_llm_cache.runtime import run_sync

#: Time a TTL check allows between a write and reading its PTTL back.
PTTL_SLACK_MS = 9_000

REAL_TEXTS = [
    "How do I reset my password?",  # stored
    "How can I reset my password?",  # the query: a paraphrase of the first
    "How do I reset my router?",  # near miss
    "What is the capital of France?",
    "Best pizza dough recipe with mozzarella",
]


@cache
def _capabilities(url: str) -> frozenset[str]:
    client = redis.Redis.from_url(url)
    found: set[str] = set()
    try:
        try:
            modules = client.execute_command("MODULE", "LIST")
        except redis.ResponseError:
            modules = []
        for module in modules or []:
            if isinstance(module, dict):
                name = module.get(b"name", b"")
            else:
                items = list(module)
                name = items[items.index(b"name") + 1] if b"name" in items else b""
            if isinstance(name, bytes) and name.lower() in (b"search", b"searchlight"):
                found.add("search")
        try:
            if any(client.execute_command("COMMAND", "INFO", "VADD") or []):
                found.add("vectorset")
        except redis.ResponseError:
            pass
    finally:
        client.close()
    return frozenset(found)


def server_with(redis_servers: dict[str, str], kind: str, capability: str) -> str:
    url = redis_servers[kind]
    if capability not in _capabilities(url):
        pytest.skip(f"{url} has no {capability!r} capability")
    return url


def make_run(client: redis.Redis) -> Run:
    execute = sync_executor(client)
    return lambda op: run_sync(op, execute)


@pytest.fixture(scope="session")
def local_vectors() -> dict[str, np.ndarray]:
    from redis_llm_cache.embedders import LocalEmbedder

    matrix = LocalEmbedder().embed(REAL_TEXTS, role="query")
    return dict(zip(REAL_TEXTS, matrix, strict=True))


# -- search -----------------------------------------------------------------------------------


class TestSearchIndex(VectorIndexContract):
    factory = SearchIndex

    @pytest.fixture
    def server_url(self, redis_servers: dict[str, str]) -> str:
        return server_with(redis_servers, "stack", "search")

    def test_search_recreates_a_dropped_index(
        self, index: VectorIndex, run: Run, client: redis.Redis, rng: np.random.Generator
    ) -> None:
        assert isinstance(index, SearchIndex)
        stored = entry("a", unit(rng))
        run(index.add(stored))
        client.execute_command("FT.DROPINDEX", index.index_name)
        assert run(index.search(stored.vector, PART_A, k=1, min_similarity=0.5)) == []
        # Recreated by that search; the surviving hash is indexed again.
        info = client.execute_command("FT.INFO", index.index_name)
        assert info
        # RediSearch re-indexes existing hashes in the background: poll, bounded in time.
        deadline = time.monotonic() + 10
        found = run(index.search(stored.vector, PART_A, k=1, min_similarity=0.5))
        while not found and time.monotonic() < deadline:
            time.sleep(0.02)
            found = run(index.search(stored.vector, PART_A, k=1, min_similarity=0.5))
        assert keys_of(found) == [stored.exact_key]

    def test_other_search_errors_propagate(self, run: Run, namespace: str) -> None:
        index = SearchIndex(namespace, MODEL, DIM)
        # Wrong dimension: rejected before any I/O, not swallowed.
        with pytest.raises(ValueError, match="dimensions"):
            run(index.search(np.zeros(DIM + 1, dtype=np.float32), PART_A, k=1, min_similarity=0))

    def test_large_partitions_are_searched_in_batches(
        self,
        index: VectorIndex,
        run: Run,
        rng: np.random.Generator,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # Small thresholds instead of thousands of documents; the decision rule is real.
        from redis_llm_cache.core.index import search as search_index

        monkeypatch.setattr(search_index, "_BATCHES_MIN_DOCS", 5)
        assert isinstance(index, SearchIndex)
        big = [entry(f"a{i}", unit(rng), PART_A) for i in range(12)]
        small = entry("b", unit(rng), PART_B)
        for stored in [*big, small]:
            run(index.add(stored))
        for stored, partition in ((big[3], PART_A), (small, PART_B)):
            # First search counts the partition; the second uses the chosen policy.
            for _ in range(2):
                found = run(index.search(stored.vector, partition, k=1, min_similarity=0.5))
                assert keys_of(found) == [stored.exact_key]
        assert index._policy[PART_A][0] is True
        assert index._policy[PART_B][0] is False

    def test_tag_values_are_escaped(self) -> None:
        assert escape_tag("ab12") == "ab12"
        assert escape_tag("a-b c{d}|e") == "a\\-b\\ c\\{d\\}\\|e"


class TestSearchIndexFloat16(TestSearchIndex):
    dtype = "float16"
    tolerance = 1e-2


# -- vector sets ------------------------------------------------------------------------------


class VectorSetContract(VectorIndexContract):
    factory = VectorSetIndex
    kind: ClassVar[str]

    @pytest.fixture
    def server_url(self, redis_servers: dict[str, str]) -> str:
        return server_with(redis_servers, self.kind, "vectorset")

    def test_one_set_per_partition_and_pointers_expire_with_entries(
        self, index: VectorIndex, run: Run, client: redis.Redis, rng: np.random.Generator
    ) -> None:
        assert isinstance(index, VectorSetIndex)
        a = entry("a", unit(rng), PART_A, ttl_ms=50_000)
        b = entry("b", unit(rng), PART_B, ttl_ms=60_000)
        run(index.add(a))
        run(index.add(b))
        assert client.execute_command("VCARD", index.set_key(PART_A)) == 1
        assert client.execute_command("VCARD", index.set_key(PART_B)) == 1
        # The set lives as long as its longest-lived element; the pointer as its entry.
        # Each bound allows PTTL_SLACK_MS to pass between the write and the read (a
        # loaded machine) and still tells the TTLs in play (1, 50, 60, 70 s) apart.
        assert 50_000 - PTTL_SLACK_MS < client.pttl(index.set_key(PART_A)) <= 50_000
        assert 50_000 - PTTL_SLACK_MS < client.pttl(index.pointer_key(a.exact_key)) <= 50_000
        run(index.add(entry("c", unit(rng), PART_A, ttl_ms=70_000)))
        assert 70_000 - PTTL_SLACK_MS < client.pttl(index.set_key(PART_A)) <= 70_000
        run(index.add(entry("d", unit(rng), PART_A, ttl_ms=1_000)))  # never shortens it
        assert 70_000 - PTTL_SLACK_MS < client.pttl(index.set_key(PART_A)) <= 70_000
        run(index.add(entry("e", unit(rng), PART_A, ttl_ms=None)))  # no TTL: set persists
        assert client.pttl(index.set_key(PART_A)) == -1
        run(index.add(entry("f", unit(rng), PART_A, ttl_ms=1_000)))
        assert client.pttl(index.set_key(PART_A)) == -1

    def test_adds_reclaim_expired_elements(
        self, index: VectorIndex, run: Run, client: redis.Redis, rng: np.random.Generator
    ) -> None:
        assert isinstance(index, VectorSetIndex)
        for i in range(5):
            run(index.add(entry(f"old{i}", unit(rng), ttl_ms=1)))
        time.sleep(0.01)
        for i in range(10):  # each add samples a few members and drops expired ones
            run(index.add(entry(f"new{i}", unit(rng))))
        assert client.execute_command("VCARD", index.set_key(PART_A)) < 15

    def test_quantization_follows_dtype(
        self, index: VectorIndex, run: Run, client: redis.Redis, rng: np.random.Generator
    ) -> None:
        assert isinstance(index, VectorSetIndex)
        run(index.add(entry("a", unit(rng))))
        info = client.execute_command("VINFO", index.set_key(PART_A))
        if not isinstance(info, dict):
            info = dict(zip(info[0::2], info[1::2], strict=True))
        expected = {"float32": b"f32", "float16": b"int8"}[self.dtype]
        assert info[b"quant-type"] == expected

    def test_search_without_withattribs_reads_attributes_separately(
        self, index: VectorIndex, run: Run, rng: np.random.Generator
    ) -> None:
        # The path taken on Redis 8.0/8.1, whose VSIM has no WITHATTRIBS.
        assert isinstance(index, VectorSetIndex)
        stored = entry("a", unit(rng), text="old server")
        run(index.add(stored))
        index._withattribs = False
        found = run(index.search(stored.vector, PART_A, k=2, min_similarity=0.5))
        assert [(c.exact_key, c.text) for c in found] == [(stored.exact_key, "old server")]

    def test_resp2_replies_are_understood(
        self, namespace: str, server_url: str, rng: np.random.Generator
    ) -> None:
        client = redis.Redis.from_url(server_url, protocol=2)
        run = make_run(client)
        index = VectorSetIndex(namespace, MODEL, DIM, self.dtype)  # type: ignore[arg-type]
        try:
            stored = entry("a", unit(rng))
            run(index.add(stored))
            found = run(index.search(stored.vector, PART_A, k=2, min_similarity=0.5))
            assert keys_of(found) == [stored.exact_key]
            assert found[0].similarity == pytest.approx(1.0, abs=self.tolerance)
            assert run(index.clear()) == 1
        finally:
            client.close()


class TestVectorSetIndexOnStack(VectorSetContract):
    kind = "stack"


class TestVectorSetIndexOnPlain(VectorSetContract):
    kind = "plain"


class TestVectorSetIndexQ8OnPlain(VectorSetContract):
    kind = "plain"
    dtype = "float16"
    tolerance = 1e-2


class TestVectorSetIndexOnCluster(ClusterIndexContract):
    """Every vector set is one key, so one partition lives on one master."""

    factory = VectorSetIndex
