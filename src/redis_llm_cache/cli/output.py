"""What every command shares: its error type, and how it prints."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

EXIT_BROKEN_PIPE = 141


class CommandError(Exception):
    """A command failed in a way the user can act on (printed without a traceback)."""


# -- output ------------------------------------------------------------------------------


def emit(args: argparse.Namespace, data: Any, render: Callable[[Any], str]) -> None:
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        print(render(data))


def masked(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for output and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
