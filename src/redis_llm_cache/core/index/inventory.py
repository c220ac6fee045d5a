"""What Redis holds for a namespace: entry counts, semantic index sizes, entry details.

``stats()`` counters live in each process; these operations read what is stored,
so they answer for every process that wrote to the namespace. They walk keys with
``SCAN`` over the exact key shapes of :mod:`.keys` and the index modules
(escaped prefix, fixed-width digests), so they never see another namespace's keys.
Keys hold digests, not names: a tenant or ``llm_string`` is shown by its digest
unless the caller names it (:func:`~.keys.scope_digest` of the name matches).

Operations (see :mod:`.ops`), so the CLI runs them with the sync driver and the
service with the async one. They raise on Redis failure: inspection tools must
not pretend a namespace is empty.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson

from ..codec import MAGIC
from ..keys import (
    CLIENT,
    CLIENT_ENTRY,
    CLIENT_JOURNAL,
    CLIENT_REGISTRY,
    ENTRY_HEX,
    INDEX_HEX,
    NORMALIZED,
    SCOPE_HEX,
    SEARCH_ENTRY,
    SEARCH_INDEX,
    USAGE,
    VECTOR_SET,
    VECTOR_SET_POINTER,
    KeySpace,
    embedding_prefix,
    escape_glob,
    observation_patterns,
    semantic_prefix,
    usage_prefix,
)
from ..ops import Call, Pipeline, RedisOperation
from ..replies import as_map, int_map, raise_if_error, text
from ..scan import scan_each, unlink_batch
from .base import PARTITION_HEX

_ANY_INDEX = "?" * INDEX_HEX
_ANY_ENTRY = "?" * ENTRY_HEX

#: Describes a stored value's body (model, tokens) without quoting user text.
Describe = Callable[[bytes], dict[str, Any]]


def _semantic_patterns(namespace: str) -> dict[str, str]:
    """Fixed-shape patterns of every semantic-tier key kind of ``namespace``."""
    p = escape_glob(semantic_prefix(namespace))
    return {
        "search_entries": f"{p}{SEARCH_ENTRY}:{_ANY_INDEX}:{_ANY_ENTRY}",
        "client_entries": f"{p}{CLIENT}:{_ANY_INDEX}:{CLIENT_ENTRY}:{_ANY_ENTRY}",
        "client_registries": f"{p}{CLIENT}:{_ANY_INDEX}:{CLIENT_REGISTRY}",
        "client_journals": f"{p}{CLIENT}:{_ANY_INDEX}:{CLIENT_JOURNAL}",
        "vectorset_sets": f"{p}{VECTOR_SET}:{_ANY_INDEX}:{'?' * PARTITION_HEX}",
        "vectorset_pointers": f"{p}{VECTOR_SET_POINTER}:{_ANY_INDEX}:{_ANY_ENTRY}",
        "usage": f"{p}{USAGE}:{_ANY_ENTRY}",
        # The error budget's labels: per entry, per partition, per embedder.
        **observation_patterns(namespace),
        "normalized": f"{p}{NORMALIZED}:{_ANY_ENTRY}",
    }


def _collect(into: list[str]) -> Callable[[list[Any]], RedisOperation[int]]:
    def on_batch(found: list[Any]) -> RedisOperation[int]:
        into.extend(text(key) for key in found)
        return len(found)
        yield  # a generator that needs no Redis round trip

    return on_batch


def _keys(pattern: str) -> RedisOperation[list[str]]:
    found: list[str] = []
    yield from scan_each(pattern, _collect(found))
    return found


def namespace_inventory(
    namespace: str, *, embedding_namespace: str | None = None, describe: Describe | None = None
) -> RedisOperation[dict[str, Any]]:
    """Counts of what ``namespace`` holds: exact entries by tenant and
    ``llm_string`` digest (with ``describe``: the model named by one entry of
    each), semantic entries by index kind (with RediSearch index info), usage
    records and hits they counted; and, with ``embedding_namespace``, cached
    vectors by model digest."""
    space = KeySpace(namespace)
    entries = yield from _keys(space.entry_pattern())
    by_scope: Counter[tuple[str, str]] = Counter()
    sample: dict[tuple[str, str], str] = {}
    for key in entries:
        tenant16, llm16 = key[len(space.prefix) :].split(":")[:2]
        by_scope[(tenant16, llm16)] += 1
        sample.setdefault((tenant16, llm16), key)
    models: dict[tuple[str, str], Any] = {}
    if describe is not None and sample:
        values = yield Pipeline(tuple(("GET", key) for key in sample.values()))
        for scope, raw in zip(sample, values, strict=True):
            if isinstance(raw, bytes) and raw.startswith(MAGIC):
                models[scope] = describe(raw[len(MAGIC) :]).get("model")
    lru_size = yield Call(("ZCARD", space.lru_key))
    exact = {
        "entries": len(entries),
        "by_scope": [
            {"tenant_digest": t, "llm_digest": m, "entries": n, "model": models.get((t, m))}
            for (t, m), n in sorted(by_scope.items())
        ],
        "lru_tracked": int(lru_size),
    }

    semantic: dict[str, Any] = {}
    found: dict[str, list[str]] = {}
    for kind, pattern in _semantic_patterns(namespace).items():
        found[kind] = yield from _keys(pattern)
        semantic[kind] = len(found[kind])
    semantic["vectorset_elements"] = 0
    if found["vectorset_sets"]:
        cards = yield Pipeline(tuple(("VCARD", key) for key in found["vectorset_sets"]))
        semantic["vectorset_elements"] = sum(int(raise_if_error(c)) for c in cards)
    semantic["usage_hits"] = 0
    if found["usage"]:
        hits = yield Pipeline(tuple(("HGET", key, "hits") for key in found["usage"]))
        semantic["usage_hits"] = sum(int(raise_if_error(h) or 0) for h in hits)
    semantic["search_indexes"] = yield from _search_indexes(namespace, found["search_entries"])

    report: dict[str, Any] = {"namespace": namespace, "exact": exact, "semantic": semantic}
    if embedding_namespace is not None:
        prefix = embedding_prefix(embedding_namespace)
        vectors = yield from _keys(f"{escape_glob(prefix)}{'?' * SCOPE_HEX}:{_ANY_ENTRY}")
        by_model = Counter(key[len(prefix) :].split(":")[0] for key in vectors)
        report["embeddings"] = {
            "namespace": embedding_namespace,
            "vectors": len(vectors),
            "by_model_digest": dict(sorted(by_model.items())),
        }
    return report


def _search_indexes(namespace: str, documents: list[str]) -> RedisOperation[list[dict[str, Any]]]:
    """``FT.INFO`` of each RediSearch index that has documents in ``namespace``."""
    base = semantic_prefix(namespace)
    entries = f"{base}{SEARCH_ENTRY}:"
    digests = sorted({key[len(entries) :].split(":")[0] for key in documents})
    out: list[dict[str, Any]] = []
    for digest in digests:
        name = f"{base}{SEARCH_INDEX}:{digest}"
        try:
            info = yield Call(("FT.INFO", name))
        except Exception as exc:  # the index may be gone while documents remain
            out.append({"index": name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        fields = as_map(info)
        out.append(
            {
                "index": name,
                "num_docs": int(float(text(fields.get("num_docs", 0)))),
                "vector_index_sz_mb": float(text(fields.get("vector_index_sz_mb", 0) or 0)),
                "indexing_failures": int(float(text(fields.get("hash_indexing_failures", 0)))),
            }
        )
    return out


def list_entries(
    namespace: str,
    *,
    tenant: str | None = None,
    llm_string: str | None = None,
    limit: int = 20,
    describe: Describe | None = None,
    with_text: bool = False,
) -> RedisOperation[list[dict[str, Any]]]:
    """Up to ``limit`` exact entries in scope, each with its digests, TTL, size,
    last use (with ``max_entries``), semantic usage (created, hits, last hit),
    what ``describe`` says of the stored value, and -- only with ``with_text`` --
    the question text the semantic index holds for it (user data)."""
    space = KeySpace(namespace)
    keys: list[str] = []
    cursor: Any = 0
    pattern = space.entry_pattern(tenant, llm_string)
    while len(keys) < limit:
        cursor, batch = yield Call(("SCAN", cursor, "MATCH", pattern, "COUNT", 1000))
        keys.extend(text(key) for key in batch)
        if int(cursor) == 0:
            break
    keys = sorted(keys[:limit])
    if not keys:
        return []
    usages = usage_prefix(namespace)
    commands: list[tuple[Any, ...]] = []
    for key in keys:
        entry = key.rsplit(":", 1)[-1]
        commands += [
            ("PTTL", key),
            ("GET", key),
            ("ZSCORE", space.lru_key, key),
            ("HGETALL", f"{usages}{entry}"),
        ]
    replies = yield Pipeline(tuple(commands))
    texts = (yield from _question_texts(namespace, keys)) if with_text else {}
    out: list[dict[str, Any]] = []
    for i, key in enumerate(keys):
        ttl, raw, last_use, usage = (raise_if_error(r) for r in replies[4 * i : 4 * i + 4])
        tenant16, llm16, entry = key[len(space.prefix) :].split(":")
        row: dict[str, Any] = {
            "entry": entry,
            "tenant_digest": tenant16,
            "llm_digest": llm16,
            "ttl_ms": None if ttl is None or int(ttl) < 0 else int(ttl),
            "bytes": len(raw) if isinstance(raw, bytes) else 0,
            "last_used_ms": None if last_use is None else int(float(last_use)),
        }
        usage_fields = int_map(usage)
        row["created_ms"] = usage_fields.get("created_ms")
        row["semantic_hits"] = usage_fields.get("hits")
        row["last_semantic_hit_ms"] = usage_fields.get("last_hit_ms")
        if describe is not None and isinstance(raw, bytes) and raw.startswith(MAGIC):
            row.update(describe(raw[len(MAGIC) :]))
        if with_text:
            row["question"] = texts.get(entry)
        out.append(row)
    return out


def _question_texts(namespace: str, exact_keys: list[str]) -> RedisOperation[dict[str, str]]:
    """Entry id -> the question text the semantic index stored for it."""
    wanted = {key.rsplit(":", 1)[-1] for key in exact_keys}
    patterns = _semantic_patterns(namespace)
    reads: list[tuple[str, tuple[Any, ...]]] = []
    for kind, field in (("search_entries", "q"), ("client_entries", "t")):
        for key in (yield from _keys(patterns[kind])):
            entry = key.rsplit(":", 1)[-1]
            if entry in wanted:
                reads.append((entry, ("HGET", key, field)))
    pointers = [
        key for key in (yield from _keys(patterns["vectorset_pointers"]))
        if key.rsplit(":", 1)[-1] in wanted
    ]  # fmt: skip
    if pointers:
        partitions = yield Pipeline(tuple(("GET", key) for key in pointers))
        for key, partition in zip(pointers, partitions, strict=True):
            if partition is None or isinstance(partition, Exception):
                continue
            head, entry = key.rsplit(":", 1)
            digest = head.rsplit(":", 1)[-1]
            vset = f"{semantic_prefix(namespace)}{VECTOR_SET}:{digest}:{text(partition)}"
            reads.append((entry, ("VGETATTR", vset, entry)))
    if not reads:
        return {}
    replies = yield Pipeline(tuple(command for _, command in reads))
    out: dict[str, str] = {}
    for (entry, command), reply in zip(reads, replies, strict=True):
        if reply is None or isinstance(reply, Exception):
            continue
        if command[0] == "VGETATTR":
            try:
                attrs = orjson.loads(reply)
            except orjson.JSONDecodeError:
                continue
            value = attrs.get("q") if isinstance(attrs, dict) else None
            if isinstance(value, str):
                out[entry] = value
        else:
            out[entry] = text(reply)
    return out


def clear_semantic(namespace: str) -> RedisOperation[int]:
    """Unlink every semantic-tier key of ``namespace`` (entries, vector sets,
    registries, journals, usage records; RediSearch index definitions stay and are
    empty afterwards). Processes with a ``client`` index resync from the journal."""
    removed = 0
    for pattern in _semantic_patterns(namespace).values():
        removed += yield from scan_each(pattern, unlink_batch)
    return removed
