"""Every setting of redis-llm-cache, and the validators that check them.

Settings are frozen, keyword-only dataclasses validated when built (never at
first use): :class:`CacheSettings` (an LLM cache), :class:`SemanticSettings`
(its semantic tier), :class:`EmbeddingSettings` (an embedding cache), and the
:class:`ConnectionSettings` the caches share. The ``validate_*`` functions are
the checks they run, public so that code building settings from its own input
(a CLI, a config file) reports errors the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from .core.semantic.eligibility import DEFAULT_BYPASS, BypassRule, resolve_rules
from .core.semantic.verify import Verifier, resolve_verifier
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

#: A Redis round trip of vectors is larger than an LLM-cache lookup (a batch of
#: 256 1024-d vectors is 1 MiB), and the alternative is a model call: allow more.
DEFAULT_EMBEDDING_TIMEOUT_S = 0.5

#: Vector index of the semantic tier: ``"auto"`` picks one from what the server
#: supports (never ``"search"`` on a Redis Cluster).
Strategy = Literal["auto", "search", "vectorset", "client"]
STRATEGIES: tuple[Strategy, ...] = ("auto", "search", "vectorset", "client")

#: Storage precision of vectors.
VectorDtype = Literal["float32", "float16"]
VECTOR_DTYPES: tuple[VectorDtype, ...] = ("float32", "float16")

#: Stored vector type of each strategy when the settings leave it open (measured:
#: bench/README.md, semantic index section).
DEFAULT_DTYPES: Mapping[str, VectorDtype] = {
    "search": "float16",
    "vectorset": "float32",
    "client": "float16",
}

#: Why ``strategy="search"`` is refused on a Redis Cluster (``auto`` never picks it there).
SEARCH_ON_CLUSTER = (
    "semantic strategy 'search' (RediSearch) is not supported on a Redis Cluster: "
    "RediSearch does not search across the shards of an open-source cluster (each shard "
    "would index only its own keys). Use 'vectorset' (Redis 8: vector sets are built in) "
    "or 'client' (any Redis), or 'auto', which picks one of them on a cluster."
)


@dataclass(frozen=True)
class CalibratedThreshold:
    """A default similarity threshold and where it comes from."""

    similarity: float
    source: str


#: (provider, model) -> default similarity threshold. A threshold is a cosine
#: similarity in [-1, 1], and the same number means different things for
#: different models, so a default exists only for a model it was measured on.
#: See bench/README.md ("Hit correctness") for how each value was measured and
#: what it costs in paraphrase recall.
CALIBRATED: dict[tuple[str, str], CalibratedThreshold] = {
    ("local", "multilingual-e5-small"): CalibratedThreshold(
        0.96,
        "bench/semantic_correctness.py on 1,000 labelled pairs per set: the lowest "
        "similarity at which the English sets (QQP, MRPC, STS-B) serve at most ~13% "
        "of their near-miss pairs; Chinese sets stay far worse at any single "
        "threshold (see bench/README.md)",
    ),
}

#: Threshold for models nobody calibrated: few hits, but few wrong answers.
CONSERVATIVE_DEFAULT = 0.97


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


def validate_positive(name: str, value: float | None, *, allow_none: bool = True) -> None:
    """Raises ``ConfigurationError`` unless ``value`` is a finite number > 0 (or
    ``None`` when ``allow_none``); ``name`` is the setting, for the message."""
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


def validate_count(name: str, value: int | None, *, allow_none: bool = False) -> None:
    """Raises ``ConfigurationError`` unless ``value`` is an int >= 1 (or ``None``
    when ``allow_none``); ``name`` is the setting, for the message."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        allowed = "None or an int >= 1" if allow_none else "an int >= 1"
        raise ConfigurationError(f"{name} must be {allowed}, got {value!r}")


def validate_namespace(namespace: object) -> None:
    """Raises ``ConfigurationError`` unless ``namespace`` is a non-empty str (any
    text, glob characters included: keys are escaped where it matters)."""
    if not isinstance(namespace, str):
        raise ConfigurationError(f"namespace must be a str, got {type(namespace).__name__}")
    if not namespace:
        raise ConfigurationError("namespace must not be empty")


def validate_threshold(value: float) -> float:
    """A cosine similarity threshold: a finite number in [-1, 1] (0 is valid);
    raises ``ConfigurationError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"threshold must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or not -1.0 <= value <= 1.0:
        raise ConfigurationError(
            f"threshold is a cosine similarity in [-1, 1], got {value!r} "
            "(a distance would be 1 - similarity)"
        )
    return float(value)


def validate_error_budget(value: object) -> float | None:
    """An error budget: ``None`` or a number strictly between 0 and 1 (a share of
    lookups); raises ``ConfigurationError`` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"error_budget must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or not 0.0 < value < 1.0:
        raise ConfigurationError(
            f"error_budget is a share of lookups, 0 < error_budget < 1, got {value!r}"
        )
    return float(value)


