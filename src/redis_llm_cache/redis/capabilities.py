"""What the connected Redis can do, and the vector index strategy that follows.

| the server reports | strategy |
|---|---|
| the ``search`` module (Redis Stack, Redis 8 with the Query Engine) | ``search`` |
| the ``VADD`` command (Redis 8 open source: vector sets built in) | ``vectorset`` |
| neither (Redis 6/7, Valkey, managed caches; also Redis Cluster) | ``client`` |

Probing uses ``MODULE LIST`` and ``COMMAND INFO VADD``; a server (or an ACL) that
refuses a probe simply does not get that capability.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import ResponseError

from ..core.ops import Call, Operation


def _module_names(reply: Any) -> set[str]:
    names = set()
    for entry in reply or []:
        if isinstance(entry, dict):
            name = entry.get(b"name", entry.get("name"))
        else:  # RESP2 flat list: [b"name", b"search", b"ver", ...]
            items = list(entry)
            name = items[items.index(b"name") + 1] if b"name" in items else None
        if isinstance(name, bytes):
            name = name.decode()
        if isinstance(name, str):
            names.add(name.lower())
    return names


def detect_strategy() -> Operation[str]:
    """The best vector index strategy this server supports."""
    try:
        modules = _module_names((yield Call(("MODULE", "LIST"))))
    except ResponseError:
        modules = set()
    if "search" in modules or "searchlight" in modules:
        return "search"
    try:
        info = yield Call(("COMMAND", "INFO", "VADD"))
    except ResponseError:
        info = None
    if _has_command(info):
        return "vectorset"
    return "client"


def _has_command(info: Any) -> bool:
    if isinstance(info, dict):
        return any(value for value in info.values())
    if isinstance(info, (list, tuple)):
        return any(item for item in info)
    return bool(info)
