"""Counters and lookup latencies of one cache object (this process only)."""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, NamedTuple

#: Recent lookup latencies kept for percentiles; old ones fall off.
LATENCY_WINDOW = 4096

#: Upper bounds (seconds) of the cumulative lookup-latency histogram (Prometheus
#: ``le`` buckets): an exact hit takes ~0.2-1 ms, a semantic lookup a few ms plus
#: the embedding, a timed-out one the cache's ``timeout``.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip


#: The counters every snapshot reports (0 until counted).
COUNTER_NAMES = (
    "hits",
    "hits_exact",
    "hits_semantic",
    "misses",
    "writes",
    "errors",
    "corrupt_removed",
    "skipped_writes",
    "evictions",
    "breaker_skips",
    "breaker_opens",
    "stampede_waits",
    "stampede_served",
    "stampede_takeovers",
    "stampede_timeouts",
    "embedder_skips",
    "embedder_breaker_opens",
    "judge_skips",
    "judge_breaker_opens",
    "oversized_removed",
)


#: ``(model, input_tokens, output_tokens, input_cached_tokens)`` of one stored
#: answer: what a hit saves. ``input_cached_tokens`` is the part of ``input_tokens``
#: the provider served from its own prompt cache when the answer was made: a repeat
#: call would have been billed for those at the provider's cached-input price, not
#: the full one. A plain tuple, not a NamedTuple: one is built on every hit, and a
#: NamedTuple's constructor is a Python-level call.
TokenUsage = tuple[str, int, int, int]


class ProviderUsage(NamedTuple):
    """Prompt tokens of one model response, and how many of them the provider
    served from its own prefix cache (``cache_read``) or wrote to it
    (``cache_creation``)."""

    model: str
    input_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int


#: Positions in a lookup row after the histogram's bucket counts (see CacheStats).
_SUM = len(LATENCY_BUCKETS) + 1
_INPUT = _SUM + 1
_OUTPUT = _SUM + 2
_INPUT_CACHED = _SUM + 3
_MISS = ("miss", "")
_NO_USAGE: TokenUsage = ("unknown", 0, 0, 0)


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


