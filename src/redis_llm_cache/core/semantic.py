"""The semantic tier: a paraphrase of an answered question is served that answer.

Lookup (after an exact miss): embed the question's text, search the vector index
for the nearest stored questions **of the same partition** with similarity at
least the threshold (the partition -- tenant, ``llm_string`` and conversation
context -- is a pre-filter inside the search), then read the best candidate's
answer from the exact tier. A candidate whose answer has expired or was removed
is dropped from the index and the next one is tried.

Update (after the exact write): embed the text (usually already embedded by the
lookup that missed, so the vector is reused) and add it to the index with the
exact entry's key and TTL.

Both are operations (see :mod:`.ops`). Besides Redis requests they yield
:class:`~.ops.Embed`, which the cache's driver answers with the embedder's
``embed`` (sync) or ``aembed`` (async).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import numpy as np

from ..config import CacheSettings
from ..errors import ConfigurationError
from ._index_common import ENTRY_HEX, entry_id, semantic_prefix
from .embedder import EmbedderIdentity, Matrix, as_normalized_matrix
from .exact import ExactTier
from .keys import escape_glob
from .ops import Call, Embed, Operation, Pipeline
from .scan import scan_each, unlink_batch
from .stats import CacheStats
from .thresholds import default_threshold, validate_threshold
from .vector_index import Candidate, IndexEntry, VectorIndex, partition_id

T = TypeVar("T")

TIER = "semantic"

Strategy = Literal["auto", "search", "vectorset", "client"]


@dataclass(frozen=True, kw_only=True)
class SemanticSettings:
    """How the semantic tier decides.

    Attributes:
        threshold: Minimum cosine similarity in [-1, 1] for a hit (``0`` is honoured).
            ``None``: the default calibrated for the embedder (conservative, with a
            warning, for a model without one).
        strategy: Vector index: ``"auto"`` (from what the server supports),
            ``"search"`` (RediSearch), ``"vectorset"`` (Redis 8 vector sets) or
            ``"client"`` (any Redis; in-process index kept in step with Redis).
        candidates: Nearest entries fetched per lookup; more than one lets an
            expired answer be skipped in favour of the next.
        dtype: Storage precision of vectors: ``"float32"``, ``"float16"``, or ``None``
            for the strategy's measured default (bench/README.md): ``float16`` for
            ``search`` and ``client`` (half the memory, similarities off by ~1e-4),
            ``float32`` for ``vectorset`` (its ``float16`` is ``Q8``, which lost
            recall@1 on real embeddings).
        max_text_chars: Longer texts skip the semantic tier (they are documents,
            not questions, and paraphrase matching of them is unreliable).
    """

    threshold: float | None = None
    strategy: Strategy = "auto"
    candidates: int = 4
    dtype: Literal["float32", "float16"] | None = None
    max_text_chars: int = 2000

    def __post_init__(self) -> None:
        if self.threshold is not None:
            validate_threshold(self.threshold)
        if self.strategy not in ("auto", "search", "vectorset", "client"):
            raise ConfigurationError(f"unknown strategy {self.strategy!r}")
        if self.dtype not in ("float32", "float16", None):
            raise ConfigurationError(f"dtype must be 'float32' or 'float16', got {self.dtype!r}")
        for name in ("candidates", "max_text_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be an int >= 1, got {value!r}")


@dataclass(frozen=True, slots=True)
class SemanticQuery:
    """What an adapter extracted from a prompt.

    Attributes:
        text: What is embedded and compared: the user's last message.
        context: Everything else that must match exactly for an answer to apply
            (system prompt, earlier turns); part of the partition.
    """

    text: str
    context: str = ""


@dataclass(frozen=True)
class SemanticHit(Generic[T]):
    value: T
    candidate: Candidate


class _VectorMemo:
    """Recent question vectors: the lookup that missed embedded the question, and
    the update that follows the LLM call reuses that vector."""

    def __init__(self, capacity: int = 512) -> None:
        self._capacity = capacity
        self._items: OrderedDict[str, Matrix] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> Matrix | None:
        with self._lock:
            vector = self._items.get(text)
            if vector is not None:
                self._items.move_to_end(text)
            return vector

    def put(self, text: str, vector: Matrix) -> None:
        with self._lock:
            self._items[text] = vector
            self._items.move_to_end(text)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)


class SemanticTier(Generic[T]):
    """Operations of the semantic tier over one vector index."""

    def __init__(
        self,
        *,
        settings: SemanticSettings,
        cache_settings: CacheSettings,
        identity: EmbedderIdentity,
        index: VectorIndex,
        exact: ExactTier[T],
        stats: CacheStats,
    ) -> None:
        self.settings = settings
        self.identity = identity
        self.index = index
        self.exact = exact
        self.stats = stats
        self._tenant = cache_settings.tenant
        self._ttl_ms = cache_settings.ttl_ms
        if settings.threshold is not None:
            self.threshold, self.calibrated = settings.threshold, True
        else:
            self.threshold, self.calibrated = default_threshold(identity)
        self._prepared = False
        self._memo = _VectorMemo()
        # Per-entry usage (created, hits, last hit): one small hash per answered
        # question, beside the index, with the answer's TTL. Any strategy.
        self._usage_prefix = f"{semantic_prefix(cache_settings.namespace)}usage:"

    def usage_key(self, exact_key: str) -> str:
        return f"{self._usage_prefix}{entry_id(exact_key)}"

    def eligible(self, query: SemanticQuery | None) -> bool:
        return (
            query is not None
            and bool(query.text.strip())
            and len(query.text) <= self.settings.max_text_chars
        )

    def _vector(self, text: str) -> Operation[Matrix]:
        vector = self._memo.get(text)
        if vector is None:
            # Stored and incoming questions are the same kind of text: both "query".
            reply = yield Embed((text,), "query")
            matrix = as_normalized_matrix(reply, dimensions=self.identity.dimensions, count=1)
            vector = matrix[0]
            self._memo.put(text, vector)
        return vector

    def _prepare(self) -> Operation[None]:
        if not self._prepared:
            yield from self.index.prepare()
            self._prepared = True

    def lookup(self, llm_string: str, query: SemanticQuery) -> Operation[SemanticHit[T] | None]:
        """Best answered paraphrase of ``query`` in its partition, or ``None``."""
        yield from self._prepare()
        vector = yield from self._vector(query.text)
        partition = partition_id(self._tenant, llm_string, query.context)
        candidates = yield from self.index.search(
            vector, partition, k=self.settings.candidates, min_similarity=self.threshold
        )
        stale: list[str] = []
        hit: SemanticHit[T] | None = None
        for candidate in candidates:
            details: dict[str, Any] = {
                "similarity": round(candidate.similarity, 4),
                "matched_prompt": candidate.text,
            }
            value = yield from self.exact.read(candidate.exact_key, tier=TIER, details=details)
            if value is None:  # answer expired, evicted or corrupt: not a hit
                stale.append(candidate.exact_key)
                continue
            hit = SemanticHit(value, candidate)
            break
        if stale:
            yield from self.index.remove(stale)
        if hit is not None:
            usage = self.usage_key(hit.candidate.exact_key)
            # Best effort: a failed count must not cost the hit (errors are per command).
            yield Pipeline(
                (
                    ("HINCRBY", usage, "hits", 1),
                    ("HSET", usage, "last_hit_ms", int(time.time() * 1000)),
                )
            )
        return hit

    def add(self, exact_key: str, llm_string: str, query: SemanticQuery) -> Operation[None]:
        """Index ``query`` as answered by the value under ``exact_key``."""
        yield from self._prepare()
        vector = yield from self._vector(query.text)
        entry = IndexEntry(
            exact_key=exact_key,
            partition=partition_id(self._tenant, llm_string, query.context),
            vector=np.ascontiguousarray(vector, dtype=np.float32),
            text=query.text,
            created_ms=int(time.time() * 1000),
            ttl_ms=self._ttl_ms,
        )
        yield from self.index.add(entry)
        usage = self.usage_key(exact_key)
        commands: list[tuple[object, ...]] = [
            ("DEL", usage),
            ("HSET", usage, "created_ms", entry.created_ms, "hits", 0),
        ]
        if self._ttl_ms is not None:
            commands.append(("PEXPIRE", usage, self._ttl_ms))
        yield Pipeline(tuple(commands))

    def usage(self, exact_key: str) -> Operation[dict[str, int]]:
        """``created_ms``, ``hits`` and ``last_hit_ms`` of the entry answered by
        ``exact_key`` (empty if unknown or expired)."""
        raw = yield Call(("HGETALL", self.usage_key(exact_key)))
        items = raw.items() if isinstance(raw, dict) else zip(raw[0::2], raw[1::2], strict=False)
        return {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in items}

    def clear(self) -> Operation[int]:
        removed: int = yield from self.index.clear()
        yield from scan_each(escape_glob(self._usage_prefix) + "?" * ENTRY_HEX, unlink_batch)
        return removed
