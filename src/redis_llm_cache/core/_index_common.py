"""Helpers shared by the server-side vector index strategies (``search``, ``vectorset``).

Kept out of :mod:`.keys` only because that module is owned elsewhere; the key
*shapes* are documented in each strategy module. Both strategies build their keys
from the same two pieces:

* the **index digest** (16 hex): SHA-256 of the length-delimited parts key version,
  strategy family, embedder identity, dimensions and stored type, so two embedders
  (or one embedder stored two ways) never share an index;
* the **entry id** (64 hex): the last ``:``-segment of the exact tier's key when it
  is a 64-hex digest (it is for every key :class:`.keys.KeySpace` makes, and that
  digest already covers namespace, tenant, ``llm_string`` and prompt), else the
  SHA-256 of the whole exact key.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from ..errors import ConfigurationError
from .keys import KEY_VERSION, encode_parts

#: Hex characters of an index digest (64 bits: only separates indexes of one namespace).
INDEX_HEX = 16
#: Hex characters of an entry id.
ENTRY_HEX = 64

_HEX64 = re.compile(r"[0-9a-f]{64}")

DTYPES = ("float32", "float16")


def semantic_prefix(namespace: str) -> str:
    """Prefix of every semantic-tier key of ``namespace``."""
    return f"{namespace}:sem:{KEY_VERSION}:"


# What a semantic-tier key holds: the segment after :func:`semantic_prefix`. The one
# list of key kinds -- the strategies build their keys from it, and the inventory
# (:mod:`.inventory`) its scan patterns, so the two cannot drift apart.
SEARCH_INDEX = "idx"  # search: the RediSearch index name, ``idx:<index16>``
SEARCH_ENTRY = "h"  # search: one hash per entry, ``h:<index16>:<entry64>``
CLIENT = "c"  # client: ``c:<index16>:`` + CLIENT_ENTRY / CLIENT_REGISTRY / CLIENT_JOURNAL
CLIENT_ENTRY = "e"  # ... ``e:<entry64>``, one hash per entry
CLIENT_REGISTRY = "ids"  # ... the ids sorted set
CLIENT_JOURNAL = "log"  # ... the change journal (a stream)
VECTOR_SET = "vs"  # vectorset: one set per partition, ``vs:<index16>:<partition32>``
VECTOR_SET_POINTER = "vsk"  # vectorset: entry -> partition, ``vsk:<index16>:<entry64>``
USAGE = "usage"  # any strategy: per-entry usage hash, ``usage:<entry64>``


def usage_prefix(namespace: str) -> str:
    """Prefix of the per-entry usage hashes (created, hits, last hit) of ``namespace``."""
    return f"{semantic_prefix(namespace)}{USAGE}:"


def index_digest(family: str, model_key: str, dimensions: int, stored_as: str) -> str:
    raw = encode_parts(KEY_VERSION, "semantic-index", family, model_key, str(dimensions), stored_as)
    return hashlib.sha256(raw).hexdigest()[:INDEX_HEX]


def entry_id(exact_key: str) -> str:
    """64-hex id of an entry (see module docstring)."""
    last = exact_key.rsplit(":", 1)[-1]
    if _HEX64.fullmatch(last):
        return last
    return hashlib.sha256(encode_parts(KEY_VERSION, "entry", exact_key)).hexdigest()


def check_args(namespace: str, model_key: str, dimensions: int, dtype: str) -> None:
    """Validation shared by the strategy constructors (no I/O)."""
    if not isinstance(namespace, str) or not namespace:
        raise ConfigurationError("namespace must be a non-empty str")
    if not isinstance(model_key, str) or not model_key:
        raise ConfigurationError("model_key must be a non-empty str")
    if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1:
        raise ConfigurationError(f"dimensions must be a positive int, got {dimensions!r}")
    if dtype not in DTYPES:
        raise ConfigurationError(f"dtype must be one of {DTYPES}, got {dtype!r}")


def text(value: Any) -> str:
    """A reply value as ``str`` (replies are ``bytes`` with ``decode_responses=False``)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def raise_if_error(reply: Any) -> Any:
    if isinstance(reply, Exception):
        raise reply
    return reply