class CacheStats:
    """Thread-safe counters. Names in use:

    ``hits`` / ``hits_exact``, ``misses``, ``writes``, ``errors`` (with
    ``errors_by_kind``), ``corrupt_removed``, ``skipped_writes`` (with
    ``skipped_by_reason``), ``evictions``, ``breaker_skips`` (calls that did not
    touch Redis because the circuit breaker was open), ``breaker_opens``,
    ``stampede_waits`` (misses that waited for a concurrent caller's answer),
    ``stampede_served`` (... and got it), ``stampede_takeovers`` (... whose holder
    never answered, so this caller computed), ``stampede_timeouts`` (gave up),
    ``embedder_skips`` / ``judge_skips`` (semantic work done without the model
    because its breaker was open), ``embedder_breaker_opens`` /
    ``judge_breaker_opens``, ``oversized_removed`` (entries over
    ``max_entry_bytes`` found at lookup: a miss, removed unread).

    Also kept: a cumulative lookup-latency histogram per outcome (for Prometheus),
    the tokens our hits saved (:meth:`record_lookup`) and the provider's own
    prompt-cache reads reported by responses (:meth:`record_provider_usage`).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._errors_by_kind: Counter[str] = Counter()
        self._skipped_by_reason: Counter[str] = Counter()
        self._lookup_latency: deque[float] = deque(maxlen=LATENCY_WINDOW)
        # Every lookup updates one row, found with one dict lookup: (outcome, model)
        # -> [histogram bucket counts..., +Inf count, seconds sum, input, output,
        # cached input tokens].
        # The outcome is "miss" (model "") or the tier that hit. Hits, misses, the
        # histogram per outcome and the tokens saved are all sums over rows, made
        # by snapshot().
        self._lookups: dict[tuple[str, str], list[Any]] = {}
        self._provider: dict[str, list[int]] = {}  # model -> [responses, in, read, creation]

    def incr(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def record_error(self, kind: str) -> None:
        with self._lock:
            self._counts["errors"] += 1
            self._errors_by_kind[kind] += 1

    def record_skipped_write(self, reason: str) -> None:
        with self._lock:
            self._counts["skipped_writes"] += 1
            self._skipped_by_reason[reason] += 1

    def record_lookup(
        self, seconds: float, tier: str | None, usage: TokenUsage | None = None
    ) -> None:
        """One finished lookup: ``tier`` is the tier that hit, ``None`` for a miss.

        A hit also counts what it saved: ``usage``, the tokens the served answer
        cost when it was made (``None``: unknown, counted under model ``"unknown"``).
        One lock and one row for all of it: this runs on every lookup."""
        if tier is None:
            key, tokens_in, tokens_out, cached_in = _MISS, 0, 0, 0
        else:
            model, tokens_in, tokens_out, cached_in = usage if usage is not None else _NO_USAGE
            key = (tier, model)
        bucket = bisect_left(LATENCY_BUCKETS, seconds)
        with self._lock:
            self._lookup_latency.append(seconds)
            row = self._lookups.get(key)
            if row is None:
                row = self._lookups[key] = [0] * _SUM + [0.0, 0, 0, 0]
            row[bucket] += 1
            row[_SUM] += seconds
            row[_INPUT] += tokens_in
            row[_OUTPUT] += tokens_out
            row[_INPUT_CACHED] += cached_in

    def record_provider_usage(self, usage: ProviderUsage) -> None:
        """One model response and the prompt tokens its provider served from cache."""
        with self._lock:
            row = self._provider.setdefault(usage.model, [0, 0, 0, 0])
            row[0] += 1
            row[1] += usage.input_tokens
            row[2] += usage.cache_read_tokens
            row[3] += usage.cache_creation_tokens

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy: counters, error kinds, and lookup latency in ms."""
        with self._lock:
            counts = dict(self._counts)
            errors_by_kind = dict(self._errors_by_kind)
            skipped = dict(self._skipped_by_reason)
            latencies = sorted(self._lookup_latency)
            rows = {key: list(row) for key, row in self._lookups.items()}
            provider = {model: list(row) for model, row in self._provider.items()}
        histogram: dict[str, dict[str, Any]] = {}
        # (tier, model) -> [hits, input, output, cached input]
        saved: dict[tuple[str, str], list[int]] = {}
        for (outcome, model), row in rows.items():
            merged = histogram.setdefault(outcome, {"buckets": [0] * _SUM, "sum": 0.0})
            merged["buckets"] = [a + b for a, b in zip(merged["buckets"], row[:_SUM], strict=True)]
            merged["sum"] += row[_SUM]
            n = sum(row[:_SUM])
            if outcome == _MISS[0]:
                counts["misses"] = counts.get("misses", 0) + n
                continue
            counts["hits"] = counts.get("hits", 0) + n
            counts[f"hits_{outcome}"] = counts.get(f"hits_{outcome}", 0) + n
            saved[(outcome, model)] = [n, row[_INPUT], row[_OUTPUT], row[_INPUT_CACHED]]
        lookups = counts.get("hits", 0) + counts.get("misses", 0)
        out: dict[str, Any] = {name: counts.get(name, 0) for name in COUNTER_NAMES}
        out["hit_rate"] = out["hits"] / lookups if lookups else 0.0
        out["errors_by_kind"] = errors_by_kind
        out["skipped_by_reason"] = skipped
        out["lookup_ms"] = {
            "count": len(latencies),
            "p50": _percentile(latencies, 0.50) * 1000,
            "p99": _percentile(latencies, 0.99) * 1000,
            "mean": (sum(latencies) / len(latencies) * 1000) if latencies else 0.0,
            "max": (latencies[-1] * 1000) if latencies else 0.0,
        }
        out["lookup_seconds_histogram"] = {"le": list(LATENCY_BUCKETS), "by_outcome": histogram}
        out["tokens_saved"] = _tokens_saved(saved)
        out["provider_cache"] = _provider_cache(provider)
        return out

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._errors_by_kind.clear()
            self._skipped_by_reason.clear()
            self._lookup_latency.clear()
            self._lookups.clear()
            self._provider.clear()


