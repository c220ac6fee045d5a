"""Vector indexes for the semantic tier: one contract, three strategies.

The semantic tier finds, for the embedding of a new question, the most similar
questions already answered **within the same partition** (tenant, model settings,
conversation context -- one opaque string, see :func:`partition_id`). The
partition is a pre-filter *inside* the vector search, never a check on the single
nearest result afterwards: a nearer entry of another partition must not hide a
real hit.

Strategies (chosen from what the server supports, overridable):

* ``search``    -- RediSearch ``FT.CREATE ... VECTOR HNSW`` over hashes, ``TAG``
  pre-filter on the partition (Redis Stack, Redis 8 with the Query Engine);
* ``vectorset`` -- Redis 8 vector sets (``VADD`` / ``VSIM``);
* ``client``    -- plain Redis, Valkey, Cluster: vectors live in Redis, each process
  keeps an in-memory index in step with Redis incrementally.

Every method returns an operation (a generator of Redis requests, see
:mod:`.ops`), so each strategy is written once for sync and async. Entry ids are
the exact tier's entry keys: a semantic hit is answered with the value stored
under ``entry.exact_key``; deleting or expiring that value ends the hit too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ...config import DEFAULT_DTYPES
from ...errors import ConfigurationError
from ..embedding.embedder import Matrix
from ..keys import KEY_VERSION, encode_parts
from ..keys import PARTITION_HEX as PARTITION_HEX
from ..ops import Command, Operation, Pipeline


def partition_id(tenant: str, llm_string: str, context: str) -> str:
    """The pre-filter value of a partition: what must match exactly for any hit."""
    raw = encode_parts(KEY_VERSION, "partition", tenant, llm_string, context)
    return hashlib.sha256(raw).hexdigest()[:PARTITION_HEX]


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One answered question, as the index stores it.

    Attributes:
        exact_key: The exact tier key holding the answer; also the entry's id.
        partition: :func:`partition_id` of the question.
        vector: L2-normalized ``float32`` vector of ``text`` (1-D).
        text: The text that was embedded (the user's last message), reported as the
            matched prompt of a hit.
        created_ms: Creation time, ms since the epoch.
        ttl_ms: Lifetime in ms (``None``: no expiry); an expired entry is never returned.
    """

    exact_key: str
    partition: str
    vector: Matrix
    text: str
    created_ms: int
    ttl_ms: int | None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A search result: an entry and its cosine similarity to the query, in [-1, 1]."""

    exact_key: str
    similarity: float
    text: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class IndexWrites:
    """How a strategy stores entries, split so a caller can send the commands in its
    own round trip (beside the answers they index): ``commands`` first, then
    ``finish`` with their replies (in order), which checks them and sends whatever
    must come after them (a journal event, a repair)."""

    commands: tuple[Command, ...]
    finish: Callable[[list[Any]], Operation[None]]


def nothing_after(replies: list[Any]) -> Operation[None]:
    """``finish`` of writes that need no second step: raise the first error."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return
    yield  # a generator, like every operation


def run_writes(writes: IndexWrites) -> Operation[None]:
    """Send ``writes`` on their own: one round trip, then their ``finish``."""
    replies: list[Any] = []
    if writes.commands:
        replies = yield Pipeline(writes.commands)
    yield from writes.finish(list(replies))


class VectorIndex(Protocol):
    """The contract every strategy meets (checked by one shared contract test suite).

    ``search`` returns at most ``k`` candidates of ``partition`` with similarity
    ``>= min_similarity``, best first; entries of other partitions, removed or
    expired entries are never returned. Writes by other processes become visible
    to later searches.
    """

    name: str

    def prepare(self) -> Operation[None]:
        """Create server-side structures if missing (idempotent, cheap when done)."""
        ...

    def add(self, entry: IndexEntry) -> Operation[None]:
        """Store ``entry`` (replacing an entry with the same ``exact_key``)."""
        ...

    def writes(self, entries: Sequence[IndexEntry]) -> IndexWrites:
        """What storing ``entries`` takes (no I/O): the caller sends
        ``commands`` -- alone or in its own pipeline -- then runs ``finish``.
        ``add(e)`` is ``run_writes(writes([e]))``."""
        ...

    def search(
        self, vector: Matrix, partition: str, *, k: int, min_similarity: float
    ) -> Operation[list[Candidate]]:
        """Nearest entries of ``partition`` to ``vector`` (1-D, normalized)."""
        ...

    def renew(
        self, candidate: Candidate, partition: str, ttl_ms: int, *, also: tuple[Command, ...] = ()
    ) -> Operation[None]:
        """Make ``candidate`` (of ``partition``) expire ``ttl_ms`` from now (sliding
        TTL: its answer was just served); an entry removed or expired meanwhile stays
        gone. ``also``: the caller's commands, sent in the same round trip, their
        replies ignored. Errors the server answers are ignored (best effort)."""
        ...

    def remove(self, exact_keys: list[str]) -> Operation[int]:
        """Remove entries by id; returns how many existed."""
        ...

    def clear(self) -> Operation[int]:
        """Remove every entry of this index's namespace; returns how many."""
        ...


def make_index(
    strategy: str, *, namespace: str, model_key: str, dimensions: int, dtype: str | None
) -> VectorIndex:
    """The vector index of ``strategy``, storing ``dtype`` vectors (``None``: the
    strategy's default, :data:`~redis_llm_cache.config.DEFAULT_DTYPES`). Each
    strategy's module is imported here, on first use."""
    if dtype is None:
        dtype = DEFAULT_DTYPES.get(strategy, "float32")
    if strategy == "search":
        from .search import SearchIndex

        return SearchIndex(namespace, model_key, dimensions, dtype)  # type: ignore[arg-type]
    if strategy == "vectorset":
        from .vectorset import VectorSetIndex

        return VectorSetIndex(namespace, model_key, dimensions, dtype)  # type: ignore[arg-type]
    if strategy == "client":
        from .client import ClientIndex

        return ClientIndex(namespace, model_key, dimensions, dtype)  # type: ignore[arg-type]
    raise ConfigurationError(f"unknown vector index strategy {strategy!r}")
