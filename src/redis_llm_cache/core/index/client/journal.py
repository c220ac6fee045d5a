"""The client index's change journal: its events as :mod:`...replies` parses them
from a stream (redis-py's shapes and raw RESP2)."""

from __future__ import annotations

from typing import Any

from ...replies import StreamId, stream_entries, text

__all__ = ["StreamId", "journal_events"]


def journal_events(reply: Any) -> list[tuple[StreamId, str, str]]:
    """``XRANGE`` reply of the journal -> ``(id, op, ids)``: field ``o`` is the
    operation, ``i`` the entry ids it concerns (both may be absent)."""
    return [
        (sid, text(op) if op is not None else "", text(ids or b""))
        for sid, (op, ids) in stream_entries(reply, b"o", b"i")
    ]