def _tokens_saved(saved: dict[tuple[str, str], list[int]]) -> dict[str, Any]:
    """Per model and per tier: hits, ``input`` tokens (all of them), ``output``
    tokens, and ``input_cached``: the part of ``input`` the provider had served
    from its prompt cache when the answers were made (priced at its cached rate)."""
    by_model: dict[str, dict[str, int]] = {}
    by_tier: dict[str, dict[str, int]] = {}
    for (tier, model), (hits, tokens_in, tokens_out, cached_in) in saved.items():
        for table, name in ((by_model, model), (by_tier, tier)):
            row = table.setdefault(name, {"hits": 0, "input": 0, "output": 0, "input_cached": 0})
            row["hits"] += hits
            row["input"] += tokens_in
            row["output"] += tokens_out
            row["input_cached"] += cached_in
    return {
        "input": sum(row["input"] for row in by_tier.values()),
        "output": sum(row["output"] for row in by_tier.values()),
        "input_cached": sum(row["input_cached"] for row in by_tier.values()),
        "by_model": by_model,
        "by_tier": by_tier,
    }


def _provider_cache(provider: dict[str, list[int]]) -> dict[str, Any]:
    names = ("responses", "input_tokens", "cache_read_tokens", "cache_creation_tokens")
    by_model = {model: dict(zip(names, row, strict=True)) for model, row in provider.items()}
    totals = {name: sum(row[name] for row in by_model.values()) for name in names}
    return {**totals, "by_model": by_model}


# -- typed snapshots: what stats() returns ---------------------------------------------------


class StatsView(dict[str, Any]):
    """A frozen snapshot dataclass that is also a read-only dict of its fields, so
    code that read ``stats()`` as a dict keeps working: ``snapshot["hits"]`` is
    ``snapshot.hits``; ``get``, ``in``, ``==`` with a dict and ``json.dumps`` work.
    Keys are the fields (an optional field that is ``None`` is absent, as it was
    from the dict ``stats()`` returned before) plus the counters in ``extra``
    (ones another cache or a newer version reports). :meth:`as_dict` gives plain
    dicts all the way down."""

    #: Fields that are left out of the dict view while ``None``.
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        view: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name == "extra" or (value is None and f.name in self._OPTIONAL):
                continue
            view[f.name] = value
        extra: Mapping[str, Any] = getattr(self, "extra", {})
        for key, value in extra.items():
            view.setdefault(key, value)
        dict.update(self, view)

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"a {type(self).__name__} is read-only: call stats() again for newer numbers"
        )

    __setitem__ = __delitem__ = _read_only
    clear = pop = popitem = setdefault = update = __ior__ = _read_only

    def __reduce__(self) -> tuple[Any, ...]:
        # The default for a dict subclass would refill it item by item (refused).
        return (_rebuild, (type(self), {f.name: getattr(self, f.name) for f in fields(self)}))  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, Any]:
        """Plain dicts and lists all the way down (nested snapshots included)."""
        return {key: _plain(value) for key, value in self.items()}


def _rebuild(cls: type[StatsView], values: dict[str, Any]) -> StatsView:
    return cls(**values)


