"""The ``client`` vector index: any Redis stores the vectors, each process searches them.

For Redis servers without vector search (Redis 6.2+/7, Valkey, managed caches,
Redis Cluster). Vectors live in Redis; every process keeps an in-memory copy of
them, each partition's rows in one contiguous block (the partition is a
pre-filter: a search reads only its own block), and answers ``search`` with a
cosine search over that block (see *Search*). A search first
pulls what other processes changed since its last search -- incrementally, from a
change journal -- so writes, removals and ``clear`` anywhere become visible
without re-reading the index.

Keys (``<p>`` = ``<namespace>:sem:v1:c:<index16>:``, ``<index16>`` a digest of the
embedder identity, dimensions and stored type, see :mod:`.keys`)::

    <p>e:<id64>   HASH    one entry: v (vector bytes), p (partition), k (exact key),
                          t (text), c (created ms), x (expires ms, "inf": never);
                          PEXPIRE = the entry's TTL, set with the fields in one
                          script (atomic: never a hash without its TTL)
    <p>ids        ZSET    entry ids scored by expiry ms: what a full resync reads
    <p>log        STREAM  the change journal, trimmed with MAXLEN ~ journal_len;
                          events {o: a, i: id} add, {o: d, i: "id id .."} remove,
                          {o: c} clear, {o: m} a resync's bookmark

Every command (or one-key script) names one key, and pipelines are not
transactions, so all of this works on Redis Cluster (redis-py's cluster pipeline
routes each command to its node; the ``SCAN`` sweep in :meth:`ClientIndex.clear`
walks every master, see :mod:`redis_llm_cache.redis.connection`).

**Journal.** A writer stores the hash and registry member first and appends the
event only after those replies arrived, so a reader that sees an event can read
the entry (in a cluster the two would otherwise race on different nodes). Each
process remembers the id of the last event it applied; a search reads
``XRANGE log <last> +`` -- *inclusive*, so the first reply must be ``<last>``
itself. If it is not (the journal was trimmed past it, deleted, or recreated), the
process **resyncs**: it appends a bookmark event, reads every live id from the
registry and every entry hash, replaces its memory and continues from the
bookmark. Events between the bookmark and the snapshot are replayed; that is
harmless because an add event is applied with the hash as it is *now* (a removed
entry reads as nothing) and removals are idempotent. A process's own adds are
applied from memory when their event comes by (no read back).

**Search.** A partition of fewer than ``_COARSE_MIN_ROWS`` (8192) rows is
scanned exactly: one float32 matrix-vector product. A larger one is searched in
two stages: a coarse pass over one sign bit per dimension of ``x - centre``
(``centre``: the partition's mean, taken when it first gets large and again each
time it doubles; packed into uint64 words: 128 bytes per row at 1024-d, 1/32 of the
float32 matrix) ranks rows by Hamming distance, which estimates the angle between
two vectors; the 512 rows nearest by that measure are then scored exactly in
float32, so every similarity a search returns is exact and the threshold means what
it means elsewhere. What the coarse pass can cost is recall: an entry whose Hamming
distance is not among the 512 smallest is missed. Measured (bench/README.md):
recall@1 1.000 at 100k clustered 1024-d vectors; on 9k real embeddings of the
bundled model, with only the best 46 of 9,000 rows reranked (the share of 512 in 100k),
0.997 -- the one miss an exact tie. numpy < 2.0 has no vectorized popcount: there
every search is exact.

**Expiry.** Each row keeps its expiry time; a search masks expired rows and rows
are dropped in bulk when enough are dead. Redis expires the hash by itself. With a
sliding TTL a hit renews the hash (``x`` and its TTL), the registry score and the
row, and journals an add event when the row had less than half a TTL left, so
the other processes read the later expiry too.

**Verification.** The up to ``k`` best rows are checked against Redis in one
pipeline (``HMGET`` of key, text and creation time -- the text is not kept in
memory); a row whose hash is gone (removed behind the journal's back, evicted by
``maxmemory``, expired by the server's clock) is dropped and the next row is
tried.

**Round trips per search:** one (journal) with no candidates; two with
candidates; one more when other processes added entries since the last search.

**Thread safety.** One lock guards the in-memory index; it is never held across
Redis I/O or across the matrix product. Rows are append-only: a removal marks the
row dead, and compaction and growth build *new* arrays, so a search works on a
snapshot (array references and row count taken under the lock) that no writer
mutates under it.

**Memory per entry in each process:** ``4 * dimensions`` bytes of float32 vector
(4 KiB at 1024-d) and ``dimensions / 8`` bytes of sign code, plus about 300
bytes (id string, dict slot, expiry), plus up to 50% slack from amortized
growth. float32 even for ``dtype="float16"`` (which halves what Redis stores):
numpy has no fast float16 matrix product (measured ~25x slower than float32).

**Failure modes.** The journal, registry and entries are ordinary keys: under
``maxmemory`` with an ``allkeys-*`` policy Redis may evict them. A lost journal is
detected and causes a resync; a lost registry makes entries written before it
invisible to resyncing processes (misses, never wrong hits; they expire by TTL);
a lost entry hash is caught by verification.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ....errors import ConfigurationError
from ...embedding.embedder import Matrix, check_vector
from ...keys import (
    CLIENT,
    CLIENT_ENTRY,
    CLIENT_JOURNAL,
    CLIENT_REGISTRY,
    ENTRY_HEX,
    entry_id,
    escape_glob,
    index_digest,
    semantic_prefix,
)
from ...ops import Call, Command, Operation, Pipeline, RedisOperation
from ...replies import format_stream_id, parse_stream_id, raise_if_error, scored_members, text
from ...scan import scan_each
from ..base import Candidate, IndexEntry, IndexWrites, run_writes
from ..common import check_args, replace_hash
from .journal import StreamId, journal_events
from .kernels import _coarse_rows, _dot_rows
from .kernels import _row_code as _row_code
from .kernels import sign_codes as sign_codes
from .rows import _DEAD, _now_ms, _State

__all__ = ["ClientIndex"]


#: Expiry of a row without TTL, and of a removed row.
_NEVER = np.iinfo(np.int64).max

#: Journal events read per round trip (~100 bytes each).
_READ_BATCH = 1000
#: Entry hashes read per pipeline, and registry members per ZSCAN step: every
#: round trip of a resync stays small (64 x 4 KiB at 1024-d), well inside the
#: cache's per-round-trip timeout even for a large index.
_FETCH_BATCH = 64
_REGISTRY_BATCH = 512
#: Own adds remembered until their event comes by (beyond that they are read back).
_MAX_PENDING = 10_000
#: Searches that drop stale rows retry at most this many times before returning.
_VERIFY_ROUNDS = 3
#: A partition is compacted when this many rows (and a quarter of it) are dead.
_COMPACT_MIN_DEAD = 1024
#: Partitions with at least this many rows are searched in two stages (module docs);
#: smaller ones are scanned exactly (at 1024-d, 8k rows are a 32 MB product: ~1.5 ms).
_COARSE_MIN_ROWS = 8192
#: Rows the coarse stage hands to the exact stage (bench/client_index_search.py).
_RERANK_ROWS = 512
#: numpy >= 2.0 has a vectorized popcount; without it every search is exact.
_HAS_POPCOUNT = hasattr(np, "bitwise_count")


# Sliding TTL: a later expiry for an entry hash that still exists (``x`` and the
# key's TTL together). One key. ARGV: ttl_ms, expires_ms. Returns 1 if it existed.
_RENEW_ENTRY = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'x', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""


class ClientIndex:
    """Vector index for Redis without vector search: exact search in process memory.

    A search never fails silently: Redis errors propagate to the caller (the
    semantic tier's fail-open policy turns them into misses). See the module
    docstring for keys, the journal, resync, expiry and thread safety.

    Args:
        namespace: Key namespace of the cache.
        model_key: Identity of the embedder (its vectors are not comparable to
            another model's, so each model has its own index).
        dimensions: Vector dimensions.
        dtype: How vectors are stored *in Redis*: ``"float32"`` or ``"float16"``
            (half the Redis memory; searches in memory are float32 either way).
        journal_len: Approximate number of journal events Redis keeps. A process
            that falls further behind (idle while others write) resyncs fully.

    Example:
        >>> index = ClientIndex("myapp", "ollama:bge-m3", 1024)
        >>> cache = RedisLLMCache(redis_url="redis://localhost:6379",
        ...                       embedder=embedder, semantic_strategy="client")
    """

    name = "client"

    def __init__(
        self,
        namespace: str,
        model_key: str,
        dimensions: int,
        dtype: Literal["float32", "float16"] = "float32",
        *,
        journal_len: int = 100_000,
    ) -> None:
        check_args(namespace, model_key, dimensions, dtype)
        if isinstance(journal_len, bool) or not isinstance(journal_len, int) or journal_len < 1:
            raise ConfigurationError(f"journal_len must be an int >= 1, got {journal_len!r}")
        self.namespace = namespace
        self.dimensions = dimensions
        self.dtype = dtype
        self._stored = np.dtype(dtype)
        self.journal_len = journal_len
        digest = index_digest("client", model_key, dimensions, dtype)
        self.prefix = f"{semantic_prefix(namespace)}{CLIENT}:{digest}:"
        self.log_key = f"{self.prefix}{CLIENT_JOURNAL}"
        self.ids_key = f"{self.prefix}{CLIENT_REGISTRY}"
        self._lock = threading.Lock()
        self._state: _State | None = None  # None: never synced
        # Stream id of an own add -> (entry id, partition, vector, expires).
        self._pending: dict[StreamId, tuple[str, str, Matrix, int]] = {}
        self._counts = {"resyncs": 0, "events": 0, "fetched": 0, "verify_dropped": 0}

    # -- keys -----------------------------------------------------------------------------

    def entry_key(self, exact_key: str) -> str:
        """The hash holding the entry whose answer is under ``exact_key``."""
        return self._key(entry_id(exact_key))

    def _key(self, eid: str) -> str:
        return f"{self.prefix}{CLIENT_ENTRY}:{eid}"

    def _entry_pattern(self) -> str:
        return f"{escape_glob(self.prefix)}{CLIENT_ENTRY}:{'?' * ENTRY_HEX}"

    # -- introspection ------------------------------------------------------------------------

    def sync_stats(self) -> dict[str, int]:
        """Counters of this process's syncing: ``resyncs`` (full reloads), ``events``
        (journal events applied), ``fetched`` (entry hashes read for others' adds),
        ``verify_dropped`` (rows dropped because their hash was gone), and ``size``
        (rows in memory)."""
        with self._lock:
            counts = dict(self._counts)
            counts["size"] = self._state.size() if self._state is not None else 0
        return counts

    # -- VectorIndex ----------------------------------------------------------------------------

    def prepare(self) -> Operation[None]:
        """Nothing to create on the server; the first search loads the index."""
        return
        yield  # a generator, like every operation

    def add(self, entry: IndexEntry) -> Operation[None]:
        """Store ``entry`` in Redis and journal it (two round trips: see module docs)."""
        yield from run_writes(self.writes((entry,)))

    def writes(self, entries: Sequence[IndexEntry]) -> IndexWrites:
        """The hashes and registry members first; ``finish`` journals the adds only
        once their replies arrived (see *Journal* in the module docs)."""
        now = _now_ms()
        commands: list[Command] = []
        rows: list[tuple[str, str, Matrix, int]] = []
        expiries: list[Any] = []
        for entry in entries:
            vector = self._as_vector(entry.vector)
            ttl = entry.ttl_ms
            if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1):
                raise ValueError(f"ttl_ms must be a positive int or None, got {ttl!r}")
            eid = entry_id(entry.exact_key)
            expires = _NEVER if ttl is None else entry.created_ms + ttl
            stored = vector.astype(self._stored)
            fields = {
                "v": stored.tobytes(),
                "p": entry.partition,
                "k": entry.exact_key,
                "t": entry.text,
                "c": entry.created_ms,
                "x": "inf" if ttl is None else expires,
            }
            commands.append(replace_hash(self._key(eid), fields, ttl))  # with its TTL, atomically
            expiries += ("+inf" if ttl is None else expires, eid)
            # Remember what others will read back (float16 rounds), so every process
            # holds the same vector.
            rows.append((eid, entry.partition, stored.astype(np.float32), expires))
        if rows:
            commands.append(("ZADD", self.ids_key, *expiries))
            # Registry members of expired entries: pruned here, so a resync reads
            # only live ids and the registry does not grow without bound.
            commands.append(("ZREMRANGEBYSCORE", self.ids_key, "-inf", now))

        def finish(replies: list[Any]) -> Operation[None]:
            for reply in replies:
                raise_if_error(reply)
            if not rows:
                return
            journaled = yield Pipeline(tuple(self._journal("a", row[0]) for row in rows))
            with self._lock:
                for row, reply in zip(rows, journaled, strict=True):
                    sid = parse_stream_id(raise_if_error(reply))
                    if len(self._pending) >= _MAX_PENDING:
                        del self._pending[next(iter(self._pending))]  # read back instead
                    self._pending[sid] = row

        return IndexWrites(tuple(commands), finish)

    def search(
        self, vector: Matrix, partition: str, *, k: int, min_similarity: float
    ) -> Operation[list[Candidate]]:
        """Best-first entries of ``partition`` with similarity ``>= min_similarity``;
        ``[]`` when none. Pulls the journal first, verifies candidates after."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        query = self._as_vector(vector)
        yield from self._sync()
        found: dict[str, Candidate] = {}
        for _ in range(_VERIFY_ROUNDS):
            nearest = self._nearest(query, partition, k, min_similarity)
            unchecked = [(eid, s) for eid, s in nearest if eid not in found]
            if not unchecked:
                break
            replies = yield Pipeline(
                tuple(("HMGET", self._key(eid), "k", "t", "c") for eid, _ in unchecked)
            )
            gone = []
            for (eid, similarity), reply in zip(unchecked, replies, strict=True):
                exact_key, txt, created = raise_if_error(reply)
                if exact_key is None:
                    gone.append(eid)
                else:
                    found[eid] = Candidate(text(exact_key), similarity, text(txt), int(created))
            if not gone:
                break
            with self._lock:
                for eid in gone:
                    if self._state is not None:
                        self._state.drop(eid)
                self._counts["verify_dropped"] += len(gone)
        ranked = sorted(found.values(), key=lambda c: c.similarity, reverse=True)
        return ranked[:k]

    def renew(
        self, candidate: Candidate, partition: str, ttl_ms: int, *, also: tuple[Command, ...] = ()
    ) -> Operation[None]:
        """Sliding TTL: a later expiry for the entry's hash (if still there), registry
        member and row in memory; journaled (an add event: others read the hash
        again) only when this process's row had less than half a TTL left, so a
        frequently served entry costs the journal about two events per TTL."""
        ttl = max(1, int(ttl_ms))
        eid = entry_id(candidate.exact_key)
        now = _now_ms()
        expires = now + ttl
        replies = yield Pipeline(
            (
                ("EVAL", _RENEW_ENTRY, 1, self._key(eid), ttl, expires),
                # XX: never re-register a removed entry; GT: never shorten.
                ("ZADD", self.ids_key, "XX", "GT", expires, eid),
                *also,
            )
        )
        if replies[0] != 1:
            return  # gone (or the script failed): nothing to renew
        with self._lock:
            found = self._state.where.get(eid) if self._state is not None else None
            known = _DEAD
            if found is not None:
                rows, row = found
                known = int(rows.expires[row])
                rows.expires[row] = max(known, expires)
        if known - now < ttl // 2:
            # After the hash was renewed (module docs, *Journal*).
            yield Call(self._journal("a", eid))

    def remove(self, exact_keys: list[str]) -> Operation[int]:
        """Unlink the entries and journal their removal; returns how many existed."""
        eids = list(dict.fromkeys(entry_id(key) for key in exact_keys))
        if not eids:
            return 0
        commands = tuple(("UNLINK", self._key(eid)) for eid in eids)  # one key each: cluster
        replies = yield Pipeline((*commands, ("ZREM", self.ids_key, *eids)))
        removed = sum(int(raise_if_error(reply)) for reply in replies[:-1])
        raise_if_error(replies[-1])
        yield Call(self._journal("d", " ".join(eids)))
        with self._lock:
            # Dropping early is always safe: a row can only be missing, never wrong.
            if self._state is not None:
                for eid in eids:
                    self._state.drop(eid)
        return removed

    def clear(self) -> Operation[int]:
        """Remove every entry of this index; other processes drop theirs at their
        next search. Returns how many entries were removed."""
        # Journal first, so other processes stop serving the entries as soon as
        # possible; entries added concurrently may be removed too (then caught
        # by verification), which is what clearing during writes means.
        yield Call(self._journal("c"))
        removed = 0
        cursor: Any = 0
        while True:
            cursor, page = yield from self._registry_page(cursor)
            if page:
                eids = [eid for eid, _ in page]
                replies = yield Pipeline(
                    (*(("UNLINK", self._key(eid)) for eid in eids), ("ZREM", self.ids_key, *eids))
                )
                removed += sum(int(raise_if_error(reply)) for reply in replies[:-1])
            if int(cursor) == 0:
                break
        # Sweep hashes the registry does not know (a writer that died between its
        # two round trips, a registry lost to eviction). The pattern spells out the
        # fixed-width id, so it cannot match keys outside this index.
        removed += yield from scan_each(self._entry_pattern(), _unlink_one_by_one)
        with self._lock:
            if self._state is not None:
                self._state.parts.clear()
                self._state.where.clear()
        return removed

    # -- journal -----------------------------------------------------------------------------

    def _journal(self, op: str, ids: str | None = None) -> tuple[Any, ...]:
        command: tuple[Any, ...] = ("XADD", self.log_key, "MAXLEN", "~", self.journal_len, "*")
        command += ("o", op) if ids is None else ("o", op, "i", ids)
        return command

    def _sync(self) -> Operation[None]:
        """Apply the journal since this process's last event, or resync."""
        with self._lock:
            state = self._state
        if state is None:
            yield from self._resync()
            return
        cursor = state.last_id
        while True:
            reply = yield Call(
                ("XRANGE", self.log_key, format_stream_id(cursor), "+", "COUNT", _READ_BATCH + 1)
            )
            events = journal_events(reply)
            if not events or events[0][0] != cursor:
                # Our last event is gone: trimmed, or the journal deleted/recreated.
                yield from self._resync()
                return
            events = events[1:]
            if not events:
                return
            if not (yield from self._apply(state, events)):
                return  # another caller resynced meanwhile; its state is newer
            cursor = events[-1][0]
            if len(events) < _READ_BATCH:
                return

    def _apply(self, state: _State, events: list[tuple[StreamId, str, str]]) -> Operation[bool]:
        with self._lock:
            pending = {sid: self._pending.pop(sid) for sid, _, _ in events if sid in self._pending}
        wanted = [ids for sid, op, ids in events if op == "a" and sid not in pending and ids]
        fetched = yield from self._fetch(list(dict.fromkeys(wanted)))
        now = _now_ms()
        with self._lock:
            if self._state is not state:
                return False
            applied = 0
            for sid, op, ids in events:
                if sid <= state.last_id:
                    continue  # applied by a concurrent search of this process
                applied += 1
                state.last_id = sid
                if op == "a":
                    row = pending.get(sid) or fetched.get(ids)
                    if row is not None and row[3] > now:
                        state.put(*row, self.dimensions)
                    else:
                        state.drop(ids)  # read back as gone (or already expired)
                elif op == "d":
                    for eid in ids.split():
                        state.drop(eid)
                elif op == "c":
                    state.parts.clear()
                    state.where.clear()
            self._counts["events"] += applied
            self._counts["fetched"] += len(wanted)
            if self._pending:
                # Own adds whose event a concurrent search applied before they
                # were registered: their rows came from Redis already.
                last = state.last_id
                self._pending = {sid: v for sid, v in self._pending.items() if sid > last}
        return True

    def _fetch(self, eids: Sequence[str]) -> Operation[dict[str, tuple[str, str, Matrix, int]]]:
        """Entries as they are in Redis now; missing or malformed ones are left out."""
        out: dict[str, tuple[str, str, Matrix, int]] = {}
        for start in range(0, len(eids), _FETCH_BATCH):
            chunk = eids[start : start + _FETCH_BATCH]
            replies = yield Pipeline(
                tuple(("HMGET", self._key(eid), "v", "p", "x") for eid in chunk)
            )
            for eid, reply in zip(chunk, replies, strict=True):
                row = self._decode(eid, raise_if_error(reply))
                if row is not None:
                    out[eid] = row
        return out

    def _decode(self, eid: str, reply: Iterable[Any]) -> tuple[str, str, Matrix, int] | None:
        raw, partition, expires = reply
        if raw is None or partition is None or expires is None:
            return None
        if len(raw) != self.dimensions * self._stored.itemsize:
            return None  # not written by this index's layout: never guess
        vector = np.frombuffer(raw, dtype=self._stored).astype(np.float32)
        x = text(expires)
        return eid, text(partition), vector, _NEVER if x == "inf" else int(x)

    def _resync(self) -> Operation[None]:
        """Reload every live entry; continue the journal from a fresh bookmark."""
        # The bookmark is taken before the snapshot: whatever happens after it is
        # replayed by the next sync (see module docs on why replays are harmless).
        bookmark = parse_stream_id((yield Call(self._journal("m"))))
        state = _State(bookmark)
        read = 0
        cursor: Any = 0
        while True:
            # ZSCAN, not one ZRANGE: bounded replies, and it still returns every
            # member present from start to end of the scan (perhaps twice: harmless).
            cursor, page = yield from self._registry_page(cursor)
            now = _now_ms()
            live = [eid for eid, expires in page if expires > now]
            fetched = yield from self._fetch(live)
            read += len(live)
            now = _now_ms()
            for row in fetched.values():
                if row[3] > now:
                    state.put(*row, self.dimensions)
            if int(cursor) == 0:
                break
        with self._lock:
            self._pending = {sid: v for sid, v in self._pending.items() if sid > bookmark}
            self._state = state
            self._counts["resyncs"] += 1
            self._counts["fetched"] += read

    def _registry_page(self, cursor: Any) -> Operation[tuple[Any, list[tuple[str, float]]]]:
        """One ``ZSCAN`` step over the registry: ``(next cursor, [(id, expires_ms)])``."""
        cursor, items = yield Call(("ZSCAN", self.ids_key, cursor, "COUNT", _REGISTRY_BATCH))
        return cursor, [(text(member), float(score)) for member, score in scored_members(items)]

    # -- in-memory search --------------------------------------------------------------------

    def _as_vector(self, vector: Matrix) -> Matrix:
        return check_vector(vector, dimensions=self.dimensions)

    def _nearest(
        self, query: Matrix, partition: str, k: int, min_similarity: float
    ) -> list[tuple[str, float]]:
        with self._lock:
            state = self._state
            rows = state.parts.get(partition) if state is not None else None
            if rows is None or rows.n == 0:
                return []
            n = rows.n
            coarse = n >= _COARSE_MIN_ROWS and _HAS_POPCOUNT
            if coarse and (rows.centre is None or n >= 2 * rows.coded_at):
                # Once when the partition gets large, again each time it doubles
                # (the mean drifts as entries come and go).
                _State.fit_codes(rows)
            vectors, codes, centre = rows.vectors, rows.codes, rows.centre
            expires, ids = rows.expires, rows.ids
        # Outside the lock: these arrays are never written below row n (module docs).
        now = _now_ms()
        dead = expires[:n] <= now
        picked: npt.NDArray[np.intp] | None = None
        if coarse and centre is not None:
            picked = _coarse_rows(codes[:, :n], query - centre, dead, max(_RERANK_ROWS, k))
            scores = _dot_rows(vectors[picked], query)
        else:
            scores = _dot_rows(vectors[:n], query)
            scores[dead] = -np.inf
        np.clip(scores, -1.0, 1.0, out=scores)  # rounding can leave |cos| a hair above 1
        eligible = np.flatnonzero(scores >= min_similarity)
        if len(eligible) > k:
            top = np.argpartition(-scores[eligible], k - 1)[:k]
            eligible = eligible[top]
        eligible = eligible[np.argsort(-scores[eligible], kind="stable")]
        rows_of = eligible if picked is None else picked[eligible]
        result = [(ids[row], float(scores[at])) for row, at in zip(rows_of, eligible, strict=True)]
        dead_count = int(dead.sum())
        if dead_count >= _COMPACT_MIN_DEAD and dead_count * 4 >= n:
            with self._lock:
                if (
                    state is not None
                    and self._state is state
                    and state.parts.get(partition) is rows
                ):
                    state.compact(rows, now)
        return result


def _unlink_one_by_one(keys: list[Any]) -> RedisOperation[int]:
    """One single-key ``UNLINK`` per key (in one pipeline): keys in different
    Cluster slots cannot share a command."""
    replies = yield Pipeline(tuple(("UNLINK", key) for key in keys))
    return sum(int(raise_if_error(reply)) for reply in replies)
