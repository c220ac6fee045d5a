"""``redis-llm-cache``: look at, fill, empty and tune a cache from the shell.

Commands: ``doctor``, ``stats``, ``inspect``, ``clear``, ``warm``, ``calibrate``,
``redis start|stop|status``. Every command that reads Redis takes ``--url``
(default ``$REDIS_URL``, else the server ``redis start`` runs, else
``redis://localhost:6379/0``) or ``--dir`` (the server ``redis start --dir``
runs) and ``--namespace``; ``--json`` prints data instead of text. Exit codes:
0 done, 1 failed (one line on stderr), 2 usage error or declined confirmation,
3 ``redis status``: not running, 141 output pipe closed early (as after
SIGPIPE: ``stats | head``).

Built on ``argparse`` (standard library): the CLI then installs with the base
package and adds no dependency for a dozen flags.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import redis

from ..errors import CacheError
from .commands.calibrate import cmd_calibrate
from .commands.doctor import doctor, render_doctor
from .commands.entries import cmd_clear, cmd_inspect, cmd_stats
from .commands.warm import cmd_warm
from .output import EXIT_BROKEN_PIPE, CommandError, emit, masked
from .parser import build_parser
from .redis_server import DEFAULT_DATA_DIR, STATE_FILE, cmd_redis
from .session import Session, connection_hints, default_url

__all__ = [
    "DEFAULT_DATA_DIR",
    "EXIT_BROKEN_PIPE",
    "STATE_FILE",
    "CommandError",
    "Session",
    "build_parser",
    "connection_hints",
    "main",
    "masked",
]


def _run(args: argparse.Namespace) -> int:
    if args.command == "calibrate":
        return cmd_calibrate(args)
    if args.command == "redis":
        return cmd_redis(args)
    session = Session(args)
    try:
        if args.command == "doctor":
            report = doctor(session)
            emit(args, report, render_doctor)
            return 0 if report["reachable"] else 1
        handler = {
            "stats": cmd_stats,
            "inspect": cmd_inspect,
            "clear": cmd_clear,
            "warm": cmd_warm,
        }[args.command]
        return handler(args, session)
    finally:
        session.close()


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush of what could not
    be written does not fail again (and print a traceback) at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a file (e.g. captured): nothing flushes it at exit


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (see module docstring)."""
    args = build_parser().parse_args(argv)
    try:
        code = _run(args)
        sys.stdout.flush()  # here, so a closed pipe is noticed while we can handle it
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except CommandError as exc:
        print(f"redis-llm-cache: {exc}", file=sys.stderr)
        return 1
    except (redis.RedisError, CacheError) as exc:
        print(f"redis-llm-cache: {type(exc).__name__}: {exc}", file=sys.stderr)
        for hint in connection_hints(getattr(args, "url", None) or default_url(), exc):
            print(f"hint: {hint}", file=sys.stderr)
        return 1
