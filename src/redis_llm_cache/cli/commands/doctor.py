"""``doctor``: server facts, the index strategy ``auto`` picks, latency and hints."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import redis

from ...core.index.foreign import foreign_indexes
from ...redis.capabilities import detect_strategy
from ..output import masked
from ..session import Session, connection_hints


def doctor(session: Session) -> dict[str, Any]:
    """Server facts, the semantic index strategy ``auto`` picks, round-trip latency
    and configuration hints; ``reachable: False`` with hints when it cannot connect."""
    report: dict[str, Any] = {"url": masked(session.url), "tls": session.url.startswith("rediss")}
    try:
        # Inside the try: the first command also makes the client, which may
        # already talk to Redis (asking whether it is a cluster).
        rtts = []
        for _ in range(20):
            started = time.perf_counter()
            session.command("PING")
            rtts.append((time.perf_counter() - started) * 1000)
    except redis.RedisError as exc:
        report["reachable"] = False
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["hints"] = connection_hints(session.url, exc)
        return report
    info = session.command("INFO")
    report["reachable"] = True
    report["server"] = {
        "version": info.get("redis_version"),
        "mode": info.get("redis_mode"),
        "os": info.get("os"),
        "used_memory_human": info.get("used_memory_human"),
        "maxmemory": info.get("maxmemory"),
        "maxmemory_policy": info.get("maxmemory_policy"),
    }
    try:
        modules = session.command("MODULE", "LIST")
        report["modules"] = sorted(_module_summaries(modules))
    except redis.ResponseError:
        report["modules"] = []
    report["semantic_strategy"] = session.run(detect_strategy())
    report["namespace"] = session.namespace
    report["foreign_indexes"] = [
        {"index": found.name, "prefixes": list(found.prefixes)}
        for found in session.run(foreign_indexes(session.namespace))
    ]
    report["round_trip_ms"] = {
        "p50": round(statistics.median(rtts), 3),
        "max": round(max(rtts), 3),
    }
    try:
        user = session.command("ACL", "WHOAMI")
        report["user"] = user.decode() if isinstance(user, bytes) else str(user)
    except redis.ResponseError:
        report["user"] = None
    report["hints"] = _server_hints(session.url, report)
    return report


def _module_summaries(reply: Any) -> Iterator[str]:
    for entry in reply or []:
        fields = (
            entry if isinstance(entry, dict) else dict(zip(entry[0::2], entry[1::2], strict=False))
        )
        name = fields.get(b"name", fields.get("name"))
        version = fields.get(b"ver", fields.get("ver"))
        if isinstance(name, bytes):
            name = name.decode()
        yield f"{name} {version}"


def _server_hints(url: str, report: dict[str, Any]) -> list[str]:
    hints = []
    server = report["server"]
    host = urlsplit(url).hostname or ""
    if not report["tls"] and host not in ("localhost", "127.0.0.1", "::1", ""):
        hints.append("traffic to a non-local server is not encrypted: use rediss:// if it has TLS")
    if report.get("user") == "default" and urlsplit(url).password is None and not report["tls"]:
        hints.append("connected without a password as 'default': fine locally, not in production")
    if server["maxmemory_policy"] == "noeviction":
        hints.append(
            "maxmemory-policy noeviction: when memory is full, writes are skipped (hits still "
            "served); allkeys-lru suits a dedicated cache"
        )
    if not server["maxmemory"]:
        hints.append("no maxmemory set: use ttl= or max_entries= to bound the cache")
    for found in report["foreign_indexes"]:
        hint = (
            f"search index {found['index']!r} (prefixes {found['prefixes']}) lists the hashes "
            f"of namespace {report['namespace']!r}: clearing it deletes cache entries; use "
            "another --namespace / namespace= or drop that index"
        )
        hints.append(hint)
    if report["semantic_strategy"] == "client":
        hints.append(
            "no server-side vector search: the semantic tier keeps an in-process index "
            "(Redis 8 or Redis Stack search it on the server)"
        )
    return hints


def render_doctor(report: dict[str, Any]) -> str:
    lines = [f"url:        {report['url']}"]
    if not report["reachable"]:
        lines.append(f"reachable:  no ({report['error']})")
    else:
        server = report["server"]
        lines += [
            f"server:     Redis {server['version']} ({server['mode']}), {server['os']}",
            f"modules:    {', '.join(report['modules']) or 'none'}",
            f"semantic:   {report['semantic_strategy']} index",
            f"round trip: p50 {report['round_trip_ms']['p50']} ms, "
            f"max {report['round_trip_ms']['max']} ms (PING x20)",
            f"memory:     {server['used_memory_human']} used, maxmemory "
            f"{server['maxmemory'] or 'unset'}, policy {server['maxmemory_policy']}",
            f"tls:        {'yes' if report['tls'] else 'no'}; user: {report['user']}",
        ]
    lines += [f"hint:       {hint}" for hint in report["hints"]]
    return "\n".join(lines)
