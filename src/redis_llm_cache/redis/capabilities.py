"""What the connected Redis can do, and the vector index strategy that follows.

| the server reports | strategy |
|---|---|
| the ``search`` module (Redis Stack, Redis 8 + Query Engine), not a cluster | ``search`` |
| the ``VADD`` command (Redis 8 open source, vector sets built in; cluster too) | ``vectorset`` |
| neither (Redis 6/7, Valkey, managed caches; a Redis 7 Cluster) | ``client`` |

Probing uses ``MODULE LIST`` and ``COMMAND INFO VADD``; a server (or an ACL) that
refuses a probe simply does not get that capability. A server that has the search
module is also asked ``INFO cluster``: open-source Redis Cluster has no
cross-shard search (each shard would index only its own keys), so there the
search module is passed over. Managed clusters behind one endpoint (Redis Cloud,
Redis Software) report ``cluster_enabled:0`` and keep ``search``.
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
        try:
            cluster = cluster_enabled((yield Call(("INFO", "cluster"))))
        except ResponseError:
            cluster = False
        if not cluster:
            return "search"
    try:
        info = yield Call(("COMMAND", "INFO", "VADD"))
    except ResponseError:
        info = None
    if _has_command(info):
        return "vectorset"
    return "client"


def cluster_enabled(info: Any) -> bool:
    """Whether an ``INFO cluster`` reply (as redis-py parses it) says cluster mode."""
    if not isinstance(info, dict):
        return False
    value = info.get("cluster_enabled", info.get(b"cluster_enabled", 0))
    try:
        return int(value or 0) == 1
    except (TypeError, ValueError):
        return False


def _has_command(info: Any) -> bool:
    if isinstance(info, dict):
        return any(value for value in info.values())
    if isinstance(info, (list, tuple)):
        return any(item for item in info)
    return bool(info)
