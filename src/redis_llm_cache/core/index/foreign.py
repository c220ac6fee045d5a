"""Search indexes of other software that cover our keys.

RediSearch indexes every ``HASH`` whose key starts with one of an index's
``PREFIX`` values -- a plain string prefix, so prefix ``llm`` covers
``llmcache:...`` and ``llm_foo:...``, and an index created without ``PREFIX``
covers every key. Some of our keys are hashes (the ``search`` and ``client``
strategies' entries, the per-entry usage records), so such an index lists them,
and whatever clears "its" documents by searching its index (``FT.SEARCH idx *``,
then deleting every key found, as RedisVL's ``SemanticCache.clear()`` and
langchain-redis's ``RedisSemanticCache.clear()`` do) deletes ours too.

No key layout prevents that (a hash is indexed by any index whose prefix its key
starts with, whatever its fields), so we choose default namespaces that no peer's
default prefix covers and look for indexes that do cover a namespace:
:func:`foreign_indexes` lists them (``FT._LIST`` + ``FT.INFO``); the semantic tier
runs it once before its first use, counts what it found in ``stats()`` and logs
one warning, and ``redis-llm-cache doctor`` reports it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from ..keys import SEARCH_INDEX, semantic_prefix
from ..ops import Call, Operation
from ..replies import index_prefixes, text


class ForeignIndex(NamedTuple):
    """An index of other software and its key prefixes that cover our namespace."""

    name: str
    prefixes: tuple[str, ...]


def covering_prefixes(namespace: str, prefixes: Iterable[str]) -> tuple[str, ...]:
    """The ``prefixes`` under which an index would list some key of ``namespace``.

    Every key of ours starts with ``<namespace>:``: a prefix that is a string
    prefix of that (``""``, ``llm``, ``<namespace>``) covers all of them, and one
    that starts with it (``<namespace>:sem:``) covers some."""
    ours = f"{namespace}:"
    return tuple(p for p in prefixes if ours.startswith(p) or p.startswith(ours))


def foreign_indexes(namespace: str) -> Operation[list[ForeignIndex]]:
    """Indexes not created by this library whose prefixes cover ``namespace``;
    ``[]`` on a server without the search module (nothing can index keys there)."""
    try:
        names = yield Call(("FT._LIST",))
    except Exception:
        # No search module (plain Redis, Valkey, a cluster): no index exists.
        return []
    # Our own indexes are named inside the namespace they index (see SearchIndex).
    own = f"{semantic_prefix(namespace)}{SEARCH_INDEX}:"
    found: list[ForeignIndex] = []
    for raw in names or []:
        name = text(raw)
        if name.startswith(own):
            continue
        try:
            info = yield Call(("FT.INFO", name))
        except Exception:
            continue  # dropped since FT._LIST, or not readable: nothing to report
        covering = covering_prefixes(namespace, index_prefixes(info))
        if covering:
            found.append(ForeignIndex(name, covering))
    return found
