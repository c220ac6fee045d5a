"""Counters and lookup latencies of one cache object (this process only)."""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any

#: Recent lookup latencies kept for percentiles; old ones fall off.
LATENCY_WINDOW = 4096


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
    never answered, so this caller computed), ``stampede_timeouts`` (gave up).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._errors_by_kind: Counter[str] = Counter()
        self._skipped_by_reason: Counter[str] = Counter()
        self._lookup_latency: deque[float] = deque(maxlen=LATENCY_WINDOW)
        # Lookups are counted in plain fields: this runs on every lookup.
        self._misses = 0
        self._hits_by_tier: dict[str, int] = {}

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

    def record_lookup(self, seconds: float, tier: str | None) -> None:
        """One finished lookup: ``tier`` is the tier that hit, ``None`` for a miss."""
        with self._lock:
            self._lookup_latency.append(seconds)
            if tier is None:
                self._misses += 1
            else:
                self._hits_by_tier[tier] = self._hits_by_tier.get(tier, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy: counters, error kinds, and lookup latency in ms."""
        with self._lock:
            counts = dict(self._counts)
            counts["misses"] = self._misses
            counts["hits"] = sum(self._hits_by_tier.values())
            counts.update({f"hits_{tier}": n for tier, n in self._hits_by_tier.items()})
            errors_by_kind = dict(self._errors_by_kind)
            skipped = dict(self._skipped_by_reason)
            latencies = sorted(self._lookup_latency)
        lookups = counts.get("hits", 0) + counts.get("misses", 0)
        out: dict[str, Any] = {
            name: counts.get(name, 0)
            for name in (
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
            )
        }
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
        return out

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._errors_by_kind.clear()
            self._skipped_by_reason.clear()
            self._lookup_latency.clear()
            self._misses = 0
            self._hits_by_tier.clear()
