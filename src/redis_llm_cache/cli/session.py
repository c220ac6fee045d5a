"""Which server a command talks to, the connection and runtime it uses, and hints when it cannot."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from ..config import CacheSettings, validate_redis_url
from ..core.ops import Call, Operation
from ..core.stats import CacheStats
from ..redis.connection import DEFAULT_URL, RedisConnector
from ..redis.embedded import pid_alive
from ..runtime import Runtime
from .output import CommandError
from .redis_server import DEFAULT_DATA_DIR, read_state


def default_url() -> str:
    """``$REDIS_URL``, else the server ``redis start`` runs (default ``--dir``), else localhost."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    state = read_state(DEFAULT_DATA_DIR)
    if state and pid_alive(int(state.get("pid", 0))):
        return str(state["url"])
    return DEFAULT_URL


def _url_of_dir(data_dir: str) -> str:
    """URL of the server ``redis start --dir data_dir`` runs; ``CommandError`` if none."""
    path = Path(data_dir).expanduser().resolve()
    state = read_state(path)
    if not state or not pid_alive(int(state.get("pid", 0))):
        raise CommandError(
            f"no server of 'redis start --dir {path}' is running "
            f"(start it: redis-llm-cache redis start --dir {path})"
        )
    return str(state["url"])


def _check_url(url: str) -> None:
    # The caches' own check (a ConfigurationError, reported by main() as one line).
    validate_redis_url(url, name="--url")


class Session:
    """The Redis connection of one command, and the runtime its core operations run on."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.url: str = args.url or (_url_of_dir(args.dir) if args.dir else default_url())
        _check_url(self.url)
        self.namespace: str = args.namespace
        self.settings = CacheSettings(
            namespace=args.namespace, timeout=args.timeout, connect_timeout=args.timeout
        )
        self.connector = RedisConnector(url=self.url, settings=self.settings)
        # No failure policy: a command reports Redis errors to the user (with
        # hints), it does not serve around them.
        self.runtime = Runtime(self.connector, self.settings, CacheStats(), failures="raise")

    def run(self, op: Operation[Any]) -> Any:
        """Run a Redis-only operation (one that yields no ``Embed``)."""
        return self.runtime.run(op, during="command")

    def command(self, *args: Any) -> Any:
        """One Redis command, run like any operation; its reply."""
        return self.run(_one_command(args))

    def close(self) -> None:
        self.connector.close()


def _one_command(command: tuple[Any, ...]) -> Operation[Any]:
    return (yield Call(command))


def _is_connection_failure(error: BaseException) -> bool:
    """``error``, or the Redis error it wraps, is a failure to reach or talk to the server."""
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, (redis.ConnectionError, redis.TimeoutError)):
            return True
        if isinstance(current, redis.RedisError):
            return False
        current = current.__cause__  # e.g. BackendError wrapping the redis-py error
    return False


def connection_hints(url: str, error: BaseException) -> list[str]:
    """What to try after ``error`` connecting to ``url`` (TLS, auth, nothing listening);
    nothing for errors that are not about the connection (e.g. a bad setting)."""
    message = f"{type(error).__name__}: {error}".lower()
    scheme = urlsplit(url).scheme
    hints = []
    if any(
        word in message
        for word in ("noauth", "wrongpass", "invalid username-password", "authentication")
    ):
        hints.append("the server wants credentials: redis://USER:PASSWORD@HOST:PORT/0")
    if not _is_connection_failure(error):
        # A bad setting or a command the server refused: advice about reaching
        # the server would send the user looking in the wrong place.
        return hints
    if "refused" in message:
        hints.append("nothing listens there; start a local one: redis-llm-cache redis start")
    if scheme == "redis" and ("reset" in message or "closed" in message or "timeout" in message):
        hints.append("if the server requires TLS, use a rediss:// URL")
    if scheme == "rediss" and ("ssl" in message or "certificate" in message):
        hints.append(
            "TLS failed: is the server TLS-enabled, and is its CA trusted "
            "(rediss://...?ssl_ca_certs=/path/ca.pem)?"
        )
    if not hints:
        hints.append("check host, port and firewall; --timeout raises the time allowed")
    return hints
