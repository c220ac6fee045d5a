"""``search`` strategy: a RediSearch HNSW index over one hash per entry.

Server: Redis Stack, Redis 8 with the Query Engine, Redis Cloud -- anything with
the ``search`` module and ``FT.CREATE ... VECTOR HNSW`` (RediSearch >= 2.10 for
``dtype="float16"``). Not on open-source Redis Cluster (the module does not support it).

Storage, per entry: one hash ``<ns>:sem:v1:h:<index16>:<entry64>`` with fields

* ``v`` -- the vector, little-endian FLOAT32 (or FLOAT16) bytes,
* ``p`` -- the partition id (indexed as ``TAG``),
* ``q`` -- the embedded text, ``k`` -- the exact tier key, ``c`` -- created (ms),

written with its TTL in one step (a one-key script: ``DEL``, ``HSET``, ``PEXPIRE``,
atomic, so a client that fails midway cannot leave an entry that never expires);
the whole key expires, so no hash-field expiry is needed, and
RediSearch drops a document when its key expires or is deleted. One index
``<ns>:sem:v1:idx:<index16>`` (``ON HASH PREFIX <ns>:sem:v1:h:<index16>:``) per
namespace and embedder (see :mod:`.keys` for the digests).

Why the partition is a pre-filter: the query is the hybrid form
``(@p:{<partition>})=>[KNN k @v $vec]``; RediSearch restricts the KNN to documents
whose ``p`` matches (brute force over them when the filter is selective, filtered
HNSW batches otherwise), so a nearer entry of another partition can neither be
returned nor push the right one out of the top ``k``.

Memory per entry, d=384 FLOAT32: ~4.8 KB measured (``used_memory`` growth over 5k
entries with short texts): the vector twice (hash and HNSW graph, 1.5 KB each),
M=16 links, doc table, tag index and hash overhead; FLOAT16 halves the vector parts
(the strategy's default: similarities off by ~1e-4, see bench/README.md).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from ..embedding.embedder import Matrix, check_vector
from ..keys import (
    ENTRY_HEX,
    SEARCH_ENTRY,
    SEARCH_INDEX,
    entry_id,
    escape_glob,
    index_digest,
    semantic_prefix,
)
from ..ops import Call, Command, Operation, Pipeline
from ..replies import (
    index_attributes,
    index_prefixes,
    is_index_exists,
    is_no_such_index,
    raise_if_error,
    search_documents,
    search_total,
    text,
    unreachable,
)
from ..scan import scan_each, unlink_batch
from .base import Candidate, IndexEntry, IndexWrites, nothing_after, run_writes
from .common import check_args, replace_hash

#: HNSW parameters (bench/index_recall.py: 5k clustered 384-d vectors, queries whose
#: nearest stored vector is only ~0.008 nearer than the second). Pure HNSW
#: (``*=>[KNN ...]``): recall@1 0.957 at EF_RUNTIME 10 (the default), 1.000 at 32
#: (~140 us) and 64 (~220 us); 64 leaves headroom for larger indexes. With the
#: partition filter RediSearch brute-forces a set this small (recall 1.000, ~550 us).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_RUNTIME = 64

_EXPIRED_SLACK = 2

#: RediSearch picks how to run a filtered KNN by its own estimate, and for a
#: partition holding most of the index it picks brute force over the whole
#: partition (measured: 8-10 ms at 20k x 1024-d) where walking the HNSW graph in
#: batches takes 0.3 ms; for a small partition it is the other way round (0.08 ms
#: brute force vs 15 ms in batches). So we count the partition now and then
#: (pipelined with a search, at most once per ``_POLICY_TTL_S`` per partition and
#: process) and ask for batches when it is large and a good share of the index.
_BATCHES_MIN_DOCS = 2000
_BATCHES_MIN_SHARE = 0.05
_POLICY_TTL_S = 10.0
_POLICY_MEMO_MAX = 4096
# Characters that need no escaping inside a TAG value (everything else gets a backslash).
_TAG_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def escape_tag(value: str) -> str:
    """Escape a value for ``@field:{value}`` (query dialect 2): punctuation and
    spaces are otherwise syntax. Partition ids are hex, but keep this honest."""
    return "".join(ch if ch in _TAG_SAFE or ord(ch) > 127 else "\\" + ch for ch in value)


class SearchIndex:
    """Vector index on RediSearch (see module docstring for layout and server needs).

    Construction does no I/O; :meth:`prepare` creates the index (idempotent).
    """

    name = "search"

    def __init__(
        self,
        namespace: str,
        model_key: str,
        dimensions: int,
        dtype: Literal["float32", "float16"] = "float32",
    ) -> None:
        check_args(namespace, model_key, dimensions, dtype)
        self.namespace = namespace
        self.dimensions = dimensions
        self.dtype = dtype
        self._np_dtype = np.dtype("<f4") if dtype == "float32" else np.dtype("<f2")
        digest = index_digest("search", model_key, dimensions, dtype)
        base = semantic_prefix(namespace)
        self.index_name = f"{base}{SEARCH_INDEX}:{digest}"
        self.key_prefix = f"{base}{SEARCH_ENTRY}:{digest}:"
        # Fixed width, escaped: cannot match another namespace's or index's keys.
        self.key_pattern = escape_glob(self.key_prefix) + "?" * ENTRY_HEX
        self._key_len = len(self.key_prefix) + ENTRY_HEX
        # partition -> (use batches?, monotonic time decided); bounded, see search().
        self._policy: dict[str, tuple[bool, float]] = {}
        #: Times this process found the index missing or foreign and recreated it.
        self.repairs = 0

    # -- keys and encoding ----------------------------------------------------------------

    def entry_key(self, exact_key: str) -> str:
        return self.key_prefix + entry_id(exact_key)

    def _blob(self, vector: Matrix) -> bytes:
        array = check_vector(vector, dimensions=self.dimensions)
        return array.astype(self._np_dtype, copy=False).tobytes()

    def _create_command(self) -> tuple[Any, ...]:
        return (
            "FT.CREATE", self.index_name, "ON", "HASH", "PREFIX", 1, self.key_prefix,
            "SCHEMA", "p", "TAG",
            "v", "VECTOR", "HNSW", 12,
            "TYPE", self.dtype.upper(), "DIM", self.dimensions, "DISTANCE_METRIC", "COSINE",
            "M", HNSW_M, "EF_CONSTRUCTION", HNSW_EF_CONSTRUCTION, "EF_RUNTIME", HNSW_EF_RUNTIME,
        )  # fmt: skip

    # -- the contract ---------------------------------------------------------------------

    def prepare(self) -> Operation[None]:
        """Create the index; if one of that name exists, check it is ours (an index
        of another schema would make every search fail or silently find nothing)."""
        try:
            yield Call(self._create_command())
        except Exception as exc:
            if not is_index_exists(exc):
                raise
            yield from self._replace_if_foreign()

    def _replace_if_foreign(self) -> Operation[bool]:
        """Drop (without its documents) and recreate an index of our name whose
        prefix or schema is not ours; ``True`` if it did."""
        info = yield Call(("FT.INFO", self.index_name))
        if _is_ours(info, self.key_prefix, self.dimensions, self.dtype.upper()):
            return False
        try:
            yield Call(("FT.DROPINDEX", self.index_name))
        except Exception as exc:
            if not is_no_such_index(exc):
                raise
        try:
            yield Call(self._create_command())
        except Exception as exc:
            if not is_index_exists(exc):  # another process was quicker
                raise
        self.repairs += 1
        return True

    def add(self, entry: IndexEntry) -> Operation[None]:
        yield from run_writes(self.writes((entry,)))

    def writes(self, entries: Sequence[IndexEntry]) -> IndexWrites:
        """One command per entry (the hash with its TTL); nothing after it."""
        return IndexWrites(tuple(self._replace(entry) for entry in entries), nothing_after)

    def _replace(self, entry: IndexEntry) -> Command:
        fields = {
            "v": self._blob(entry.vector), "p": entry.partition, "q": entry.text,
            "k": entry.exact_key, "c": int(entry.created_ms),
        }  # fmt: skip
        return replace_hash(self.entry_key(entry.exact_key), fields, entry.ttl_ms)

    def search(
        self, vector: Matrix, partition: str, *, k: int, min_similarity: float
    ) -> Operation[list[Candidate]]:
        if k < 1:
            return []
        # A document whose key has expired but not yet been reaped is still listed
        # (with no fields); ask for a few more so it cannot push out a live one.
        knn = int(k) + _EXPIRED_SLACK
        tag = f"@p:{{{escape_tag(partition)}}}"
        now = time.monotonic()
        decided = self._policy.get(partition)
        batches = decided is not None and decided[0]
        policy = " HYBRID_POLICY BATCHES" if batches else ""
        query = f"({tag})=>[KNN {knn} @v $vec{policy} AS dist]"
        command = (
            "FT.SEARCH", self.index_name, query, "PARAMS", 2, "vec", self._blob(vector),
            "SORTBY", "dist", "RETURN", 4, "dist", "k", "q", "c",
            "DIALECT", 2, "LIMIT", 0, knn,
        )  # fmt: skip
        try:
            if decided is not None and now - decided[1] < _POLICY_TTL_S:
                reply = yield Call(command)
            else:
                replies = yield Pipeline(
                    (
                        command,
                        ("FT.SEARCH", self.index_name, tag, "LIMIT", 0, 0, "DIALECT", 2),
                        ("FT.SEARCH", self.index_name, "*", "LIMIT", 0, 0, "DIALECT", 2),
                    )
                )
                reply = raise_if_error(replies[0])
                if not isinstance(replies[1], Exception) and not isinstance(replies[2], Exception):
                    in_partition, in_index = search_total(replies[1]), search_total(replies[2])
                    if len(self._policy) >= _POLICY_MEMO_MAX:
                        self._policy.clear()
                    self._policy[partition] = (
                        in_partition >= _BATCHES_MIN_DOCS
                        and in_partition >= _BATCHES_MIN_SHARE * in_index,
                        now,
                    )
        except Exception as exc:
            if is_no_such_index(exc):
                # Dropped (FLUSHALL, FT.DROPINDEX, a restart without persistence): its
                # documents are gone or get re-indexed by the new index. Nothing to find now.
                yield from self.prepare()
                self.repairs += 1
                return []
            if unreachable(exc) or not (yield from self._replace_if_foreign()):
                raise
            return []
        found: list[Candidate] = []
        for doc_id, fields in search_documents(reply):
            if len(doc_id) != self._key_len or not doc_id.startswith(self.key_prefix):
                # A key of another namespace whose name happens to extend our prefix.
                continue
            try:
                similarity = 1.0 - float(fields["dist"])
                candidate = Candidate(
                    exact_key=fields["k"],
                    similarity=similarity,
                    text=fields.get("q", ""),
                    created_ms=int(fields.get("c", "0")),
                )
            except (KeyError, ValueError):
                continue  # not written by us: not a candidate
            if similarity >= min_similarity:
                found.append(candidate)
        found.sort(key=lambda c: c.similarity, reverse=True)
        return found[:k]

    def renew(
        self, candidate: Candidate, partition: str, ttl_ms: int, *, also: tuple[Command, ...] = ()
    ) -> Operation[None]:
        # PEXPIRE does nothing to a key that is gone: a removed entry stays removed.
        key = self.entry_key(candidate.exact_key)
        yield Pipeline((("PEXPIRE", key, max(1, int(ttl_ms))), *also))

    def remove(self, exact_keys: list[str]) -> Operation[int]:
        if not exact_keys:
            return 0
        keys = list(dict.fromkeys(self.entry_key(k) for k in exact_keys))
        return int((yield Call(("UNLINK", *keys))))

    def clear(self) -> Operation[int]:
        """Unlink this index's documents (``SCAN MATCH`` on the fixed-width key shape);
        the index itself is kept, so a concurrent writer's next entry is indexed."""
        return (yield from scan_each(self.key_pattern, unlink_batch))


def _is_ours(info: Any, prefix: str, dimensions: int, data_type: str) -> bool:
    """Whether an ``FT.INFO`` reply describes the index :class:`SearchIndex` creates."""
    try:
        prefixes = index_prefixes(info)
        attributes = index_attributes(info)
        tag, vector = attributes["p"], attributes["v"]
        return (
            prefixes == [prefix]
            and text(tag["type"]) == "TAG"
            and text(vector["type"]) == "VECTOR"
            and int(vector["dim"]) == dimensions
            and text(vector["data_type"]).upper() == data_type
            and text(vector["distance_metric"]).upper() == "COSINE"
        )
    except (KeyError, TypeError, ValueError):
        return False
