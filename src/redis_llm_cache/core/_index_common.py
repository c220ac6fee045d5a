"""Helpers shared by the vector index strategies: argument checks and reply decoding.

The key shapes the strategies use -- :func:`~.keys.semantic_prefix`, the key kinds,
:func:`~.keys.index_digest` and :func:`~.keys.entry_id` -- are in :mod:`.keys`,
with every other key layout; import them from there.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError

DTYPES = ("float32", "float16")


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


def text(value: Any) -> str:
    """A reply value as ``str`` (replies are ``bytes`` with ``decode_responses=False``)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def raise_if_error(reply: Any) -> Any:
    if isinstance(reply, Exception):
        raise reply
    return reply
