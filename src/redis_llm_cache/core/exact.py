"""The exact tier: same prompt, same partition -> the stored value. Never wrong.

Each public step is an operation (see :mod:`.ops`): the Redis commands it needs
and the decisions between them, written once for sync and async.

Storage, per entry: one string key holding ``MAGIC + body`` with the TTL set in
the same ``SET`` (atomic). With ``max_entries``, a per-namespace sorted set
(:attr:`KeySpace.lru_key`) scores entry keys by last use; a write that grows it
past the bound pops and unlinks the least recently used entries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from ..config import CacheSettings
from ..errors import CorruptEntryError, UnsupportedValueError
from .codec import MAGIC, ValueCodec, frame, unframe
from .keys import KeySpace
from .ops import NOT_SENT, Call, Command, Operation, Pipeline, RedisOperation
from .replies import is_wrong_type, popped_members, raise_if_error, timed_out
from .scan import scan_each, unlink_batch
from .stats import CacheStats, TokenUsage

T = TypeVar("T")

logger = logging.getLogger(__name__)

TIER = "exact"

#: Remove a corrupt value only if it is still the value we read, so a good value
#: written meanwhile by another process is never deleted. One key: cluster-safe.
_DELETE_IF_UNCHANGED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


#: Remove a key of the wrong Redis type at an entry's name (a string written
#: meanwhile by a writer of ours is kept). One key: cluster-safe.
_DELETE_IF_NOT_STRING = """
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


#: Remove a value over the size bound only if it still is (a value of ours
#: written meanwhile is kept). One key: cluster-safe.
_DELETE_IF_OVERSIZED = """
if redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[1]) then
  return redis.call('UNLINK', KEYS[1])
end
return 0
"""


_make_tuple = tuple.__new__
_MAGIC_LEN = len(MAGIC)


def _not_text(prompt: object, llm_string: object) -> TypeError:
    return TypeError(
        "prompt and llm_string must be str, got "
        f"{type(prompt).__name__} and {type(llm_string).__name__}"
    )


def _now_ms() -> int:
    return int(time.time() * 1000)


