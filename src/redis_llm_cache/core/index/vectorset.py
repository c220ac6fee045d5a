"""``vectorset`` strategy: Redis 8 vector sets (``VADD`` / ``VSIM``), one set per partition.

Server: Redis >= 8.0 (vector sets are built in; no module needed), also Redis
Stack 8 and Redis Cloud. ``VSIM ... WITHATTRIBS`` (Redis >= 8.2) is used when the
server has it; older 8.x servers get the attributes with ``VGETATTR`` in a
pipeline (found out once, on the first search). Each command touches one key, so
the layout also works on Redis Cluster.

Storage, per entry (``<index16>``/``<entry64>``: see :mod:`.keys`):

* one element ``<entry64>`` of the vector set ``<ns>:sem:v1:vs:<index16>:<partition32>``
  holding the vector (``NOQUANT`` for ``dtype="float32"``, ``Q8`` for
  ``"float16"``) and a JSON attribute ``{"x": expires_ms, "k": exact_key,
  "q": text, "c": created_ms}``;
* one string ``<ns>:sem:v1:vsk:<index16>:<entry64>`` -> ``<partition32>`` with the
  entry's TTL: :meth:`~VectorSetIndex.remove` gets only exact keys, and this tells it
  which set holds the element (and lets :meth:`~VectorSetIndex.add` move an entry
  that changed partition).

Why the partition is a pre-filter: it is the key. A search reads only the set of
its own partition, so entries of other partitions are not even in the graph it
walks -- the strongest isolation there is, with no filter selectivity to tune.

Expiry: elements cannot expire one by one, so ``VSIM`` runs with
``FILTER '.x > <now_ms>'``, evaluated inside the HNSW search (an expired element
never takes a result slot). Expired elements are reclaimed lazily: every
:meth:`~VectorSetIndex.add` runs a one-key script that inserts, samples a few random
members and ``VREM``s the expired ones (like Redis' own active expiry), and keeps
the set's TTL at the latest expiry of its elements (none while an entry without
TTL is in it), so an abandoned partition disappears as a whole. ``x`` comes from
the writer's clock and is compared with the reader's: clock skew between clients
shifts expiry by that much (the exact tier's value, which a hit must also read,
expires by the server's clock).
With a sliding TTL a hit rewrites the element's attributes with a later ``x``
(``VSETATTR``, in a one-key script that also extends the set's TTL) and extends
the pointer's TTL, in one round trip.

Scores: ``VSIM ... WITHSCORES`` reports ``1 - d/2`` where ``d = 1 - cos`` is the
cosine distance of the (normalized) vectors, i.e. ``(1 + cos) / 2`` in [0, 1]
("1 is identical, 0 is opposite"; redis/redis ``modules/vector-sets``: README and
``vset.c`` ``RedisModule_ReplyWithDouble(ctx, 1.0 - distances[i]/2.0)``), so
``cosine = 2 * score - 1``.

Quantization (bench/index_recall.py, 5k clustered 384-d vectors, one set): on
queries whose two nearest vectors differ by ~0.008 in cosine, recall@1 is 1.000 with
``NOQUANT``, 0.973 with ``Q8`` at half the memory, 0.16 with ``BIN``. Again on 3k
real embeddings of the bundled model (queries: paraphrases) with ``EF 64``:
recall@1 0.997 ``NOQUANT``, 0.963 ``Q8``; ``Q8`` similarities were off by up to
1.6e-3 (p99 1.1e-3; 1.2e-3 on 1024-d vectors, where recall stayed 1.000) -- small
against a threshold, but enough to swap near-ties. ``dtype`` picks between the
first two: ``float32`` -> ``NOQUANT`` (exact similarities; the default of this
strategy), ``float16`` -> ``Q8`` (compact, approximate).

Memory per entry, d=384 (measured, 5k entries, ~60-byte attributes): ~2.4 KB with
``NOQUANT``, ~1.3 KB with ``Q8``; plus ~150 B for the partition pointer and the text.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from typing import Any, Literal

import orjson

from ...errors import ConfigurationError
from ..embedding.embedder import Matrix, check_vector
from ..keys import (
    ENTRY_HEX,
    KEY_VERSION,
    VECTOR_SET,
    VECTOR_SET_POINTER,
    encode_parts,
    entry_id,
    escape_glob,
    index_digest,
    semantic_prefix,
)
from ..ops import Call, Command, Operation, Pipeline, RedisOperation
from ..replies import (
    FOREIGN_VECTOR_SET,
    NO_WITHATTRIBS,
    error_says,
    raise_if_error,
    text,
    vsim_rows,
)
from ..scan import scan_each, unlink_batch
from .base import PARTITION_HEX, Candidate, IndexEntry, IndexWrites, run_writes
from .common import check_args

Quantization = Literal["NOQUANT", "Q8", "BIN"]

#: ``x`` of an entry without TTL (largest integer a JSON double holds exactly).
NEVER_MS = 2**53 - 1

#: Random members examined for expiry on each add.
SWEEP_SAMPLE = 3

#: ``VSIM`` search breadth. ``EF`` is the candidate list of the HNSW walk;
#: ``FILTER-EF`` bounds the elements the expiry filter is evaluated on (server
#: default ``COUNT * 100``: 400 JSON attribute reads for the usual ``COUNT 4``).
#: Measured (20k clustered 1024-d vectors, one set, ``COUNT 4``, the grid of
#: bench/index_recall.py): with the server defaults the fastest search took 2.1 ms,
#: with ``FILTER-EF 40`` 0.86 ms, recall@1 1.000 both; 64 leaves headroom (recall at
#: 10k/100k entries: bench/README.md). Expired elements still in the set (reclaimed lazily) use
#: up filter attempts: a search then returns fewer candidates, never wrong ones.
SEARCH_EF = 64
FILTER_EF = 64

_HEX_PARTITION = re.compile(rf"[0-9a-f]{{{PARTITION_HEX}}}")

# Insert, reclaim a few expired members, keep the set's TTL at its latest expiry.
# One key: atomic, and cluster-safe. ARGV: blob, element, quantization, attributes,
# ttl_ms (-1: none), now_ms, sample size. Returns the number of members reclaimed.
_ADD_SCRIPT = """
local key = KEYS[1]
local existed = redis.call('EXISTS', key)
redis.call('VADD', key, 'FP32', ARGV[1], ARGV[2], ARGV[3], 'SETATTR', ARGV[4])
local now = tonumber(ARGV[6])
local reclaimed = 0
for _, member in ipairs(redis.call('VRANDMEMBER', key, tonumber(ARGV[7]))) do
  if member ~= ARGV[2] then
    local attrs = redis.call('VGETATTR', key, member)
    if attrs then
      local ok, decoded = pcall(cjson.decode, attrs)
      if ok and type(decoded) == 'table' and type(decoded.x) == 'number'
          and decoded.x <= now then
        redis.call('VREM', key, member)
        reclaimed = reclaimed + 1
      end
    end
  end
