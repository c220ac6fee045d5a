"""Settings: frozen, keyword-only, validated when built (never at first use)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ConfigurationError

#: Default bound for every Redis round trip made on the hot path. A lookup that
#: cannot be answered in this time is a miss; an LLM call costs far more.
DEFAULT_TIMEOUT_S = 0.05

#: Opening a connection includes redis-py's handshake; a burst of new asyncio
#: connections on a busy event loop needs more than one round trip's budget.
#: A stopped Redis refuses at once, so this only bounds unreachable hosts, and
#: the circuit breaker stops paying it after a few failures.
DEFAULT_CONNECT_TIMEOUT_S = 0.25


def _check_positive(name: str, value: float | None, *, allow_none: bool = True) -> None:
    if value is None:
        if not allow_none:
            raise ConfigurationError(f"{name} must be set")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} must be a finite number > 0, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class CacheSettings:
    """How one cache namespace behaves.

    Attributes:
        namespace: Prefix of every key this cache writes; ``clear()`` touches only
            keys under it. Any text is allowed, including glob characters.
        tenant: Partition inside the namespace. Entries of one tenant are never
            served to another. ``""`` is the default tenant.
        ttl: Seconds an entry lives, set atomically with the write. ``None``: no expiry.
        sliding_ttl: On a hit, push the expiry ``ttl`` seconds into the future.
        max_entries: Bound on entries per namespace; beyond it the least recently
            used entries are evicted. ``None``: unbounded (Redis ``maxmemory`` rules).
        max_entry_bytes: Encoded values larger than this are not stored (counted).
        timeout: Seconds allowed for one Redis round trip (socket read/write).
        connect_timeout: Seconds allowed to open a connection.
        fail_open: On Redis failure, answer "miss" / skip the write and count the
            error (default). ``False`` raises ``BackendError`` instead.
        breaker_failures: Consecutive failures that open the circuit breaker; while
            open, calls skip Redis entirely instead of paying the timeout each time.
        breaker_cooldown: Seconds the breaker stays open before one call probes Redis.
        stampede_protection: On a miss, only one caller (across threads, tasks and
            processes) gets the miss and computes the value; concurrent callers of
            the same prompt wait for its answer instead of calling the LLM too.
        stampede_lease: Seconds the first caller holds the right to compute; if it
            never stores a value (its LLM call failed), another caller proceeds
            after this long. Set it to about your LLM's slowest answer.
        stampede_wait: Seconds a waiting caller waits at most before it gives up and
            gets a miss (then calls the LLM itself).
        cluster: Connect to a Redis Cluster (redis-py ``RedisCluster``). ``None``:
            ask the server at the first connection (``INFO cluster``).
    """

    namespace: str = "llmcache"
    tenant: str = ""
    ttl: float | None = None
    sliding_ttl: bool = False
    max_entries: int | None = None
    max_entry_bytes: int = 8 * 1024 * 1024
    timeout: float = DEFAULT_TIMEOUT_S
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S
    fail_open: bool = True
    breaker_failures: int = 3
    breaker_cooldown: float = 1.0
    stampede_protection: bool = True
    stampede_lease: float = 10.0
    stampede_wait: float = 10.0
    cluster: bool | None = None

    def __post_init__(self) -> None:
        for name in ("namespace", "tenant"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise ConfigurationError(f"{name} must be a str, got {type(value).__name__}")
        if not self.namespace:
            raise ConfigurationError("namespace must not be empty")
        _check_positive("ttl", self.ttl)
        _check_positive("timeout", self.timeout, allow_none=False)
        _check_positive("connect_timeout", self.connect_timeout, allow_none=False)
        _check_positive("breaker_cooldown", self.breaker_cooldown, allow_none=False)
        _check_positive("stampede_lease", self.stampede_lease, allow_none=False)
        _check_positive("stampede_wait", self.stampede_wait, allow_none=False)
        if not isinstance(self.stampede_protection, bool):
            raise ConfigurationError("stampede_protection must be a bool")
        if self.cluster is not None and not isinstance(self.cluster, bool):
            raise ConfigurationError(f"cluster must be True, False or None, got {self.cluster!r}")
        if self.sliding_ttl and self.ttl is None:
            raise ConfigurationError("sliding_ttl=True needs a ttl")
        for name in ("max_entries", "max_entry_bytes", "breaker_failures"):
            value = getattr(self, name)
            if value is None and name == "max_entries":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be an int >= 1, got {value!r}")

    @property
    def ttl_ms(self) -> int | None:
        """TTL in whole milliseconds (at least 1), as Redis ``PX`` wants it."""
        return None if self.ttl is None else max(1, round(self.ttl * 1000))