def validate_strategy(strategy: object) -> Strategy:
    """``strategy`` if it names a vector index strategy (see :data:`STRATEGIES`)."""
    if strategy not in STRATEGIES:
        raise ConfigurationError(f"unknown strategy {strategy!r}")
    return strategy


def validate_dtype(dtype: object, *, allow_none: bool = False) -> VectorDtype | None:
    """``dtype`` if it is ``"float32"`` or ``"float16"`` (or ``None`` when ``allow_none``)."""
    if dtype is None and allow_none:
        return None
    if dtype not in VECTOR_DTYPES:
        raise ConfigurationError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
    return dtype


def refuse_settings_mix(
    prepared: str, values: Mapping[str, object], defaults: Mapping[str, object] | None = None
) -> None:
    """Raises ``ConfigurationError`` naming the individual settings given together
    with a prepared settings object: one of them would be silently ignored.

    Args:
        prepared: The argument that carried the prepared object (``"settings"``).
        values: The individual settings arguments, by name.
        defaults: Each argument's default; one still at its default counts as not
            given. Without it, every name in ``values`` counts as given (``**kwargs``).
    """
    defaults = defaults or {}
    given = sorted(
        name
        for name, value in values.items()
        if name not in defaults or (value is not defaults[name] and value != defaults[name])
    )
    if given:
        names = ", ".join(f"{name}=" for name in given)
        raise ConfigurationError(
            f"pass either {prepared}= or individual settings, not both: {names} "
            f"would be ignored next to {prepared}= (set them on that object instead)"
        )


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
        validate_positive("timeout", self.timeout, allow_none=False)
        validate_positive("connect_timeout", self.connect_timeout, allow_none=False)
        validate_positive("breaker_cooldown", self.breaker_cooldown, allow_none=False)
        if self.cluster is not None and not isinstance(self.cluster, bool):
            raise ConfigurationError(f"cluster must be True, False or None, got {self.cluster!r}")
        validate_count("breaker_failures", self.breaker_failures)


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
        stampede_lease: Seconds the first caller holds the right to compute at
            most: it renews its lease (2 s in Redis) while it computes, up to this
            long. If its LLM call fails (a LangChain model raising, a stream left
            early) it frees the lease at once; if it dies, the lease lapses within
            2 s; otherwise another caller proceeds after this long. Set it to about
            your LLM's slowest answer.
        stampede_wait: Seconds a waiting caller waits at most before it gives up and
            gets a miss (then calls the LLM itself).
        embed_timeout: Seconds a lookup or an update waits for the embedder before
            it goes on without the semantic tier (the exact tier still answers); the
            abandoned call finishes in the background, bounded by the embedder's
            own timeout. Embedding caches do not use it: their callers need the
            vectors and wait for the embedder's own timeout.
        judge_timeout: Seconds a lookup waits for the judge of a borderline
            candidate (a judged verifier) before rejecting the candidate.
        model_breaker_failures: Consecutive failures (errors or missed deadlines) of
            the embedder, or of the judge, after which the cache stops calling it for
            ``model_breaker_cooldown`` seconds (semantic lookups and updates are then
            skipped, exact ones go on); then one call probes it again.
        model_breaker_cooldown: Seconds the embedder's (judge's) breaker stays open.

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
    embed_timeout: float = 0.25
    judge_timeout: float = 0.5
    model_breaker_failures: int = 3
    model_breaker_cooldown: float = 10.0

    def __post_init__(self) -> None:
        validate_namespace(self.namespace)
        if not isinstance(self.tenant, str):
            raise ConfigurationError(f"tenant must be a str, got {type(self.tenant).__name__}")
        validate_positive("ttl", self.ttl)
        super().__post_init__()
        validate_positive("stampede_lease", self.stampede_lease, allow_none=False)
        validate_positive("stampede_wait", self.stampede_wait, allow_none=False)
        validate_positive("embed_timeout", self.embed_timeout, allow_none=False)
        validate_positive("judge_timeout", self.judge_timeout, allow_none=False)
        validate_positive("model_breaker_cooldown", self.model_breaker_cooldown, allow_none=False)
        validate_count("model_breaker_failures", self.model_breaker_failures)
        if not isinstance(self.stampede_protection, bool):
            raise ConfigurationError("stampede_protection must be a bool")
        if self.sliding_ttl and self.ttl is None:
            raise ConfigurationError("sliding_ttl=True needs a ttl")
        validate_count("max_entries", self.max_entries, allow_none=True)
        validate_count("max_entry_bytes", self.max_entry_bytes)

    @property
    def ttl_ms(self) -> int | None:
        """TTL in whole milliseconds (at least 1), as Redis ``PX`` wants it."""
        return ttl_millis(self.ttl)