def _plain(value: Any) -> Any:
    if isinstance(value, StatsView):
        return value.as_dict()
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _known(cls: type[Any], values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``values`` split into ``cls``'s fields and the rest (for ``extra``)."""
    names = {f.name for f in fields(cls)} - {"extra"}
    known = {key: value for key, value in values.items() if key in names}
    return known, {key: value for key, value in values.items() if key not in names}


@dataclass(frozen=True, kw_only=True, eq=False)
class LookupLatency(StatsView):
    """Lookup latency in milliseconds over the last lookups (up to 4096)."""

    count: int = 0
    p50: float = 0.0
    p99: float = 0.0
    mean: float = 0.0
    max: float = 0.0


@dataclass(frozen=True, kw_only=True, eq=False)
class SemanticStatsSnapshot(StatsView):
    """The semantic tier of one LLM cache (``stats().semantic``).

    Attributes:
        embedder: The embedder's identity (``EmbedderIdentity.canonical()``).
        strategy / threshold / threshold_calibrated / verifier: ``None`` until the
            tier is built (at its first use, when ``strategy="auto"``).
        recent_hits: The last semantic hits (``similarity``, ``matched_prompt``,
            ``prompt``, ``threshold``, ``verifier_score``, ``judged_by``) for
            auditing; they quote prompts.
        index_repairs: Foreign or dropped index structures recreated/removed.
        foreign_indexes / foreign_index_names: Search indexes of other software
            whose prefixes cover the namespace.
        verified ... uncalibrated_searches: Decisions of the second stage, feedback
            and searches under an uncalibrated threshold; ``bypassed`` by rule;
            ``verifier_ms_p50`` and ``judge_ms`` latencies.
        budget: With ``error_budget`` set: ``delta``, ``lookups``, ``served``,
            ``explored``, ``missed`` (by reason), ``judge_calls``, ``judge_errors``,
            ``judge_timeouts``, ``judge_dropped``, ``judge_said_same``,
            ``observations`` recorded, ``labels``, ``judge_ms_p50``,
            ``estimated_wrong_hit_rate`` (the belief's expected wrong answers per
            lookup) and ``boundary_by_partition`` (learned similarity where
            P(same) = 0.5); empty without a budget.
        extra: Other counters (by name).
    """

    embedder: str = ""
    strategy: str | None = None
    threshold: float | None = None
    threshold_calibrated: bool | None = None
    recent_hits: list[dict[str, Any]] = field(default_factory=list)
    index_repairs: int = 0
    foreign_indexes: int = 0
    foreign_index_names: list[str] = field(default_factory=list)
    verifier: str | None = None
    verified: int = 0
    verifier_accepted: int = 0
    verifier_rejected: int = 0
    verifier_errors: int = 0
    judged: int = 0
    judge_errors: int = 0
    wrong_hits_reported: int = 0
    uncalibrated_searches: int = 0
    bypassed: dict[str, int] = field(default_factory=dict)
    verifier_ms_p50: float | None = None
    judge_ms: dict[str, Any] = field(default_factory=dict)
    budget: dict[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> SemanticStatsSnapshot:
        known, extra = _known(cls, values)
        return cls(**known, extra=extra)

    def counters(self) -> dict[str, int]:
        """Every integer counter of the tier, by name (``extra`` ones included)."""
        return {
            key: value
            for key, value in self.items()
            if isinstance(value, int) and not isinstance(value, bool)
        }


@dataclass(frozen=True, kw_only=True, eq=False)
class StatsSnapshot(StatsView):
    """What an LLM cache's ``stats()`` returns: counters of this object since it
    was built (this process only). Read it by attribute (``stats.hits``) or, as
    before, like a dict (``stats["hits"]``); :meth:`as_dict` for JSON.

    Attributes:
        hits / hits_exact / hits_semantic / misses / hit_rate: Lookups and outcomes.
        writes, errors (by kind in ``errors_by_kind``), corrupt_removed,
        skipped_writes (by reason in ``skipped_by_reason``), evictions,
        breaker_skips, breaker_opens, stampede_*: See :class:`CacheStats`.
        lookup_ms: Latency percentiles (:class:`LookupLatency`).
        lookup_seconds_histogram: Cumulative histogram per outcome (Prometheus).
        tokens_saved: Tokens of the stored answers hits served, by model and tier.
        provider_cache: Provider prompt-cache reads reported by responses.
        namespace, tenant, breaker_open: The cache's, and its breaker's state.
        semantic: The semantic tier (:class:`SemanticStatsSnapshot`); ``None``
            (absent in the dict view) without an embedder.
        extra: Other counters (by name).
    """

    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"semantic"})

    hits: int = 0
    hits_exact: int = 0
    hits_semantic: int = 0
    misses: int = 0
    writes: int = 0
    errors: int = 0
    corrupt_removed: int = 0
    skipped_writes: int = 0
    evictions: int = 0
    breaker_skips: int = 0
    breaker_opens: int = 0
    stampede_waits: int = 0
    stampede_served: int = 0
    stampede_takeovers: int = 0
    stampede_timeouts: int = 0
    hit_rate: float = 0.0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    lookup_ms: LookupLatency = field(default_factory=LookupLatency)
    lookup_seconds_histogram: dict[str, Any] = field(default_factory=dict)
    tokens_saved: dict[str, Any] = field(default_factory=dict)
    provider_cache: dict[str, Any] = field(default_factory=dict)
    namespace: str = ""
    tenant: str = ""
    breaker_open: bool = False
    semantic: SemanticStatsSnapshot | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> StatsSnapshot:
        """A snapshot of ``values`` (a :meth:`CacheStats.snapshot` plus the cache's
        own keys, or what another object's ``stats()`` returned as a dict)."""
        known, extra = _known(cls, values)
        latency = known.get("lookup_ms")
        if isinstance(latency, Mapping) and not isinstance(latency, LookupLatency):
            known["lookup_ms"] = LookupLatency(**_known(LookupLatency, latency)[0])
        semantic = known.get("semantic")
        if isinstance(semantic, Mapping) and not isinstance(semantic, SemanticStatsSnapshot):
            known["semantic"] = SemanticStatsSnapshot.from_mapping(semantic)
        return cls(**known, extra=extra)

    def counters(self) -> dict[str, int]:
        """Integer counters not among the named fields (``extra``), by name."""
        return {
            key: value
            for key, value in self.extra.items()
            if isinstance(value, int) and not isinstance(value, bool)
        }


