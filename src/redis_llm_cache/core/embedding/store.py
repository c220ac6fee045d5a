"""The embedding store: each text is embedded once per model and role, then read
from Redis (or from an in-process LRU tier in front of it).

One operation, :meth:`EmbeddingStore.embed`, written once as a generator (see
:mod:`.ops`). Besides Redis requests it yields :class:`Embed` requests -- "embed
these texts with the inner model" -- so the sync driver calls the model's sync
method and the async driver awaits its async method, and the cache logic exists
once.

Per call:

1. Duplicates are folded: each distinct text is looked up and embedded once.
2. The memory tier (optional) answers what it holds.
3. The rest is read from Redis in **one round trip**: a non-transactional
   pipeline of ``GET`` s. Not ``MGET``: on Redis Cluster the keys of different
   texts live in different hash slots and a multi-key ``MGET`` across slots fails
   (``CROSSSLOT``); redis-py's cluster pipeline sends one batch per node instead.
   Forcing one slot with a hash tag would put a whole model's vectors on one
   node. On a single Redis the pipeline is one round trip, like ``MGET``.
4. The misses go to the inner model in batches of ``batch_size``; each batch is
   checked (count, dimensions, NaN/Inf) **before** anything is stored -- a bad
   batch raises ``ValueError`` and nothing of it is cached -- and then written in
   one pipelined round trip (``SET key value PX ttl``: the TTL is set atomically
   with the value). Earlier good batches stay cached.

Values: ``b"rlv" + format byte + dimensions (uint32 LE) + little-endian floats``
(format 1: float32, format 2: float16). The 8-byte header keeps the floats
aligned. A value that is not ours, is truncated, has other dimensions or holds
NaN/Inf is counted (``corrupt_removed``), treated as a miss, and replaced by the
recomputed vector in the same call.

Failures: if Redis fails, the runtime throws :class:`RedisUnavailable` into the
operation at its ``yield``; a failed lookup means "everything missed", a failed
write is skipped. Errors of the inner model (and ``ValueError`` for a bad
vector) always propagate: they are the caller's, not the cache's.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Generator, Sequence
from typing import Any, Protocol, cast

import numpy as np

# Defined in config (every setting lives there); importable from here as before.
from ...config import DEFAULT_EMBEDDING_TIMEOUT_S as DEFAULT_EMBEDDING_TIMEOUT_S
from ...config import EmbeddingSettings as EmbeddingSettings
from ...config import ttl_millis
from ...errors import ConfigurationError
from ..keys import EmbeddingKeys
from ..ops import Call, Embed, Pipeline, RedisOperation
from ..scan import scan_each, unlink_batch
from ..stats import CacheStats
from .embedder import ROLES, Matrix, Role, check_vectors, identity_text

logger = logging.getLogger(__name__)

MAGIC = b"rlv"
HEADER_BYTES = 8
FORMAT_FLOAT32 = 1
FORMAT_FLOAT16 = 2
_DTYPES: dict[int, np.dtype[Any]] = {
    FORMAT_FLOAT32: np.dtype("<f4"),
    FORMAT_FLOAT16: np.dtype("<f2"),
}
_FORMAT_OF = {"float32": FORMAT_FLOAT32, "float16": FORMAT_FLOAT16}


class RedisUnavailable(Exception):
    """Thrown into an operation at a Redis ``yield`` when the runtime failed open:
    Redis failed (already counted and logged) or the circuit breaker is open."""


EmbeddingRequest = Call | Pipeline | Embed
EmbeddingOperation = Generator[EmbeddingRequest, Any, Matrix]


class SupportsEmbed(Protocol):
    """What the store needs from a model: batches of texts in, rows out.

    Every core :class:`~.embedder.Embedder` qualifies; framework adapters wrap
    LangChain / LlamaIndex models in one.
    """

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> object: ...

    def aembed(self, texts: Sequence[str], *, role: Role = "document") -> Awaitable[object]: ...


def model_key(provider: str, model: str, options: dict[str, object] | None = None) -> str:
    """Identity key of a model whose dimensions are not known up front (a wrapped
    framework model): ``EmbedderIdentity.canonical()``'s form with
    ``"dimensions": null``. Dimensions are then checked, not keyed: the model
    name and options decide the vectors."""
    try:
        return identity_text(provider, model, None, options or {})
    except TypeError as exc:
        raise ConfigurationError(f"embedder options must be JSON values: {exc}") from exc


class EmbeddingStats(CacheStats):
    """:class:`CacheStats` (errors, breaker) plus the embedding counters.

    Counted per *distinct* text of a call: ``hits`` (= ``hits_memory`` +
    ``hits_redis``), ``misses``, ``duplicates`` (repeats folded within a call),
    ``texts_embedded``, ``batches_sent``, ``writes``, ``corrupt_removed``.
    """

    NAMES = (
        "hits_memory",
        "hits_redis",
        "misses",
        "duplicates",
        "texts_embedded",
        "batches_sent",
        "writes",
        "corrupt_removed",
    )

    def __init__(self) -> None:
        super().__init__()
        self._emb_lock = threading.Lock()
        self._emb: Counter[str] = Counter()

    def add(self, **counts: int) -> None:
        with self._emb_lock:
            self._emb.update(counts)

    def snapshot(self) -> dict[str, Any]:
        base = super().snapshot()
        with self._emb_lock:
            out: dict[str, Any] = {name: self._emb.get(name, 0) for name in self.NAMES}
        out["hits"] = out["hits_memory"] + out["hits_redis"]
        lookups = out["hits"] + out["misses"]
        out["hit_rate"] = out["hits"] / lookups if lookups else 0.0
        for name in ("errors", "errors_by_kind", "breaker_opens", "breaker_skips"):
            out[name] = base[name]
        return out

    def reset(self) -> None:
        super().reset()
        with self._emb_lock:
            self._emb.clear()


class MemoryTier:
    """Process-local LRU of vectors, bounded by entry count and by bytes.

    Vectors are immutable for a key (same model, role and text), so entries need
    no invalidation; a Redis TTL only bounds Redis memory.
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._data: OrderedDict[str, np.ndarray[Any, np.dtype[np.float32]]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get(self, key: str) -> np.ndarray[Any, np.dtype[np.float32]] | None:
        with self._lock:
            vector = self._data.get(key)
            if vector is not None:
                self._data.move_to_end(key)
            return vector

    def put(self, key: str, vector: np.ndarray[Any, np.dtype[np.float32]]) -> None:
        size = vector.nbytes
        if size > self.max_bytes:
            return
        vector = vector.copy()  # never keep a view of a caller-visible matrix
        vector.flags.writeable = False
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._data[key] = vector
            self._bytes += size
            while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
                _, evicted = self._data.popitem(last=False)
                self._bytes -= evicted.nbytes

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0


def encode_vector(vector: np.ndarray[Any, Any], fmt: int) -> bytes:
    """Header + little-endian floats of one row."""
    header = MAGIC + bytes((fmt,)) + len(vector).to_bytes(4, "little")
    return header + vector.astype(_DTYPES[fmt], copy=False).tobytes()


def decode_vector(raw: object, dimensions: int | None) -> np.ndarray[Any, Any] | None:
    """The float32 row stored in ``raw``, or ``None`` if it is not a valid value
    of ours with ``dimensions`` dimensions (any, if ``None``)."""
    if not isinstance(raw, bytes) or len(raw) < HEADER_BYTES or raw[:3] != MAGIC:
        return None
    dtype = _DTYPES.get(raw[3])
    dims = int.from_bytes(raw[4:8], "little")
    if dtype is None or dims < 1 or (dimensions is not None and dims != dimensions):
        return None
    if len(raw) != HEADER_BYTES + dims * dtype.itemsize:
        return None
    vector = np.frombuffer(raw, dtype=dtype, offset=HEADER_BYTES).astype(np.float32)
    if not np.isfinite(vector).all():
        return None
    return vector


class EmbeddingStore:
    """Operations of the embedding cache for one namespace and one model.

    Args:
        settings: Behaviour (see :class:`EmbeddingSettings`).
        identity_key: Identity of the model in keys: ``EmbedderIdentity.canonical()``
            for a core embedder, :func:`model_key` for a wrapped one.
        dimensions: Expected vector length; ``None``: learned from the first
            vector seen (then fixed for this object).
        stats: Where counts go.
    """

    def __init__(
        self,
        settings: EmbeddingSettings,
        *,
        identity_key: str,
        dimensions: int | None,
        stats: EmbeddingStats,
    ) -> None:
        if dimensions is not None and (
            isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1
        ):
            raise ConfigurationError(f"dimensions must be None or an int >= 1, got {dimensions!r}")
        self.settings = settings
        self.identity_key = identity_key
        self.keys = EmbeddingKeys(settings.namespace, identity_key)
        self.stats = stats
        self._dimensions = dimensions
        self._format = _FORMAT_OF[settings.dtype]
        ttl_ms = ttl_millis(settings.ttl)
        self._set_tail: tuple[Any, ...] = () if ttl_ms is None else ("PX", ttl_ms)
        self.memory: MemoryTier | None = None
        if settings.memory_max_entries is not None:
            self.memory = MemoryTier(settings.memory_max_entries, settings.memory_max_bytes)

    @property
    def dimensions(self) -> int | None:
        """Vector length: given, or learned from the first vector seen."""
        return self._dimensions

    def _learn(self, dims: int) -> None:
        # Benign race: two threads learning at once learn the same model's length.
        if self._dimensions is None:
            self._dimensions = dims

    # -- the operation -------------------------------------------------------------------

    def embed(self, texts: Sequence[str], role: Role) -> EmbeddingOperation:
        """Vectors of ``texts`` in order, as a float32 matrix; misses are embedded by
        the inner model (via :class:`Embed` requests) and stored."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of str, not one str")
        if role not in ROLES:
            raise ValueError(f"role must be 'query' or 'document', got {role!r}")
        for text in texts:
            if type(text) is not str:
                raise TypeError(f"texts must be str, got {type(text).__name__}")
        if not texts:
            return np.empty((0, self._dimensions or 0), dtype=np.float32)

        # 1. Fold duplicates: position -> index of its distinct text.
        index_of: dict[str, int] = {}
        positions = [index_of.setdefault(text, len(index_of)) for text in texts]
        unique = list(index_of)
        keys = [self.keys.key(role, text) for text in unique]
        rows: list[np.ndarray[Any, Any] | None] = [None] * len(unique)

        # 2. Memory tier.
        hits_memory = 0
        memory = self.memory
        if memory is not None:
            for i, key in enumerate(keys):
                vector = memory.get(key)
                if vector is not None and (
                    self._dimensions is None or len(vector) == self._dimensions
                ):
                    rows[i] = vector
                    hits_memory += 1

        # 3. Redis: one round trip for everything the memory tier did not have.
        hits_redis = corrupt = 0
        pending = [i for i, row in enumerate(rows) if row is None]
        if pending:
            try:
                replies = yield Pipeline(tuple(("GET", keys[i]) for i in pending))
            except RedisUnavailable:
                replies = [None] * len(pending)
            for i, raw in zip(pending, replies, strict=True):
                if raw is None:
                    continue
                vector = (
                    None if isinstance(raw, Exception) else decode_vector(raw, self._dimensions)
                )
                if vector is None:
                    # Foreign, truncated, wrong dimensions, NaN, or a key of another
                    # type (WRONGTYPE): a miss; the recomputed SET replaces it.
                    corrupt += 1
                    logger.debug("embedding cache: invalid value at %s replaced", keys[i])
                    continue
                self._learn(len(vector))
                rows[i] = vector
                hits_redis += 1
                if memory is not None:
                    memory.put(keys[i], vector)

        misses = [i for i, row in enumerate(rows) if row is None]
        self.stats.add(
            hits_memory=hits_memory,
            hits_redis=hits_redis,
            misses=len(misses),
            duplicates=len(texts) - len(unique),
            corrupt_removed=corrupt,
        )

        # 4. Misses: the model, in batches; each good batch is stored at once.
        batch_size = self.settings.batch_size
        for start in range(0, len(misses), batch_size):
            batch = misses[start : start + batch_size]
            reply = yield Embed(tuple(unique[i] for i in batch), role)
            matrix = self._checked(reply, len(batch))
            self.stats.add(texts_embedded=len(batch), batches_sent=1)
            yield from self._store(matrix, [keys[i] for i in batch])
            for row, i in enumerate(batch):
                rows[i] = matrix[row]

        out = np.stack(cast("list[np.ndarray[Any, Any]]", rows))
        if len(unique) != len(texts):
            out = out[positions]
        return np.ascontiguousarray(out, dtype=np.float32)

    def _checked(self, reply: object, count: int) -> Matrix:
        """Validate (and optionally normalize) a model's batch; a float16 cache
        returns the rounded vectors, as later hits will."""
        matrix = check_vectors(
            reply, count=count, dimensions=self._dimensions, normalize=self.settings.normalize
        )
        self._learn(matrix.shape[1])
        if self._format == FORMAT_FLOAT16:
            with np.errstate(over="ignore"):
                rounded = matrix.astype(np.float16)
            if not np.isfinite(rounded).all():
                raise ValueError("a vector has values beyond float16's range; use dtype='float32'")
            matrix = rounded.astype(np.float32)
        return matrix

    def _store(self, matrix: Matrix, keys: list[str]) -> Generator[EmbeddingRequest, Any, None]:
        tail = self._set_tail
        commands = tuple(
            ("SET", key, encode_vector(row, self._format), *tail)
            for key, row in zip(keys, matrix, strict=True)
        )
        if self.memory is not None:
            for key, row in zip(keys, matrix, strict=True):
                self.memory.put(key, row)
        try:
            replies = yield Pipeline(commands)
        except RedisUnavailable:
            self.stats.record_skipped_write("redis_unavailable")
            return
        written = 0
        for reply in replies:
            if isinstance(reply, Exception):  # e.g. OOM with noeviction
                self.stats.record_error(type(reply).__name__)
            else:
                written += 1
        self.stats.add(writes=written)

    # -- maintenance -----------------------------------------------------------------------

    def clear(self, *, all_models: bool = False) -> RedisOperation[int]:
        """Unlink this model's vectors (or every model's in the namespace) with
        ``SCAN MATCH`` + ``UNLINK``, never ``FLUSHDB``. Returns keys removed."""
        if self.memory is not None:
            self.memory.clear()
        return (yield from scan_each(self.keys.pattern(all_models=all_models), unlink_batch))

    def count(self, *, all_models: bool = False) -> RedisOperation[int]:
        """Vectors stored for this model (a full ``SCAN``: for tools and tests)."""
        return (yield from scan_each(self.keys.pattern(all_models=all_models)))
