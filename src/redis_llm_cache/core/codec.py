"""How values are framed in Redis, and the protocol value codecs implement.

Every value we write is ``MAGIC + body``. ``MAGIC`` names the framing version;
the body belongs to a :class:`ValueCodec` (the LangChain adapter's codec turns
generations into JSON). A value without our ``MAGIC`` -- written by another
program, an older format, or truncated to nothing -- is foreign: the exact tier
treats it as a miss, counts it and removes it.

Nothing here, nor in any codec we ship, deserializes code: bodies are JSON.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from ..errors import CorruptEntryError

#: Framing of format 1: ``rlc`` (redis-llm-cache), format ``1``, body ``j`` (JSON).
MAGIC = b"rlc1j"

T = TypeVar("T")


class ValueCodec(Protocol[T]):
    """Turns one cached value into bytes and back.

    ``encode`` raises :class:`~redis_llm_cache.errors.UnsupportedValueError` for a
    value it cannot store faithfully; ``decode`` raises
    :class:`~redis_llm_cache.errors.CorruptEntryError` for bytes it cannot read.
    Anything else a codec raises is a bug in the codec.
    """

    def encode(self, value: T) -> bytes: ...

    def decode(self, body: bytes, *, tier: str, details: dict[str, Any] | None = None) -> T:
        """``details``: facts about the hit (e.g. similarity) a codec may attach
        to the value when it marks hits.

        A codec may also offer ``decode_hit`` (same arguments), returning
        ``(value, usage)``: the value and the tokens it cost when it was made
        (:data:`~redis_llm_cache.core.stats.TokenUsage`, or ``None``), stored beside
        it by ``encode`` so that counting a hit's savings reads no value fields."""
        ...


def frame(body: bytes) -> bytes:
    return MAGIC + body


def unframe(raw: bytes) -> bytes:
    """Strip ``MAGIC``; raise ``CorruptEntryError`` if the value is not ours."""
    if not isinstance(raw, bytes) or not raw.startswith(MAGIC):
        raise CorruptEntryError("value does not carry the redis-llm-cache header")
    return raw[len(MAGIC) :]