#: Picks the question out of a templated prompt's text (``None``: no question).
QuestionOf = Callable[[str], "str | None"]


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
            for the strategy's measured default (:data:`DEFAULT_DTYPES`): ``float16``
            for ``search`` and ``client`` (half the memory, similarities off by
            ~1e-4), ``float32`` for ``vectorset`` (its ``float16`` is ``Q8``, which
            lost recall@1 on real embeddings).
        max_text_chars: Longer texts skip the semantic tier (they are documents,
            not questions, and paraphrase matching of them is unreliable).
        verifier: Second check of each candidate that passed the threshold:
            ``"default"`` (:class:`~redis_llm_cache.PairVerifier`: numbers, negation,
            word order, differing key words, with shipped weights), ``None`` (the
            threshold alone decides), or any object with ``verify(pair) -> Verdict``
            (e.g. :class:`~redis_llm_cache.JudgedVerifier` with an LLM judge).
        bypass: Rules that send a prompt past the semantic tier (exact only):
            built-in names ``"personal"``, ``"time_sensitive"``, ``"tool_calling"``
            (all three by default, see :mod:`redis_llm_cache.core.semantic.eligibility`) or
            callables ``(text, llm_string) -> bool``. ``()`` turns bypassing off.
        error_budget: The share of semantic lookups allowed to serve a wrong
            answer, ``0 < delta < 1`` (e.g. ``0.02``). ``None`` (default): the
            threshold and the verifier decide, as described above. Set, the tier
            learns per entry, partition and embedder where paraphrases end, from
            ``judge`` verdicts, ``report_wrong_hit`` and labels, and serves,
            misses or explores each candidate to keep the expected rate at
            ``delta`` (:mod:`redis_llm_cache.core.semantic.budget`). ``threshold``
            is then only the lowest similarity searched (default 0.85).
        judge: Labels explored candidates in the background: any callable
            ``(query, candidate) -> bool | float`` (e.g. ``ChatModelJudge``). ``None``:
            the judge of a ``JudgedVerifier`` given as ``verifier``, if any; without
            one only labels and reports teach the budget.
        label_timeout: Seconds the error budget's judge may take to label a pair;
            a later answer is dropped and counted. (A judge asked inside a lookup
            by a ``JudgedVerifier`` is bounded by ``CacheSettings.judge_timeout``.)
        judge_inline: Ask the judge *during* the lookup about a candidate the
            budget would explore, and serve it when the judge says "same" (more
            hits; the lookup waits for the judge, at most ``label_timeout``).
            Default ``False``: explored candidates are misses, judged in the
            background.
        question: Which part of the prompt's text is the question, for prompts
            built from a template: a callable ``text -> question`` (``None``: the
            prompt has no question to match semantically). The question is
            embedded and compared; the rest of the text (instructions, retrieved
            context) must match exactly, as part of the partition. ``None``
            (default): the whole text (the last user message) is compared, and the
            verifier decides on the segments that differ.
    """

    threshold: float | None = None
    strategy: Strategy = "auto"
    candidates: int = 4
    dtype: VectorDtype | None = None
    max_text_chars: int = 2000
    verifier: str | Verifier | None = "default"
    bypass: Sequence[str | BypassRule] = DEFAULT_BYPASS
    error_budget: float | None = None
    judge: Callable[[str, str], Any] | None = None
    label_timeout: float = 10.0
    judge_inline: bool = False
    question: QuestionOf | None = None

    def __post_init__(self) -> None:
        resolve_verifier(self.verifier)  # validates; the tier builds its own
        validate_error_budget(self.error_budget)
        if self.judge is not None and not callable(self.judge):
            raise ConfigurationError("judge must be callable (query, candidate) -> bool | float")
        validate_positive("label_timeout", self.label_timeout, allow_none=False)
        if not isinstance(self.judge_inline, bool):
            raise ConfigurationError(f"judge_inline must be a bool, got {self.judge_inline!r}")
        if self.question is not None and not callable(self.question):
            raise ConfigurationError(
                f"question must be a callable text -> question text, got {self.question!r}"
            )
        resolve_rules(self.bypass)
        object.__setattr__(self, "bypass", tuple(self.bypass))
        if self.threshold is not None:
            validate_threshold(self.threshold)
        validate_strategy(self.strategy)
        validate_dtype(self.dtype, allow_none=True)
        for name in ("candidates", "max_text_chars"):
            validate_count(name, getattr(self, name))


@dataclass(frozen=True, kw_only=True)
class EmbeddingSettings(ConnectionSettings):
    """How one embedding cache behaves.

    Attributes:
        namespace: Prefix of every key; ``clear()`` stays inside it.
        ttl: Seconds a vector lives in Redis (set in the same ``SET``). ``None``: no expiry.
        batch_size: Most texts sent to the inner model in one call.
        dtype: ``"float32"`` (exact) or ``"float16"`` (half the memory; about 3
            significant digits -- a miss returns the same rounded vector a hit will).
        normalize: L2-normalize vectors before storing and returning them. Off by
            default: a wrapper returns what the wrapped model returns.
        memory_max_entries: Size of the in-process LRU tier in vectors; ``None``: no tier.
        memory_max_bytes: Bound on the vector bytes that tier holds.
        timeout: Seconds allowed for one Redis round trip (default 0.5: a round trip
            of vectors is larger than an LLM-cache lookup).

    Plus the other fields of :class:`ConnectionSettings` (``connect_timeout``,
    ``fail_open`` -- on Redis failure embed with the model and count the error;
    ``False`` raises ``BackendError`` --, ``breaker_failures``,
    ``breaker_cooldown``, ``cluster``).
    """

    namespace: str = DEFAULT_EMBEDDING_NAMESPACE
    ttl: float | None = None
    batch_size: int = 128
    dtype: VectorDtype = "float32"
    normalize: bool = False
    memory_max_entries: int | None = None
    memory_max_bytes: int = 64 * 1024 * 1024
    timeout: float = DEFAULT_EMBEDDING_TIMEOUT_S

    def __post_init__(self) -> None:
        validate_namespace(self.namespace)
        validate_positive("ttl", self.ttl)
        super().__post_init__()
        validate_dtype(self.dtype)
        validate_count("batch_size", self.batch_size)
        validate_count("memory_max_bytes", self.memory_max_bytes)
        validate_count("memory_max_entries", self.memory_max_entries, allow_none=True)


#: What must match besides the question for a semantic hit (LLM caches'
#: ``semantic_context``): ``"conversation"`` (system prompt and earlier turns),
#: ``"system"`` (system prompt only) or ``"none"``.
ContextScope = Literal["conversation", "system", "none"]


#: The ``CacheSettings`` an LLM cache adapter takes as arguments of its own.
LLM_CACHE_ARGUMENTS = (
    "namespace",
    "tenant",
    "ttl",
    "sliding_ttl",
    "max_entries",
    "timeout",
    "fail_open",
)


def llm_cache_settings(
    arguments: Mapping[str, object],
    more_settings: Mapping[str, object],
    defaults: Mapping[str, object],
) -> tuple[CacheSettings, SemanticSettings]:
    """The settings of an LLM cache adapter from its constructor's arguments.

    Args:
        arguments: The constructor's arguments by name: ``settings``, ``semantic``
            (prepared objects or ``None``), :data:`LLM_CACHE_ARGUMENTS`,
            ``semantic_threshold``, ``semantic_strategy``, ``semantic_verifier``,
            ``semantic_error_budget``, ``semantic_judge``, ``semantic_text`` and
            ``semantic_context``
            (validated here, see :data:`ContextScope`).
        more_settings: Further ``CacheSettings`` given as keyword arguments.
        defaults: The constructor's defaults (see :func:`refuse_settings_mix`).

    Raises:
        ConfigurationError: A prepared object next to individual settings, or an
            invalid setting.
    """
    cache_values = {name: arguments[name] for name in LLM_CACHE_ARGUMENTS} | dict(more_settings)
    settings = arguments["settings"]
    if settings is None:
        settings = CacheSettings(**cache_values)  # type: ignore[arg-type]
    else:
        refuse_settings_mix("settings", cache_values, defaults)
    semantic_values = {
        name: arguments[name]
        for name in (
            "semantic_threshold",
            "semantic_strategy",
            "semantic_verifier",
            "semantic_error_budget",
            "semantic_judge",
            "semantic_text",
        )
    }
    semantic = arguments["semantic"]
    if semantic is None:
        semantic = SemanticSettings(
            threshold=semantic_values["semantic_threshold"],  # type: ignore[arg-type]
            strategy=semantic_values["semantic_strategy"],  # type: ignore[arg-type]
            verifier=semantic_values["semantic_verifier"],  # type: ignore[arg-type]
            error_budget=semantic_values["semantic_error_budget"],  # type: ignore[arg-type]
            judge=semantic_values["semantic_judge"],  # type: ignore[arg-type]
            question=semantic_values["semantic_text"],  # type: ignore[arg-type]
        )
    else:
        refuse_settings_mix("semantic", semantic_values, defaults)
    if arguments["semantic_context"] not in ("conversation", "system", "none"):
        raise ConfigurationError(f"unknown semantic_context {arguments['semantic_context']!r}")
    assert isinstance(settings, CacheSettings) and isinstance(semantic, SemanticSettings)
    return settings, semantic
