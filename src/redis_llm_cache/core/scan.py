"""The one ``SCAN`` loop: every clear and count walks its keys through here.

Patterns passed in are the exact-shape patterns built in :mod:`.keys` and the
index modules (escaped prefix, fixed-width digests), so a walk never reaches keys
outside its scope.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .ops import Call, RedisOperation

SCAN_BATCH = 1000


def scan_each(
    pattern: str, on_batch: Callable[[list[Any]], RedisOperation[int]] | None = None
) -> RedisOperation[int]:
    """Run ``on_batch`` on every non-empty batch of keys matching ``pattern`` and
    return the sum of its results; without ``on_batch``, count the keys."""
    total = 0
    cursor: Any = 0
    while True:
        cursor, found = yield Call(("SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_BATCH))
        if found:
            total += len(found) if on_batch is None else (yield from on_batch(found))
        # Opaque on a cluster (see redis.connection); 0 means done everywhere.
        if cursor in (0, b"0", "0"):
            return total


def unlink_batch(keys: list[Any]) -> RedisOperation[int]:
    """``UNLINK`` a batch of keys; returns how many existed."""
    return int((yield Call(("UNLINK", *keys))))