end
local ttl = tonumber(ARGV[5])
if ttl < 0 then
  redis.call('PERSIST', key)
elseif existed == 0 then
  redis.call('PEXPIRE', key, ttl)
else
  -- PTTL -1: the set holds an entry without TTL; keep it persistent.
  local current = redis.call('PTTL', key)
  if current >= 0 and current < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
end
return reclaimed
"""

# Sliding TTL: give an element that is still there its new attributes (a later
# expiry) and keep the set's TTL at least that long (none stays none). One key.
# ARGV: element, attributes, ttl_ms. Returns 1 if the element was there.
_RENEW_SCRIPT = """
local key = KEYS[1]
if redis.call('VSETATTR', key, ARGV[1], ARGV[2]) ~= 1 then
  return 0
end
local ttl = tonumber(ARGV[3])
local current = redis.call('PTTL', key)
if current >= 0 and current < ttl then
  redis.call('PEXPIRE', key, ttl)
end
return 1
"""

_SWAP_POINTER = "return redis.call('SET', KEYS[1], unpack(ARGV))"


def _now_ms() -> int:
    return int(time.time() * 1000)


class VectorSetIndex:
    """Vector index on Redis 8 vector sets (see module docstring for layout and needs).

    Construction does no I/O; :meth:`prepare` has nothing to create (a set comes
    into being with its first element).

    Args:
        quantization: Overrides the storage ``dtype`` implies (``NOQUANT`` for
            float32, ``Q8`` for float16); ``BIN`` is accepted but loses recall.
    """

    name = "vectorset"

    def __init__(
        self,
        namespace: str,
        model_key: str,
        dimensions: int,
        dtype: Literal["float32", "float16"] = "float32",
        *,
        quantization: Quantization | None = None,
    ) -> None:
        check_args(namespace, model_key, dimensions, dtype)
        if quantization is None:
            quantization = "NOQUANT" if dtype == "float32" else "Q8"
        if quantization not in ("NOQUANT", "Q8", "BIN"):
            raise ConfigurationError(f"quantization must be NOQUANT, Q8 or BIN: {quantization!r}")
        self.namespace = namespace
        self.dimensions = dimensions
        self.dtype = dtype
        self.quantization: Quantization = quantization
        # A set's quantization is fixed by its first VADD: part of the digest, so a
        # process configured differently uses other sets instead of failing.
        digest = index_digest("vectorset", model_key, dimensions, quantization)
        base = semantic_prefix(namespace)
        self.set_prefix = f"{base}{VECTOR_SET}:{digest}:"
        self.pointer_prefix = f"{base}{VECTOR_SET_POINTER}:{digest}:"
        self.set_pattern = escape_glob(self.set_prefix) + "?" * PARTITION_HEX
        self.pointer_pattern = escape_glob(self.pointer_prefix) + "?" * ENTRY_HEX
        self._withattribs: bool | None = None  # unknown until the first search
        #: Sets this process found foreign (another type or dimension) and removed.
        self.repairs = 0

    # -- keys and encoding ----------------------------------------------------------------

    def set_key(self, partition: str) -> str:
        """Key of the vector set holding ``partition``'s entries."""
        return self.set_prefix + _partition_segment(partition)

    def pointer_key(self, exact_key: str) -> str:
        return self.pointer_prefix + entry_id(exact_key)

    def _blob(self, vector: Matrix) -> bytes:
        return check_vector(vector, dimensions=self.dimensions).astype("<f4", copy=False).tobytes()

    # -- the contract ---------------------------------------------------------------------

    def prepare(self) -> Operation[None]:
        yield from ()

    def add(self, entry: IndexEntry) -> Operation[None]:
        yield from run_writes(self.writes((entry,)))

    def writes(self, entries: Sequence[IndexEntry]) -> IndexWrites:
        """Two commands per entry: swap the partition pointer (its previous value
        says where the entry was) and insert into the partition's set. ``finish``
        repairs a foreign set and removes an entry from the set of the partition
        it left."""
        now = _now_ms()
        commands: list[Command] = []
        inserts: list[tuple[str, str, str, Command]] = []
        for entry in entries:
            segment = _partition_segment(entry.partition)
            set_key = self.set_prefix + segment
            element = entry_id(entry.exact_key)
            ttl = None if entry.ttl_ms is None else max(1, int(entry.ttl_ms))
            expires = NEVER_MS if ttl is None else now + ttl
            attributes = _attributes(expires, entry.exact_key, entry.text, entry.created_ms)
            # SET ... GET (in a script: redis-py turns a plain SET's reply into a
            # bool): the partition this entry was in before, if any.
            point: Command = ("EVAL", _SWAP_POINTER, 1, self.pointer_prefix + element, segment,
                              "GET")  # fmt: skip
            if ttl is not None:
                point += ("PX", ttl)
            insert = (
                "EVAL", _ADD_SCRIPT, 1, set_key,
                self._blob(entry.vector), element, self.quantization, attributes,
                -1 if ttl is None else ttl, now, SWEEP_SAMPLE,
            )  # fmt: skip
            commands += (point, insert)
            inserts.append((segment, set_key, element, insert))

        def finish(replies: list[Any]) -> Operation[None]:
            repaired: set[str] = set()
            moved: list[Command] = []
            for (segment, set_key, element, insert), previous, inserted in zip(
                inserts, replies[0::2], replies[1::2], strict=True
            ):
                previous = raise_if_error(previous)
                if isinstance(inserted, Exception) and error_says(inserted, FOREIGN_VECTOR_SET):
                    # Our key holds something else: remove it and insert once more.
                    if set_key not in repaired:
                        yield from self._remove_foreign(set_key)
                        repaired.add(set_key)
                    inserted = yield Call(insert)
                raise_if_error(inserted)
                if previous is not None and text(previous) != segment:
                    # Same exact key, new partition: the old element must not answer there.
                    moved.append(("VREM", self.set_prefix + text(previous), element))
            if moved:
                for reply in (yield Pipeline(tuple(moved))):
                    raise_if_error(reply)

        return IndexWrites(tuple(commands), finish)

    def renew(
        self, candidate: Candidate, partition: str, ttl_ms: int, *, also: tuple[Command, ...] = ()
    ) -> Operation[None]:
        ttl = max(1, int(ttl_ms))
        element = entry_id(candidate.exact_key)
        attributes = _attributes(_now_ms() + ttl, candidate.exact_key, candidate.text,
                                 candidate.created_ms)  # fmt: skip
        renew = ("EVAL", _RENEW_SCRIPT, 1, self.set_key(partition), element, attributes, ttl)
        # The pointer lives as long as the element, or remove() could not find it.
        yield Pipeline((renew, ("PEXPIRE", self.pointer_prefix + element, ttl), *also))

    def search(
        self, vector: Matrix, partition: str, *, k: int, min_similarity: float
    ) -> Operation[list[Candidate]]:
        if k < 1:
            return []
        key = self.set_key(partition)
        base: tuple[Any, ...] = ("VSIM", key, "FP32", self._blob(vector), "WITHSCORES")
        tail = (
            "COUNT", int(k), "EF", max(SEARCH_EF, int(k)),
            "FILTER", f".x > {_now_ms()}", "FILTER-EF", max(FILTER_EF, 4 * int(k)),
        )  # fmt: skip
        rows: list[tuple[str, float, Any]]
        if self._withattribs is not False:
            try:
                reply = yield Call((*base, "WITHATTRIBS", *tail))
            except Exception as exc:
                if error_says(exc, FOREIGN_VECTOR_SET):
                    yield from self._remove_foreign(key)
                    return []
                if self._withattribs or not error_says(exc, NO_WITHATTRIBS):
                    raise
                self._withattribs = False
            else:
                self._withattribs = True
                rows = vsim_rows(reply, with_attributes=True)
        if self._withattribs is False:
            try:
                scored = vsim_rows((yield Call((*base, *tail))), with_attributes=False)
            except Exception as exc:
                if not error_says(exc, FOREIGN_VECTOR_SET):
                    raise
                yield from self._remove_foreign(key)
                return []
            attrs = yield Pipeline(tuple(("VGETATTR", key, name) for name, _, _ in scored))
            rows = [
                (name, score, None if isinstance(a, Exception) else a)
                for (name, score, _), a in zip(scored, attrs, strict=True)
            ]
        found: list[Candidate] = []
        for _, score, raw in rows:
            similarity = 2.0 * score - 1.0
            if similarity < min_similarity or raw is None:
                continue
            try:
                attributes = orjson.loads(raw)
                candidate = Candidate(
                    exact_key=str(attributes["k"]),
                    similarity=similarity,
                    text=str(attributes.get("q", "")),
                    created_ms=int(attributes.get("c", 0)),
                )
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # not written by us: not a candidate
            found.append(candidate)
        found.sort(key=lambda c: c.similarity, reverse=True)
        return found[:k]

    def _remove_foreign(self, set_key: str) -> Operation[None]:
        """Unlink a key of ours that is not a vector set of our dimensions (planted,
        or left by another program): its entries can never be searched anyway."""
        yield Call(("UNLINK", set_key))
        self.repairs += 1

    def remove(self, exact_keys: list[str]) -> Operation[int]:
        if not exact_keys:
            return 0
        elements = list(dict.fromkeys(entry_id(k) for k in exact_keys))
        pointers = [self.pointer_prefix + e for e in elements]
        segments = yield Pipeline(tuple(("GET", p) for p in pointers))
        commands: list[tuple[Any, ...]] = []
        for element, pointer, segment in zip(elements, pointers, segments, strict=True):
            if segment is None or isinstance(segment, Exception):
                continue
            commands.append(("VREM", self.set_prefix + text(segment), element))
            commands.append(("UNLINK", pointer))
        if not commands:
            return 0
        replies = yield Pipeline(tuple(commands))
        return sum(int(raise_if_error(r)) for r in replies[0::2])

    def clear(self) -> Operation[int]:
        """Unlink this index's sets and pointers (``SCAN MATCH`` on their fixed-width
        key shapes); returns the number of elements the sets held."""

        def unlink_sets(found: list[Any]) -> RedisOperation[int]:
            replies = yield Pipeline((*(("VCARD", key) for key in found), ("UNLINK", *found)))
            raise_if_error(replies[-1])
            return sum(int(r) for r in replies[:-1] if not isinstance(r, Exception))

        removed = yield from scan_each(self.set_pattern, unlink_sets)
        yield from scan_each(self.pointer_pattern, unlink_batch)
        return removed


def _attributes(expires_ms: int, exact_key: str, question: str, created_ms: int) -> bytes:
    """An element's JSON attributes (module docstring)."""
    return orjson.dumps({"x": expires_ms, "k": exact_key, "q": question, "c": int(created_ms)})


def _partition_segment(partition: str) -> str:
    """The partition id as it appears in a key: itself when it is the usual 32-hex
    :func:`.vector_index.partition_id`, else a digest of it (fixed width either way)."""
    if _HEX_PARTITION.fullmatch(partition):
        return partition
    raw = encode_parts(KEY_VERSION, "partition-segment", partition)
    return hashlib.sha256(raw).hexdigest()[:PARTITION_HEX]