class ExactTier(Generic[T]):
    """Operations of the exact tier for one namespace and tenant."""

    def __init__(
        self,
        settings: CacheSettings,
        codec: ValueCodec[T],
        stats: CacheStats,
        usage_of: Callable[[T], TokenUsage | None] | None = None,
    ) -> None:
        self.settings = settings
        self.keys = KeySpace(settings.namespace)
        self._tenant_keys = self.keys.for_tenant(settings.tenant)
        self.codec = codec
        self.stats = stats
        # What a hit saved: from a codec that stores it beside the value
        # (``decode_hit``), else read from the decoded value, else unknown.
        self._decode_hit: Callable[..., tuple[T, TokenUsage | None]] = (
            getattr(codec, "decode_hit", None) or self._decode_then_read_usage
        )
        self._usage_of = usage_of

    def key(self, prompt: str, llm_string: str) -> str:
        if type(prompt) is not str or type(llm_string) is not str:
            raise _not_text(prompt, llm_string)
        return self._tenant_keys.entry_key(llm_string, prompt)

    # -- lookup --------------------------------------------------------------------------

    def lookup(self, prompt: str, llm_string: str) -> Operation[T | None]:
        """Miss -> ``None``. A value that is not ours or does not decode is a miss;
        it is counted and removed (if still unchanged)."""
        # ``yield from``: even a bad argument surfaces inside the running operation,
        # where the fail-open policy handles it.
        return (yield from self.read(self.key(prompt, llm_string), tier=TIER))

    def read(
        self, key: str, *, tier: str, details: dict[str, Any] | None = None
    ) -> Operation[T | None]:
        """The value stored under ``key`` (an entry key), decoded for a hit of
        ``tier``; ``details`` are passed to the codec (e.g. a semantic hit's
        similarity). Renews a sliding TTL and LRU recency like any hit."""
        found = yield from self.read_hit(key, tier=tier, details=details)
        return None if found is None else found[0]

    def _decode_then_read_usage(
        self, body: bytes, *, tier: str, details: dict[str, Any] | None = None
    ) -> tuple[T, TokenUsage | None]:
        value = self.codec.decode(body, tier=tier, details=details)
        return value, (self._usage_of(value) if self._usage_of is not None else None)

    def lookup_request(self, prompt: str, llm_string: str) -> Call | Pipeline | None:
        """The request a lookup sends when it is all a hit needs; its reply goes to
        :meth:`hit` (``None`` with ``max_entries``: a hit also refreshes recency).
        The read is bounded (see :meth:`read_hit`); a sliding TTL is renewed in the
        same round trip."""
        settings = self.settings
        if settings.max_entries is not None:
            return None
        key = self.key(prompt, llm_string)
        read = ("GETRANGE", key, 0, settings.max_entry_bytes)
        if settings.sliding_ttl:
            return Pipeline((read, ("PEXPIRE", key, settings.ttl_ms)))
        # ``Call(read)`` without the NamedTuple's Python-level ``__new__``: one frame
        # less on every hit.
        return _make_tuple(Call, (read,))

    def hit(self, reply: Any) -> tuple[T, str, TokenUsage | None] | None:
        """``(value, "exact", usage)`` decoded from the reply to :meth:`lookup_request`,
        or ``None`` when the reply is not a sound entry (a miss, a failure, a value not
        ours, corrupt or over the size bound): :meth:`read_hit` given the same reply
        deals with those."""
        if type(reply) is list:  # the sliding TTL's pipeline: the read comes first
            reply = reply[0]
        if (
            type(reply) is not bytes
            or not reply.startswith(MAGIC)
            or len(reply) > self.settings.max_entry_bytes
        ):
            return None
        try:
            value, usage = self._decode_hit(reply[_MAGIC_LEN:], tier=TIER)
        except CorruptEntryError:
            return None
        return value, TIER, usage

    def read_hit(
        self,
        key: str,
        *,
        tier: str,
        details: dict[str, Any] | None = None,
        reply: Any = NOT_SENT,
    ) -> Operation[tuple[T, TokenUsage | None] | None]:
        """:meth:`read`, with the tokens the stored answer cost when it was made
        (``None``: unknown): ``(value, usage)``, or ``None`` on a miss. ``reply``:
        the reply (or the exception) :meth:`lookup_request`'s command already got."""
        settings = self.settings
        # A bounded read: a value over max_entry_bytes (not written by us) is never
        # transferred whole -- it would time out every lookup, never to be removed.
        read: tuple[Any, ...] = ("GETRANGE", key, 0, settings.max_entry_bytes)
        try:
            if reply is not NOT_SENT:  # what lookup_request's read already got
                if isinstance(reply, Exception):
                    raise reply
                raw = raise_if_error(reply[0]) if isinstance(reply, list) else reply
            elif settings.max_entries is None and not settings.sliding_ttl:
                # ``Call(read)`` without the NamedTuple's Python-level ``__new__``:
                # one frame less on every hit.
                raw = yield _make_tuple(Call, (read,))
            else:
                # Renew a sliding TTL and refresh recency in the same round trip
                # (XX: never re-add a removed key).
                commands = [read]
                if settings.sliding_ttl:
                    commands.append(("PEXPIRE", key, settings.ttl_ms))
                if settings.max_entries is not None:
                    commands.append(("ZADD", self.keys.lru_key, "XX", _now_ms(), key))
                replies = yield Pipeline(tuple(commands))
                raw = raise_if_error(replies[0])
                if settings.max_entries is not None and isinstance(replies[-1], Exception):
                    self.stats.record_error(f"lru_touch:{type(replies[-1]).__name__}")
        except Exception as exc:
            if timed_out(exc):
                # Perhaps a value too large to read in time, up to the bound: check
                # its size alone, so that the next lookups do not time out too.
                yield from self._remove_if_oversized(key)
                raise
            if not is_wrong_type(exc):
                raise
            # Our key holds a list, hash, ... (written by someone else): not a Redis
            # failure, a corrupt entry. Remove it if it is still not a string.
            logger.debug("entry %s of the wrong Redis type removed", key)
            self.stats.incr("corrupt_removed")
            yield Call(("EVAL", _DELETE_IF_NOT_STRING, 1, key))
            return None
        if not raw:
            # GETRANGE answers "" for a missing key and for an empty value (never
            # ours: a corrupt entry, removed below); only a miss pays to tell them apart.
            if not (yield Call(("EXISTS", key))):
                return None
        elif len(raw) > settings.max_entry_bytes:
            yield from self._remove_if_oversized(key)
            return None
        try:
            return self._decode_hit(unframe(raw), tier=tier, details=details)
        except CorruptEntryError as exc:
            logger.debug("corrupt entry %s removed: %s", key, exc)
        self.stats.incr("corrupt_removed")
        yield Call(("EVAL", _DELETE_IF_UNCHANGED, 1, key, raw))
        return None

    def _remove_if_oversized(self, key: str) -> Operation[None]:
        """Remove the value at ``key`` if it is over ``max_entry_bytes`` (never ours:
        such values are not written), counted as ``oversized_removed``."""
        removed = yield Call(("EVAL", _DELETE_IF_OVERSIZED, 1, key, self.settings.max_entry_bytes))
        if removed:
            logger.debug("oversized entry %s removed", key)
            self.stats.incr("oversized_removed")

    # -- update --------------------------------------------------------------------------

    def update(self, prompt: str, llm_string: str, value: T) -> Operation[bool]:
        """Store ``value``. Returns ``False`` (and counts why) when it is skipped:
        a value that would not round-trip, or one over ``max_entry_bytes``."""
        write = self.write_command(prompt, llm_string, value)
        if write is None:
            return False
        commands = self.write_commands((write,))
        if len(commands) == 1:
            yield Call(commands[0])
            self.stats.incr("writes")
        else:
            yield from self.finish_writes(1, (yield Pipeline(commands)))
        return True

    def write_command(self, prompt: str, llm_string: str, value: T) -> Command | None:
        """The ``SET`` that stores ``value`` with its TTL (no I/O), or ``None`` (counted
        and logged) when it is skipped: a value that would not round-trip, or one
        over ``max_entry_bytes``. Send it with :meth:`write_commands`."""
        settings = self.settings
        try:
            raw = frame(self.codec.encode(value))
        except UnsupportedValueError as exc:
            self.stats.record_skipped_write("unsupported_value")
            # The reason may quote the answer's content: only at DEBUG.
            logger.info("redis-llm-cache: a value was not cached (it would not round-trip)")
            logger.debug("redis-llm-cache: value not cached: %s", exc)
            return None
        if len(raw) > settings.max_entry_bytes:
            self.stats.record_skipped_write("too_large")
            logger.info(
                "redis-llm-cache: value of %d bytes not cached (max_entry_bytes=%d)",
                len(raw),
                settings.max_entry_bytes,
            )
            return None
        write: Command = ("SET", self.key(prompt, llm_string), raw)
        if settings.ttl_ms is not None:
            write += ("PX", settings.ttl_ms)
        return write

    def write_commands(self, writes: Sequence[Command]) -> tuple[Command, ...]:
        """``writes`` (from :meth:`write_command`) and, with ``max_entries``, the LRU
        bookkeeping after them; send them in one round trip (alone or in a
        caller's pipeline), then pass their replies to :meth:`finish_writes`."""
        if self.settings.max_entries is None or not writes:
            return tuple(writes)
        lru = self.keys.lru_key
        now = _now_ms()
        scored = [item for write in writes for item in (now, write[1])]
        commands: list[Command] = [*writes, ("ZADD", lru, *scored)]
        if self.settings.ttl_ms is not None:
            # Members last used more than a TTL ago are expired entries: drop them so
            # they do not count against the bound. (Last use >= creation, so this
            # holds with and without sliding TTL.)
            commands.append(("ZREMRANGEBYSCORE", lru, "-inf", f"({now - self.settings.ttl_ms}"))
        commands.append(("ZCARD", lru))
        return tuple(commands)

    def finish_writes(self, count: int, replies: Sequence[Any]) -> Operation[None]:
        """Check the replies of :meth:`write_commands` for ``count`` writes (raise the
        first error), count the writes and evict past ``max_entries``."""
        for reply in replies[:count]:
            raise_if_error(reply)
        self.stats.incr("writes", count)
        if self.settings.max_entries is None or count == 0:
            return
        excess = int(raise_if_error(replies[-1])) - self.settings.max_entries
        if excess <= 0:
            return
        # ZPOPMIN is atomic: concurrent writers evict different entries.
        popped = yield Call(("ZPOPMIN", self.keys.lru_key, excess))
        victims = popped_members(popped)
        if victims:
            yield Call(("UNLINK", *victims))
            self.stats.incr("evictions", len(victims))

    # -- clear ---------------------------------------------------------------------------

    def clear(self, *, tenant: str | None = None, llm_string: str | None = None) -> Operation[int]:
        """Unlink this namespace's entries (optionally one tenant / llm_string).

        Uses ``SCAN MATCH`` with a pattern that cannot match outside the scope
        (see :mod:`.keys`), never ``FLUSHDB``. Returns the number of keys removed.
        """
        lru = self.keys.lru_key

        def unlink_and_forget(found: list[Any]) -> RedisOperation[int]:
            replies = yield Pipeline((("UNLINK", *found), ("ZREM", lru, *found)))
            raise_if_error(replies[1])
            return int(raise_if_error(replies[0]))

        pattern = self.keys.entry_pattern(tenant, llm_string)
        removed = yield from scan_each(pattern, unlink_and_forget)
        if self.settings.stampede_protection:
            # Leases of cleared entries would make the next lookups wait for nothing.
            yield from scan_each(self.keys.lease_pattern(tenant, llm_string), unlink_batch)
        if tenant is None and llm_string is None:
            yield Call(("UNLINK", lru))
        return removed

    def count(self, *, tenant: str | None = None, llm_string: str | None = None) -> Operation[int]:
        """Number of entries in scope (a full ``SCAN``: for tools and tests)."""
        return (yield from scan_each(self.keys.entry_pattern(tenant, llm_string)))