@dataclass(frozen=True, kw_only=True, eq=False)
class EmbeddingStatsSnapshot(StatsView):
    """What an embedding cache's ``stats()`` returns (this process only), counted
    per distinct text of a call. Read by attribute or like a dict.

    Attributes:
        hits (= hits_memory + hits_redis), misses, hit_rate, duplicates (repeats
            folded within a call), texts_embedded, batches_sent, writes,
            corrupt_removed, errors (by kind in ``errors_by_kind``),
            breaker_opens, breaker_skips: Counters.
        namespace, breaker_open: The cache's, and its breaker's state.
        memory_entries / memory_bytes: The in-process tier's size; ``None``
            (absent in the dict view) without that tier.
        extra: Other counters (by name).
    """

    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"memory_entries", "memory_bytes"})

    hits_memory: int = 0
    hits_redis: int = 0
    misses: int = 0
    duplicates: int = 0
    texts_embedded: int = 0
    batches_sent: int = 0
    writes: int = 0
    corrupt_removed: int = 0
    hits: int = 0
    hit_rate: float = 0.0
    errors: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    breaker_opens: int = 0
    breaker_skips: int = 0
    namespace: str = ""
    breaker_open: bool = False
    memory_entries: int | None = None
    memory_bytes: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> EmbeddingStatsSnapshot:
        known, extra = _known(cls, values)
        return cls(**known, extra=extra)


@dataclass(frozen=True, kw_only=True, eq=False)
class ProviderCacheSnapshot(StatsView):
    """A ``ProviderCacheCallback``'s counters: model responses, their prompt tokens
    and what the provider read from / wrote to its own prompt cache, in total and
    ``by_model``."""

    responses: int = 0
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    by_model: dict[str, dict[str, int]] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ProviderCacheSnapshot:
        known, extra = _known(cls, values)
        return cls(**known, extra=extra)


AnySnapshot = StatsSnapshot | EmbeddingStatsSnapshot | ProviderCacheSnapshot


def as_snapshot(stats: Mapping[str, Any]) -> AnySnapshot:
    """``stats`` as a typed snapshot: itself if it is one; a dict (another
    object's ``stats()``) by its keys: an embedding cache's has ``hits_redis``, a
    provider callback's ``cache_read_tokens``, anything else is an LLM cache's."""
    if isinstance(stats, (StatsSnapshot, EmbeddingStatsSnapshot, ProviderCacheSnapshot)):
        return stats
    if "hits_redis" in stats:
        return EmbeddingStatsSnapshot.from_mapping(stats)
    if "cache_read_tokens" in stats:
        return ProviderCacheSnapshot.from_mapping(stats)
    return StatsSnapshot.from_mapping(stats)
