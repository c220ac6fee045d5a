"""Prometheus metrics and a JSON twin, read from the caches' ``stats()`` at scrape time.

``pip install "redis-llm-cache[metrics]"`` (``prometheus-client``).

Why a collector instead of counters bumped on every lookup: the caches already
count everything in :class:`~redis_llm_cache.core.stats.CacheStats` (one lock, a
few integer additions). A :class:`CacheMetrics` collector turns a ``stats()``
snapshot into metric families only when Prometheus scrapes, so the lookup path
pays nothing more for metrics, the numbers in ``/metrics`` and in ``stats()`` can
never disagree, and a cache built before metrics were turned on is covered from
its first call. The latency histogram's cumulative buckets are kept by
``CacheStats`` for the same reason.

Counters are per process (each process exports its own; Prometheus sums them).

Estimated cost saved comes from a price table you provide (``prices=``): USD per
million tokens per model name, as the model reports it in ``response_metadata``.
There is no built-in table -- prices change and differ by contract -- so without
one only tokens are exported; models missing from the table are listed as
``unpriced_models`` in the JSON.

Example:
    >>> from redis_llm_cache.metrics import CacheMetrics, ModelPrice
    >>> metrics = CacheMetrics(prices={"gpt-4o-mini": ModelPrice(
    ...     input_per_million=0.15, output_per_million=0.60, cached_input_per_million=0.075)})
    >>> metrics.register(llm_cache, name="chat")          # RedisLLMCache, CachedEmbeddings, ...
    >>> metrics.prometheus_text()                         # bytes for a /metrics endpoint
    >>> metrics.as_dict()["caches"]["chat"]["estimated_savings_usd"]
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ._extras import requires_extra
from .core.stats import (
    AnySnapshot,
    EmbeddingStatsSnapshot,
    ProviderCacheSnapshot,
    StatsSnapshot,
    as_snapshot,
)
from .errors import ConfigurationError

with requires_extra("metrics", feature="redis_llm_cache.metrics"):
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
    from prometheus_client.registry import Collector

PREFIX = "redis_llm_cache"

#: An embedding cache's counters (``EmbeddingCache.stats()``) and their help text.
_EMBEDDING_COUNTERS = {
    "misses": "Texts not found in the cache (sent to the model).",
    "duplicates": "Repeated texts folded within one call.",
    "texts_embedded": "Texts the model embedded.",
    "batches_sent": "Batches sent to the model.",
    "writes": "Vectors written to Redis.",
    "corrupt_removed": "Unreadable stored vectors removed.",
    "breaker_skips": "Calls that skipped Redis while the circuit breaker was open.",
    "breaker_opens": "Times the circuit breaker opened.",
}


@dataclass(frozen=True, kw_only=True)
class ModelPrice:
    """What one model costs, in USD per million tokens.

    Attributes:
        input_per_million: Prompt tokens.
        output_per_million: Completion tokens.
        cached_input_per_million: Prompt tokens the provider served from its prefix
            cache; ``None``: the provider-cache saving of this model is not estimated.
    """

    input_per_million: float
    output_per_million: float
    cached_input_per_million: float | None = None

    def __post_init__(self) -> None:
        for name in ("input_per_million", "output_per_million", "cached_input_per_million"):
            value = getattr(self, name)
            if value is None and name == "cached_input_per_million":
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise ConfigurationError(f"{name} must be a finite number >= 0, got {value!r}")


def estimate_savings(stats: Mapping[str, Any], prices: Mapping[str, ModelPrice]) -> dict[str, Any]:
    """Estimated USD saved by our hits and by the provider's prompt cache, from one
    ``stats()`` snapshot; models without a price are listed, not guessed.

    Each token is priced once, at what the provider would have billed for it. A hit
    saves the call that made its stored answer: output tokens at the output price,
    prompt tokens the provider had served from its cache then (``input_cached``) at
    the cached-input price, the rest at the input price. The provider-cache saving
    is the discount on the calls that did reach the model (our hits never do), so
    the two sources never count the same token. A model whose hits had cached
    prompt tokens but has no ``cached_input_per_million`` is listed as unpriced
    and only its other tokens are counted."""
    snapshot = as_snapshot(stats)
    hits_by_model: Mapping[str, Any] = {}
    provider_by_model: Mapping[str, Any] = {}
    if isinstance(snapshot, StatsSnapshot):
        hits_by_model = _mapping(snapshot.tokens_saved.get("by_model"))
        provider_by_model = _mapping(snapshot.provider_cache.get("by_model"))
    elif isinstance(snapshot, ProviderCacheSnapshot):
        provider_by_model = snapshot.by_model
    llm_usd = 0.0
    provider_usd = 0.0
    by_model: dict[str, dict[str, float]] = {}
    unpriced: set[str] = set()
    for model, row in hits_by_model.items():
        price = prices.get(model)
        if price is None:
            if row.get("input") or row.get("output"):
                unpriced.add(model)
            continue
        tokens_in = row.get("input", 0)
        cached_in = min(row.get("input_cached", 0), tokens_in)
        if cached_in and price.cached_input_per_million is None:
            unpriced.add(model)  # the cached part's price is unknown: not guessed
            cached_usd = 0.0
        else:
            cached_usd = cached_in * (price.cached_input_per_million or 0.0)
        usd = (
            (tokens_in - cached_in) * price.input_per_million
            + cached_usd
            + row.get("output", 0) * price.output_per_million
        ) / 1e6
        by_model.setdefault(model, {})["llm_cache_usd"] = usd
        llm_usd += usd
    for model, row in provider_by_model.items():
        price = prices.get(model)
        if price is None or price.cached_input_per_million is None:
            if row.get("cache_read_tokens"):
                unpriced.add(model)
            continue
        discount = price.input_per_million - price.cached_input_per_million
        usd = row.get("cache_read_tokens", 0) * discount / 1e6
        by_model.setdefault(model, {})["provider_cache_usd"] = usd
        provider_usd += usd
    return {
        "llm_cache_usd": llm_usd,
        "provider_cache_usd": provider_usd,
        "total_usd": llm_usd + provider_usd,
        "by_model": by_model,
        "unpriced_models": sorted(unpriced),
    }


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def public_stats(stats: Mapping[str, Any]) -> dict[str, Any]:
    """``stats()`` as plain JSON-ready data without user data: semantic
    ``recent_hits`` (which quote prompts) are replaced by their count."""
    snapshot = as_snapshot(stats)
    out = snapshot.as_dict()
    if isinstance(snapshot, StatsSnapshot) and snapshot.semantic is not None:
        out["semantic"]["recent_hits"] = len(snapshot.semantic.recent_hits)
    return out


class CacheMetrics(Collector):
    """A Prometheus collector over registered caches (see module docstring).

    A cache whose ``stats()`` raises is left out of that scrape (and counted in
    ``redis_llm_cache_scrape_errors_total``); a scrape never fails because of one.

    Args:
        prices: Model name -> :class:`ModelPrice`, for the estimated cost saved.
        registry: Where to register; default a new ``CollectorRegistry`` of this
            object's own (pass ``prometheus_client.REGISTRY`` to join the process
            default and its ``start_http_server``).
    """

    def __init__(
        self,
        *,
        prices: Mapping[str, ModelPrice] | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.prices = dict(prices or {})
        for model, price in self.prices.items():
            if not isinstance(price, ModelPrice):
                raise ConfigurationError(f"price of {model!r} must be a ModelPrice")
        self._lock = threading.Lock()
        self._caches: dict[str, Any] = {}
        self._scrape_errors = 0
        self.registry = registry if registry is not None else CollectorRegistry()
        self.registry.register(self)

    def register(self, cache: Any, *, name: str | None = None) -> str:
        """Export ``cache`` (anything with ``stats()``: ``RedisLLMCache``,
        ``ResponseCache``, ``CachedEmbeddings``, ``EmbeddingCache``,
        ``ProviderCacheCallback``) under ``name`` (default: its namespace)."""
        if not callable(getattr(cache, "stats", None)):
            raise TypeError(f"{type(cache).__name__} has no stats()")
        if name is None:
            settings = getattr(cache, "settings", None)
            name = str(getattr(settings, "namespace", "") or type(cache).__name__)
        with self._lock:
            if name in self._caches and self._caches[name] is not cache:
                raise ValueError(f"a cache is already registered as {name!r}")
            self._caches[name] = cache
        return name

    def unregister(self, name: str) -> None:
        with self._lock:
            self._caches.pop(name, None)

    def describe(self) -> list[Metric]:
        # Families depend on what the caches report; describing nothing keeps the
        # registry from calling collect() (and the caches) at registration.
        return []

    def _snapshots(self) -> Iterator[tuple[str, AnySnapshot]]:
        with self._lock:
            caches = list(self._caches.items())
        for name, cache in caches:
            try:
                stats = cache.stats()
            except Exception:
                with self._lock:
                    self._scrape_errors += 1
                continue
            yield name, as_snapshot(stats)

    def as_dict(self) -> dict[str, Any]:
        """The same numbers as JSON-ready data: each cache's ``stats()`` (user
        data removed, see :func:`public_stats`) plus ``estimated_savings_usd``."""
        caches = {}
        for name, stats in self._snapshots():
            caches[name] = {
                **public_stats(stats),
                "estimated_savings_usd": estimate_savings(stats, self.prices),
            }
        return {"caches": caches, "scrape_errors": self._scrape_errors}

    def prometheus_text(self) -> bytes:
        """The registry in Prometheus text exposition format."""
        return generate_latest(self.registry)

    def collect(self) -> Iterable[Metric]:
        families = _Families()
        for name, stats in self._snapshots():
            if isinstance(stats, EmbeddingStatsSnapshot):
                families.embedding(name, stats)
            elif isinstance(stats, ProviderCacheSnapshot):  # a ProviderCacheCallback's
                families.provider(name, stats, stats.by_model, self.prices)
            else:
                families.llm(name, stats, self.prices)
        scrape_errors = CounterMetricFamily(
            f"{PREFIX}_scrape_errors", "Caches whose stats() raised during a scrape."
        )
        scrape_errors.add_metric([], self._scrape_errors)
        return [*families.all(), scrape_errors]


class _Families:
    """Metric families of one scrape, filled cache by cache."""

    def __init__(self) -> None:
        self._families: dict[str, Metric] = {}

    def _family(self, kind: type[Any], name: str, doc: str, labels: list[str]) -> Any:
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = kind(f"{PREFIX}_{name}", doc, labels=labels)
        return family

    def counter(self, name: str, doc: str, labels: dict[str, str], value: float) -> None:
        self._family(CounterMetricFamily, name, doc, list(labels)).add_metric(
            list(labels.values()), value
        )

    def gauge(self, name: str, doc: str, labels: dict[str, str], value: float) -> None:
        self._family(GaugeMetricFamily, name, doc, list(labels)).add_metric(
            list(labels.values()), value
        )

    def all(self) -> list[Metric]:
        return list(self._families.values())

    def llm(self, name: str, stats: StatsSnapshot, prices: Mapping[str, ModelPrice]) -> None:
        """The counters with a metric of their own; any other integer counter the
        cache reports (``stats.counters()``) is exported as ``events_total{event}``."""
        base = {"cache": name, "namespace": stats.namespace, "tenant": stats.tenant}
        for tier, hits in (("exact", stats.hits_exact), ("semantic", stats.hits_semantic)):
            self.counter(
                "hits", "Lookups answered from the cache, by tier.", {**base, "tier": tier}, hits
            )
        self.counter("misses", "Lookups that went to the model.", base, stats.misses)
        self.counter("writes", "Answers written.", base, stats.writes)
        simple = {
            "evictions": ("Entries evicted by max_entries.", stats.evictions),
            "corrupt_removed": ("Unreadable stored values removed.", stats.corrupt_removed),
            "breaker_skips": (
                "Calls that skipped Redis while the circuit breaker was open.",
                stats.breaker_skips,
            ),
            "breaker_opens": ("Times the circuit breaker opened.", stats.breaker_opens),
        }
        for counter, (doc, count) in simple.items():
            self.counter(counter, doc, base, count)
        self._errors(base, stats.errors_by_kind)
        for reason, count in stats.skipped_by_reason.items():
            self.counter(
                "skipped_writes", "Writes not done, by reason.", {**base, "reason": reason}, count
            )
        for event, count in stats.counters().items():
            self.counter(
                "events", "Other counters the cache reports.", {**base, "event": event}, count
            )
        self.gauge(
            "breaker_open", "1 while the circuit breaker is open.", base,
            1.0 if stats.breaker_open else 0.0,
        )  # fmt: skip
        semantic = stats.semantic
        if semantic is not None:
            for event, count in semantic.counters().items():  # e.g. a verifier's rejections
                self.counter(
                    "semantic_events", "Other counters of the semantic tier.",
                    {**base, "event": event}, count,
                )  # fmt: skip
            self._budget(base, semantic.budget)
            threshold = semantic.threshold
            if isinstance(threshold, (int, float)) and not isinstance(threshold, bool):
                self.gauge(
                    "semantic_threshold", "Minimum cosine similarity of a semantic hit.",
                    {**base, "strategy": str(semantic.strategy)}, threshold,
                )  # fmt: skip
        self._histogram(base, stats.lookup_seconds_histogram)
        for model, row in _mapping(stats.tokens_saved.get("by_model")).items():
            for direction in ("input", "output"):
                self.counter(
                    "tokens_saved", "Tokens of the stored answers our hits served.",
                    {**base, "model": model, "direction": direction}, row.get(direction, 0),
                )  # fmt: skip
        by_model = _mapping(stats.provider_cache.get("by_model"))
        self.provider(name, stats, by_model, prices, base=base)

    def _budget(self, base: dict[str, str], budget: Mapping[str, Any]) -> None:
        """The error budget's judge calls, observations, learned boundaries and
        estimated wrong-hit rate (nothing without a budget)."""
        if not budget:
            return
        for name in ("judge_calls", "judge_errors", "judge_timeouts", "judge_dropped",
                     "observations", "labels", "served", "explored"):  # fmt: skip
            self.counter(
                f"budget_{name}", "Error budget: " + name.replace("_", " ") + ".",
                base, budget.get(name, 0),
            )  # fmt: skip
        for reason, count in _mapping(budget.get("missed")).items():
            self.counter(
                "budget_missed", "Error budget: candidates missed, by reason.",
                {**base, "reason": reason}, count,
            )  # fmt: skip
        self.gauge("budget_delta", "Error budget: the chosen wrong-hit rate.", base,
                   budget.get("delta") or 0.0)  # fmt: skip
        estimate = budget.get("estimated_wrong_hit_rate")
        if isinstance(estimate, (int, float)):
            self.gauge(
                "budget_estimated_wrong_hit_rate",
                "Error budget: expected wrong hits per lookup, by the learned belief.",
                base, estimate,
            )  # fmt: skip
        for partition, boundary in _mapping(budget.get("boundary_by_partition")).items():
            if isinstance(boundary, (int, float)):
                self.gauge(
                    "budget_boundary", "Error budget: learned similarity where P(same) = 0.5.",
                    {**base, "partition": partition}, boundary,
                )  # fmt: skip

    def provider(
        self,
        name: str,
        stats: StatsSnapshot | ProviderCacheSnapshot,
        by_model: Mapping[str, Any],
        prices: Mapping[str, ModelPrice],
        *,
        base: dict[str, str] | None = None,
    ) -> None:
        base = base if base is not None else {"cache": name, "namespace": "", "tenant": ""}
        docs = {
            "responses": "Model responses seen by ProviderCacheCallback.",
            "input_tokens": "Prompt tokens of those responses.",
            "cache_read_tokens": "Prompt tokens the provider served from its prompt cache.",
            "cache_creation_tokens": "Prompt tokens the provider wrote to its prompt cache.",
        }
        for model, row in by_model.items():
            for field, doc in docs.items():
                self.counter(f"provider_{field}", doc, {**base, "model": model}, row.get(field, 0))
        savings = estimate_savings(stats, prices)
        for model, row in savings["by_model"].items():
            for source in ("llm_cache", "provider_cache"):
                if f"{source}_usd" in row:
                    self.counter(
                        "estimated_cost_saved_usd",
                        "Estimated USD saved (from the configured price table).",
                        {**base, "model": model, "source": source}, row[f"{source}_usd"],
                    )  # fmt: skip

    def embedding(self, name: str, stats: EmbeddingStatsSnapshot) -> None:
        base = {"cache": name, "namespace": stats.namespace}
        for tier, hits in (("memory", stats.hits_memory), ("redis", stats.hits_redis)):
            self.counter(
                "embedding_hits", "Texts served from the embedding cache, by tier.",
                {**base, "tier": tier}, hits,
            )  # fmt: skip
        for counter, doc in _EMBEDDING_COUNTERS.items():
            self.counter(f"embedding_{counter}", doc, base, getattr(stats, counter))
        self._errors(base, stats.errors_by_kind, prefix="embedding_")

    def _errors(self, base: dict[str, str], by_kind: Mapping[str, int], prefix: str = "") -> None:
        for kind, count in by_kind.items():
            self.counter(
                f"{prefix}errors", "Failures (served fail-open), by kind.",
                {**base, "kind": kind}, count,
            )  # fmt: skip

    def _histogram(self, base: dict[str, str], histogram: Mapping[str, Any]) -> None:
        bounds = list(histogram.get("le", ()))
        for outcome, data in _mapping(histogram.get("by_outcome")).items():
            family = self._family(
                HistogramMetricFamily, "lookup_seconds",
                "Lookup latency, by outcome (miss or the tier that hit).", [*base, "outcome"],
            )  # fmt: skip
            cumulative, running = [], 0
            for bound, count in zip([*map(str, bounds), "+Inf"], data["buckets"], strict=True):
                running += count
                cumulative.append((bound, running))
            family.add_metric([*base.values(), outcome], cumulative, sum_value=data["sum"])


def metrics_json(*caches: Any, prices: Mapping[str, ModelPrice] | None = None) -> dict[str, Any]:
    """:meth:`CacheMetrics.as_dict` for caches at hand, without keeping a collector.

    Example:
        >>> metrics_json(llm_cache)["caches"]["rlc-llm"]["tokens_saved"]
    """
    metrics = CacheMetrics(prices=prices)
    for cache in caches:
        metrics.register(cache)
    return metrics.as_dict()


__all__ = ["CacheMetrics", "ModelPrice", "estimate_savings", "metrics_json", "public_stats"]
