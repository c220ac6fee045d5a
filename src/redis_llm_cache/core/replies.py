"""Redis replies as the core reads them, and what a server error means.

Every reply shape the core parses is decoded here: redis-py hands over RESP2
replies as flat ``[name, value, ...]`` lists and RESP3 replies as dicts, with
``bytes`` (``decode_responses=False``) or ``str`` values, and some of its
versions parse a command's reply while others pass it through raw. Keeping the
parsers together keeps those differences in one place.

Errors are classified here too -- by message and class name, since the core
does not import the Redis client -- including the wording of server versions
that differ ("no such index" vs "Unknown Index name").
"""

from __future__ import annotations

from typing import Any

StreamId = tuple[int, int]

# -- scalars and pipelines ------------------------------------------------------------


def text(value: Any) -> str:
    """A reply value as ``str`` (replies are ``bytes`` with ``decode_responses=False``)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def raise_if_error(reply: Any) -> Any:
    """A pipeline reply, or the error the server answered in its place, raised
    (pipelines run with ``raise_on_error=False``: one failed command does not hide
    the replies of the others)."""
    if isinstance(reply, Exception):
        raise reply
    return reply


# -- maps -----------------------------------------------------------------------------


def as_map(value: Any) -> dict[str, Any]:
    """A RESP3 map or a RESP2 flat ``[name, value, ...]`` list as a ``str``-keyed
    dict (values left as they are; a trailing odd item is ignored)."""
    if isinstance(value, dict):
        return {text(k): v for k, v in value.items()}
    items = list(value or [])
    return {text(k): v for k, v in zip(items[0::2], items[1::2], strict=False)}


def field(fields: Any, name: bytes) -> Any:
    """The value of field ``name`` in a dict (``bytes`` or ``str`` keys) or a flat
    ``[field, value, ...]`` list; ``None`` when absent."""
    if isinstance(fields, dict):
        return fields.get(name, fields.get(name.decode()))
    items = list(fields or ())
    for i in range(0, len(items) - 1, 2):
        if items[i] in (name, name.decode()):
            return items[i + 1]
    return None


def int_map(reply: Any) -> dict[str, int]:
    """An ``HGETALL`` reply of integer values as a ``str``-keyed dict."""
    return {name: int(value) for name, value in as_map(reply).items()}


# -- sorted sets ----------------------------------------------------------------------


def scored_members(reply: Any) -> list[tuple[Any, Any]]:
    """``(member, score)`` pairs of a ``ZPOPMIN``/``ZSCAN``/``... WITHSCORES`` reply.
    redis-py parses such replies into pairs (RESP3 sends them paired, too), but
    some of its versions pass the raw flat ``[member, score, ...]`` list through
    ``execute_command`` (``ZPOPMIN`` in redis-py 5.0, ``ZSCAN`` items in RESP2)."""
    items = list(reply or ())
    if items and not isinstance(items[0], (tuple, list)):
        return list(zip(items[0::2], items[1::2], strict=True))
    return [(pair[0], pair[1]) for pair in items]


def popped_members(reply: Any) -> list[Any]:
    """Members of a ``ZPOPMIN`` reply, flat or paired (see :func:`scored_members`):
    taking every item of a flat reply would evict scores as keys."""
    return [member for member, _ in scored_members(reply)]


# -- streams --------------------------------------------------------------------------


def parse_stream_id(raw: Any) -> StreamId:
    """``b"1700000000000-3"`` -> ``(1700000000000, 3)`` (a bare ``ms`` has seq 0)."""
    ms, _, seq = text(raw).partition("-")
    return int(ms), int(seq or 0)


def format_stream_id(sid: StreamId) -> str:
    return f"{sid[0]}-{sid[1]}"


def stream_entries(reply: Any, *names: bytes) -> list[tuple[StreamId, tuple[Any, ...]]]:
    """``XRANGE`` reply -> ``(id, (value of each of names, or None))``. redis-py
    parses it into ``(id, dict)`` pairs; a raw reply is ``[id, [field, value, ...]]``;
    a deleted entry may come back as ``None`` and is skipped."""
    out = []
    for item in reply or ():
        if item is None:
            continue
        raw_id, fields = item[0], item[1]
        out.append((parse_stream_id(raw_id), tuple(field(fields, n) for n in names)))
    return out


# -- RediSearch -----------------------------------------------------------------------


def search_total(reply: Any) -> int:
    """``total_results`` of an ``FT.SEARCH`` reply, RESP2 or RESP3."""
    if isinstance(reply, dict):
        total: Any = reply.get(b"total_results", reply.get("total_results", 0))
        return int(total)
    return int(next(iter(reply))) if reply else 0


def search_documents(reply: Any) -> list[tuple[str, dict[str, str]]]:
    """``(doc id, {field: value})`` of an ``FT.SEARCH`` reply, RESP2 or RESP3."""
    docs: list[tuple[str, dict[str, str]]] = []
    if isinstance(reply, dict):  # RESP3
        for result in reply.get(b"results", reply.get("results")) or []:
            attrs = result.get(b"extra_attributes", result.get("extra_attributes")) or {}
            doc_id = result.get(b"id", result.get("id"))
            docs.append((text(doc_id), {text(f): text(v) for f, v in attrs.items()}))
        return docs
    # RESP2: [total, id, [f, v, f, v ...], id, [...], ...]
    items = list(reply)[1:]
    for doc_id, flat in zip(items[0::2], items[1::2], strict=False):
        pairs = list(flat or [])
        fields = {text(f): text(v) for f, v in zip(pairs[0::2], pairs[1::2], strict=False)}
        docs.append((text(doc_id), fields))
    return docs


def index_prefixes(info: Any) -> list[str]:
    """The ``PREFIX`` values of an ``FT.INFO`` reply (RESP2 or RESP3)."""
    definition = as_map(as_map(info).get("index_definition"))
    return [text(p) for p in definition.get("prefixes") or []]


def index_attributes(info: Any) -> dict[str, dict[str, Any]]:
    """The schema of an ``FT.INFO`` reply: ``identifier -> {property: value}``."""
    attributes = {}
    for raw in as_map(info)["attributes"]:
        attribute = as_map(raw)
        attributes[text(attribute["identifier"])] = attribute
    return attributes


# -- vector sets ----------------------------------------------------------------------


def vsim_rows(reply: Any, *, with_attributes: bool) -> list[tuple[str, float, Any]]:
    """``(element, score, attributes | None)`` of a ``VSIM ... WITHSCORES
    [WITHATTRIBS]`` reply: a map in RESP3 (``element -> score`` or
    ``element -> [score, attributes]``), a flat list in RESP2."""
    rows: list[tuple[str, float, Any]] = []
    if isinstance(reply, dict):
        for name, value in reply.items():
            if with_attributes:
                score, attrs = value
            else:
                score, attrs = value, None
            rows.append((text(name), float(score), attrs))
        return rows
    items = list(reply or [])
    step = 3 if with_attributes else 2
    for i in range(0, len(items) - step + 1, step):
        attrs = items[i + 2] if with_attributes else None
        rows.append((text(items[i]), float(items[i + 1]), attrs))
    return rows


# -- server errors --------------------------------------------------------------------

# The servers' wording, lower-cased substrings. RediSearch 2.10 says "Index already
# exists" / "<name>: no such index"; older versions said "Unknown Index name" /
# "Unknown index name".
INDEX_EXISTS = ("index already exists",)
NO_SUCH_INDEX = ("no such index", "unknown index name")
#: A key of another Redis type ("WRONGTYPE Operation against a key holding the
#: wrong kind of value").
WRONG_TYPE = ("wrongtype",)
#: A vector set key of another type, or of vectors of another dimension or
#: quantization than ours ("Vector dimension mismatch - got 384 but set has 3",
#: "asked quantization mismatch with existing vector set").
FOREIGN_VECTOR_SET = (*WRONG_TYPE, "dimension mismatch", "quantization mismatch")
#: VSIM without the WITHATTRIBS option (Redis 8.0/8.1).
NO_WITHATTRIBS = ("syntax error", "withattribs", "unknown option")
#: A command the server does not have ("unknown command 'FT._LIST'", and
#: "ERR unknown command" of older servers).
UNKNOWN_COMMAND = ("unknown command",)


def error_says(exc: BaseException, wordings: tuple[str, ...]) -> bool:
    """Whether the message of ``exc`` contains one of ``wordings`` (lower-case)."""
    message = str(exc).lower()
    return any(w in message for w in wordings)


def is_no_such_index(exc: BaseException) -> bool:
    return error_says(exc, NO_SUCH_INDEX)


def is_index_exists(exc: BaseException) -> bool:
    return error_says(exc, INDEX_EXISTS)


def is_wrong_type(exc: BaseException) -> bool:
    return error_says(exc, WRONG_TYPE)


def is_unknown_command(exc: BaseException) -> bool:
    return error_says(exc, UNKNOWN_COMMAND)


def _class_names(exc: BaseException) -> set[str]:
    return {c.__name__ for c in type(exc).__mro__}


def answered_by_server(exc: BaseException) -> bool:
    """A reply error from a reachable server (redis-py's ``ResponseError`` family;
    by class name: the core does not import the client)."""
    return "ResponseError" in _class_names(exc)


def unreachable(exc: BaseException) -> bool:
    """A connection failure or timeout (by class name): the server did not answer,
    so asking it anything more would only cost another timeout."""
    return not _class_names(exc).isdisjoint(("ConnectionError", "TimeoutError"))


def timed_out(exc: BaseException) -> bool:
    """A timeout (by class name): the server may be slow, or the reply too large."""
    return "TimeoutError" in _class_names(exc)
