"""What the vector index strategies share: argument checks and the hash-replacing script.

Their replies are decoded by :mod:`..replies`.

The key shapes the strategies use -- :func:`~.keys.semantic_prefix`, the key kinds,
:func:`~.keys.index_digest` and :func:`~.keys.entry_id` -- are in :mod:`.keys`,
with every other key layout; import them from there.
"""

from __future__ import annotations

from typing import Any

from ...errors import ConfigurationError

DTYPES = ("float32", "float16")

#: Replace a hash and set its TTL in one step: a script runs atomically, so no
#: client failure (or other client) can leave the hash without its TTL -- unlike
#: HSET and PEXPIRE sent one after the other, even in one pipeline. One key:
#: cluster-safe. ARGV: ttl_ms (``-1``: none), then field, value, ...
_REPLACE_HASH = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
local ttl = tonumber(ARGV[1])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
"""


def replace_hash(key: str, fields: dict[str, Any], ttl_ms: int | None) -> tuple[Any, ...]:
    """The command that replaces hash ``key`` with ``fields`` expiring in ``ttl_ms``
    (``None``: never), atomically (see ``_REPLACE_HASH``)."""
    ttl = -1 if ttl_ms is None else max(1, int(ttl_ms))
    return ("EVAL", _REPLACE_HASH, 1, key, ttl, *(item for pair in fields.items() for item in pair))


def check_args(namespace: str, model_key: str, dimensions: int, dtype: str) -> None:
    """Validation shared by the strategy constructors (no I/O)."""
    if not isinstance(namespace, str) or not namespace:
        raise ConfigurationError("namespace must be a non-empty str")
    if not isinstance(model_key, str) or not model_key:
        raise ConfigurationError("model_key must be a non-empty str")
    if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1:
        raise ConfigurationError(f"dimensions must be a positive int, got {dimensions!r}")
    if dtype not in DTYPES:
        raise ConfigurationError(f"dtype must be one of {DTYPES}, got {dtype!r}")
