"""Settings: frozen, keyword-only, validated when built (never at first use)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import ConfigurationError

#: Default bound for every Redis round trip made on the hot path. A lookup that
#: cannot be answered in this time is a miss; an LLM call costs far more.
DEFAULT_TIMEOUT_S = 0.05

#: Opening a connection includes redis-py's handshake; a burst of new asyncio
#: connections on a busy event loop needs more than one round trip's budget.
#: A stopped Redis refuses at once, so this only bounds unreachable hosts, and
#: the circuit breaker stops paying it after a few failures.
DEFAULT_CONNECT_TIMEOUT_S = 0.25

#: Default key prefixes of the LLM cache and of the embedding caches. Chosen so
#: that no default prefix of the caches that share Redis servers with ours is a
#: string prefix of them: RediSearch indexes every hash whose key starts with one
#: of an index's prefixes, so a peer's index on ``llmcache`` (RedisVL's
#: ``SemanticCache``, langchain-redis's ``RedisSemanticCache``), ``embedcache``
#: (RedisVL's ``EmbeddingsCache``), ``redis`` (langchain-redis's ``RedisCache``),
#: ``gptcache``, ``cache`` or ``doc`` would list our hashes, and clearing it would
#: delete our entries. Neither is a prefix of the other either.
DEFAULT_NAMESPACE = "rlc-llm"
DEFAULT_EMBEDDING_NAMESPACE = "rlc-emb"


#: The schemes redis-py's ``from_url`` accepts (it raises a bare ``ValueError``
#: for any other, only when the first client is built).
REDIS_URL_SCHEMES = ("redis", "rediss", "unix")


def _shown(url: str) -> str:
    """``url`` for an error message: whatever precedes an ``@`` may hold a password."""
    head, at, host = url.rpartition("@")
    if not at:
        return url
    scheme, sep, _ = head.partition("://")
    return f"{scheme}://***@{host}" if sep else f"***@{host}"


def validate_redis_url(url: object, *, name: str = "redis_url") -> str:
    """``url`` if redis-py can connect with it; raises ``ConfigurationError`` otherwise.

    Checks the form only (scheme, port, socket path): no I/O, so it runs when a
    cache is built. ``name`` says where the URL came from, for the message.
    """
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"{name} must be a non-empty string, got {url!r}")
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ConfigurationError(
            f"{name} needs a scheme: redis://HOST:PORT/DB, rediss://... (TLS) or "
            f"unix:///path/to/redis.sock, got {_shown(url)!r}"
        )
    if scheme.lower() not in REDIS_URL_SCHEMES:
        raise ConfigurationError(
            f"{name} must start with redis://, rediss:// or unix://, got {scheme + '://'!r} "
            f"({_shown(url)!r})"
        )
    parts = urlsplit(url)
    if scheme.lower() == "unix":
        if not parts.path:
            raise ConfigurationError(
                f"{name}: a unix:// URL needs the socket's path, e.g. unix:///run/redis.sock"
            )
        return url
    try:
        parts.port  # noqa: B018 -- parsing it is the check
    except ValueError as exc:
        raise ConfigurationError(f"{name} has an invalid port: {_shown(url)!r}") from exc
    return url


def _check_positive(name: str, value: float | None, *, allow_none: bool = True) -> None:
    if value is None:
        if not allow_none:
            raise ConfigurationError(f"{name} must be set")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} must be a finite number > 0, got {value!r}")


def ttl_millis(ttl: float | None) -> int | None:
    """``ttl`` seconds in whole milliseconds (at least 1), as Redis ``PX`` wants it."""
    return None if ttl is None else max(1, round(ttl * 1000))


def _check_count(name: str, value: int | None, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        allowed = "None or an int >= 1" if allow_none else "an int >= 1"
        raise ConfigurationError(f"{name} must be {allowed}, got {value!r}")


def _check_namespace(namespace: object) -> None:
    if not isinstance(namespace, str):
        raise ConfigurationError(f"namespace must be a str, got {type(namespace).__name__}")
    if not namespace:
        raise ConfigurationError("namespace must not be empty")


@dataclass(frozen=True, kw_only=True)
class ConnectionSettings:
    """How a cache talks to Redis and what it does when Redis fails; shared by
    :class:`CacheSettings` and the embedding cache's settings.

    Attributes:
        timeout: Seconds allowed for one Redis round trip (socket read/write).
        connect_timeout: Seconds allowed to open a connection.
        fail_open: On Redis failure, answer "miss" / skip the write and count the
            error (default). ``False`` raises ``BackendError`` instead.
        breaker_failures: Consecutive failures that open the circuit breaker; while
            open, calls skip Redis entirely instead of paying the timeout each time.
        breaker_cooldown: Seconds the breaker stays open before one call probes Redis.
        cluster: Connect to a Redis Cluster (redis-py ``RedisCluster``). ``None``:
            ask the server at the first connection (``INFO cluster``).
    """

    timeout: float = DEFAULT_TIMEOUT_S
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S
    fail_open: bool = True
    breaker_failures: int = 3
    breaker_cooldown: float = 1.0
    cluster: bool | None = None

    def __post_init__(self) -> None:
        _check_positive("timeout", self.timeout, allow_none=False)
        _check_positive("connect_timeout", self.connect_timeout, allow_none=False)
        _check_positive("breaker_cooldown", self.breaker_cooldown, allow_none=False)
        if self.cluster is not None and not isinstance(self.cluster, bool):
            raise ConfigurationError(f"cluster must be True, False or None, got {self.cluster!r}")
        _check_count("breaker_failures", self.breaker_failures)


@dataclass(frozen=True, kw_only=True)
class CacheSettings(ConnectionSettings):
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
        stampede_protection: On a miss, only one caller (across threads, tasks and
            processes) gets the miss and computes the value; concurrent callers of
            the same prompt wait for its answer instead of calling the LLM too.
        stampede_lease: Seconds the first caller holds the right to compute; if it
            never stores a value (its LLM call failed), another caller proceeds
            after this long. Set it to about your LLM's slowest answer.
        stampede_wait: Seconds a waiting caller waits at most before it gives up and
            gets a miss (then calls the LLM itself).

    Plus the connection and failure fields of :class:`ConnectionSettings`
    (``timeout``, ``connect_timeout``, ``fail_open``, ``breaker_failures``,
    ``breaker_cooldown``, ``cluster``).
    """

    namespace: str = DEFAULT_NAMESPACE
    tenant: str = ""
    ttl: float | None = None
    sliding_ttl: bool = False
    max_entries: int | None = None
    max_entry_bytes: int = 8 * 1024 * 1024
    stampede_protection: bool = True
    stampede_lease: float = 10.0
    stampede_wait: float = 10.0

    def __post_init__(self) -> None:
        _check_namespace(self.namespace)
        if not isinstance(self.tenant, str):
            raise ConfigurationError(f"tenant must be a str, got {type(self.tenant).__name__}")
        _check_positive("ttl", self.ttl)
        super().__post_init__()
        _check_positive("stampede_lease", self.stampede_lease, allow_none=False)
        _check_positive("stampede_wait", self.stampede_wait, allow_none=False)
        if not isinstance(self.stampede_protection, bool):
            raise ConfigurationError("stampede_protection must be a bool")
        if self.sliding_ttl and self.ttl is None:
            raise ConfigurationError("sliding_ttl=True needs a ttl")
        _check_count("max_entries", self.max_entries, allow_none=True)
        _check_count("max_entry_bytes", self.max_entry_bytes)

    @property
    def ttl_ms(self) -> int | None:
        """TTL in whole milliseconds (at least 1), as Redis ``PX`` wants it."""
        return ttl_millis(self.ttl)
