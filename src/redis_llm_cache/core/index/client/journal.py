"""The client index's change journal: stream ids and events as Redis returns them
(parsed from redis-py's shapes and from raw RESP2)."""

from __future__ import annotations

from typing import Any

from ..common import text

StreamId = tuple[int, int]


def _parse_id(raw: Any) -> StreamId:
    ms, _, seq = text(raw).partition("-")
    return int(ms), int(seq or 0)


def _format_id(sid: StreamId) -> str:
    return f"{sid[0]}-{sid[1]}"


def _field(fields: Any, name: bytes) -> Any:
    if isinstance(fields, dict):
        return fields.get(name, fields.get(name.decode()))
    items = list(fields or ())  # flat [field, value, ...] (raw RESP2)
    for i in range(0, len(items) - 1, 2):
        if items[i] in (name, name.decode()):
            return items[i + 1]
    return None


def _events(reply: Any) -> list[tuple[StreamId, str, str]]:
    """``XRANGE`` reply -> ``(id, op, ids)``; redis-py parses it into ``(id, dict)``
    pairs, a raw reply is ``[id, [field, value, ...]]``."""
    out = []
    for item in reply or ():
        if item is None:
            continue
        raw_id, fields = item[0], item[1]
        op = _field(fields, b"o")
        ids = _field(fields, b"i")
        out.append((_parse_id(raw_id), text(op) if op is not None else "", text(ids or b"")))
    return out
