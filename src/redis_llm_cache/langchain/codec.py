"""LangChain generations <-> JSON bytes: faithful, safe, and fast on hits.

Stored body (JSON)::

    {"lc": "<langchain-core>/<pydantic>", "g": [item, ...], "u": usage}

``g``: every generation, in order; ``u``: the answer's token usage,
``[model, input, output, input_cached]`` (or ``null``), computed when it is written so
a hit's savings are counted without reading the decoded messages (entries written
before ``u`` existed have their usage read from the generations instead)

with one item per generation:

* ``{"k": "g", "text", "info"}`` -- a plain ``Generation``;
* ``{"k": "c", "text", "info", "m": {AIMessage fields}}`` -- a ``ChatGeneration``
  holding a plain ``AIMessage`` (tool calls, usage and response metadata included);
* ``{"k": "lc", "o": dumpd(generation)}`` -- anything else (chunks, other message
  types, messages with extra fields), read back with ``langchain_core.load`` limited
  to an allow-list of generation and message classes. Never pickle, never ``eval``.

**Faithful**: ``encode`` decodes what it produced and compares it with the input;
a value that would come back different (a tuple turned list, a ``datetime`` turned
string, an object LangChain cannot serialize) raises ``UnsupportedValueError`` and
is not stored.

**Fast**: building an ``AIMessage`` through pydantic validation costs ~18 us, more
than a Redis round trip's worth of budget. Entries written by the same
langchain-core and pydantic versions were validated when they were created, so
decoding them checks the shape of every field (types, not values) and then sets the
fields directly, as pydantic's ``model_construct`` does. Entries from other
versions, or failing the shape check, go through full validation. An import-time
self-check compares both paths and disables the direct path if they ever disagree.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Callable, Sequence
from typing import Any

import langchain_core
import orjson
import pydantic
from langchain_core import messages
from langchain_core.load import dumpd, load
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk

from ..core.stats import TokenUsage
from ..errors import CorruptEntryError, UnsupportedValueError
from .usage import generations_usage

#: Entries written under exactly these versions may use the direct-construction path.
WRITER_VERSION = f"{langchain_core.__version__}/{pydantic.VERSION}"

#: The only classes ``langchain_core.load`` may build from a stored entry.
ALLOWED_CLASSES = (
    Generation,
    GenerationChunk,
    ChatGeneration,
    ChatGenerationChunk,
    messages.AIMessage,
    messages.AIMessageChunk,
    messages.HumanMessage,
    messages.HumanMessageChunk,
    messages.SystemMessage,
    messages.SystemMessageChunk,
    messages.ToolMessage,
    messages.ToolMessageChunk,
    messages.ChatMessage,
    messages.ChatMessageChunk,
    messages.FunctionMessage,
    messages.FunctionMessageChunk,
)

_AI_FIELDS = frozenset(AIMessage.model_fields)
_GENERATION_FIELDS = frozenset(("text", "generation_info", "type"))
_CHAT_GENERATION_FIELDS = frozenset(("text", "generation_info", "type", "message"))
_CHAT_GENERATION_TYPE = ChatGeneration.model_fields["type"].default
_GENERATION_TYPE = Generation.model_fields["type"].default


class _FreshIds:
    """Unique message ids, cheaply: a random per-process token and a counter
    (``uuid4()`` costs more than the rest of a hit's decoding). The token is
    renewed in forked children so two processes never share it."""

    def __init__(self) -> None:
        self._renew()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._renew)

    def _renew(self) -> None:
        self._prefix = f"lc_cache-{secrets.token_hex(12)}-"
        self._counter = itertools.count()

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter)}"


new_message_id = _FreshIds()


def _slot_setters(cls: type[Any]) -> tuple[Callable[[Any, Any], None], ...]:
    """Setters of the four attributes every pydantic model instance holds: the
    ``__set__`` of the descriptor ``object.__setattr__`` would find, looked up once
    per class (calling it directly skips the lookup by name on every hit, about
    half the cost of building a model). A name no class defines falls back to
    ``object.__setattr__``; the import-time self-check below covers the result."""

    def setter(name: str) -> Callable[[Any, Any], None]:
        for klass in cls.__mro__:
            descriptor = klass.__dict__.get(name)
            if hasattr(descriptor, "__set__"):
                return descriptor.__set__  # type: ignore[no-any-return,union-attr]
        return lambda obj, value: object.__setattr__(obj, name, value)

    names = ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
    return tuple(setter(name) for name in names)


def _builder(
    cls: type[Any], field_names: frozenset[str]
) -> Callable[[dict[str, Any], dict[str, Any] | None], Any]:
    """A function building a ``cls`` from already-valid values of all of
    ``field_names`` (and the extra fields, or ``None``), skipping validation: what
    ``BaseModel.model_construct`` does, without its per-field default handling
    (every field is present) and with the slot setters looked up once."""
    set_dict, set_fields_set, set_extra, set_private = _slot_setters(cls)
    new = object.__new__

    def build(fields: dict[str, Any], extra: dict[str, Any] | None) -> Any:
        obj = new(cls)
        set_dict(obj, fields)
        # Each model gets its own set: pydantic adds to it when a field is assigned.
        set_fields_set(obj, set(field_names))
        set_extra(obj, extra)
        set_private(obj, None)
        return obj

    return build


_build_ai_message = _builder(AIMessage, _AI_FIELDS)
_build_chat_generation = _builder(ChatGeneration, _CHAT_GENERATION_FIELDS)
_build_generation = _builder(Generation, _GENERATION_FIELDS)


_STR_OR_NONE = (str, type(None))
_DICT_OR_NONE = (dict, type(None))


def _ai_message_shape_ok(m: Any) -> bool:
    """Types (not values) of every AIMessage field, as validation would produce them.

    Written for speed (it runs on every hit): flat checks, no helper calls.
    """
    if type(m) is not dict or m.keys() != _AI_FIELDS or m["type"] != "ai":
        return False
    content = m["content"]
    if type(content) is not str and (
        type(content) is not list
        or not all(type(block) is str or type(block) is dict for block in content)
    ):
        return False
    tool_calls, invalid_tool_calls = m["tool_calls"], m["invalid_tool_calls"]
    if not (
        type(m["additional_kwargs"]) is dict
        and type(m["response_metadata"]) is dict
        and type(m["name"]) in _STR_OR_NONE
        and type(m["id"]) in _STR_OR_NONE
        and type(m["usage_metadata"]) in _DICT_OR_NONE
        and type(tool_calls) is list
        and type(invalid_tool_calls) is list
    ):
        return False
    for call in tool_calls:
        if not (
            type(call) is dict
            and type(call.get("name")) is str
            and type(call.get("args")) is dict
            and type(call.get("id")) in _STR_OR_NONE
        ):
            return False
    for call in invalid_tool_calls:  # usually none: a loop, not all() over a generator
        if not (type(call) is dict and type(call.get("id")) in _STR_OR_NONE):
            return False
    return True


class GenerationCodec:
    """Encodes ``list[Generation]`` for the exact tier.

    Args:
        fresh_message_ids: Give every message returned by a hit a new unique id, so
            repeated hits in one conversation (e.g. a LangGraph thread, whose
            ``add_messages`` merges by id) never collide with earlier answers.
        mark_hits: Add ``{"cache": {"hit": True, "tier": ...}}`` to each hit's
            ``response_metadata`` (``generation_info`` for plain generations).
    """

    def __init__(self, *, fresh_message_ids: bool = True, mark_hits: bool = False) -> None:
        self.fresh_message_ids = fresh_message_ids
        self.mark_hits = mark_hits

    # -- encode ---------------------------------------------------------------------------

    def encode(self, generations: Sequence[Generation]) -> bytes:
        if isinstance(generations, (str, bytes)) or not isinstance(generations, Sequence):
            raise UnsupportedValueError(
                f"expected a list of Generation, got {type(generations).__name__}"
            )
        if not generations:
            raise UnsupportedValueError("an empty list of generations is not a cacheable answer")
        items = []
        for generation in generations:
            if not isinstance(generation, Generation):
                raise UnsupportedValueError(
                    f"expected Generation objects, got {type(generation).__name__}"
                )
            items.append(self._encode_one(generation))
        usage = generations_usage(generations)
        try:
            body = orjson.dumps({"lc": WRITER_VERSION, "g": items, "u": usage})
        except TypeError as exc:
            raise UnsupportedValueError(f"value is not JSON-serializable: {exc}") from exc
        try:
            round_trip = self.decode(body, tier=None)
        except CorruptEntryError as exc:
            raise UnsupportedValueError(f"value does not survive a round trip: {exc}") from exc
        if round_trip != list(generations):
            raise UnsupportedValueError(
                "value would not come back equal (e.g. tuples, datetimes or custom "
                "objects in metadata); not cached"
            )
        return body

    @staticmethod
    def _encode_one(generation: Generation) -> dict[str, Any]:
        kind = type(generation)
        if kind is Generation:
            return {"k": "g", "text": generation.text, "info": generation.generation_info}
        if kind is ChatGeneration:
            message = generation.message  # type: ignore[attr-defined]
            if type(message) is AIMessage:
                item = {"k": "c", "info": generation.generation_info, "m": message.__dict__}
                if generation.text != message.content:
                    # Usually the text *is* the string content; storing it once halves
                    # the JSON parsed on every hit.
                    item["text"] = generation.text
                if message.__pydantic_extra__:  # fields beyond the model's (extra="allow")
                    item["x"] = message.__pydantic_extra__
                return item
        return {"k": "lc", "o": dumpd(generation)}

    # -- decode ---------------------------------------------------------------------------

    def decode(
        self, body: bytes, *, tier: str | None, details: dict[str, Any] | None = None
    ) -> list[Generation]:
        """``tier=None``: decode as stored (no fresh ids, no marks), for round trips."""
        return self.decode_hit(body, tier=tier, details=details)[0]

    def decode_hit(
        self, body: bytes, *, tier: str | None, details: dict[str, Any] | None = None
    ) -> tuple[list[Generation], TokenUsage | None]:
        """:meth:`decode`, with the token usage stored beside the generations (what
        the hit saved); it is read from the generations only for entries written
        before the usage was stored with them."""
        try:
            document = orjson.loads(body)
            items = document["g"]
            if type(items) is not list or not items:
                raise CorruptEntryError("no generations in entry")
            trusted = _DIRECT_CONSTRUCTION_OK and document.get("lc") == WRITER_VERSION
            mark = None
            if tier is not None and self.mark_hits:
                mark = {"hit": True, "tier": tier, **(details or {})}
            fresh_id = tier is not None and self.fresh_message_ids
            if len(items) == 1:  # the usual answer: no list comprehension (a frame) for it
                generations = [self._decode_one(items[0], trusted, fresh_id, mark)]
            else:
                decode_one = self._decode_one
                generations = [decode_one(item, trusted, fresh_id, mark) for item in items]
            stored_usage = document.get("u", _NOT_STORED)
        except CorruptEntryError:
            raise
        except Exception as exc:  # any shape problem in stored data is corruption
            raise CorruptEntryError(f"undecodable entry: {type(exc).__name__}: {exc}") from exc
        if stored_usage is None:  # stored as unknown (a plain Generation's usual case)
            return generations, None
        if stored_usage is _NOT_STORED:
            return generations, generations_usage(generations)
        return generations, _checked_usage(stored_usage)

    @staticmethod
    def _decode_one(
        item: dict[str, Any], trusted: bool, fresh_id: bool, mark: dict[str, Any] | None
    ) -> Generation:
        kind = item["k"]
        if kind == "c":
            fields = item["m"]
            if fresh_id:
                fields["id"] = new_message_id()
            if mark is not None:
                fields["response_metadata"] = {**fields["response_metadata"], "cache": dict(mark)}
            text = item["text"] if "text" in item else fields["content"]
            info, extra = item["info"], item.get("x")
            if (
                trusted
                and _ai_message_shape_ok(fields)
                and type(text) is str
                and (info is None or type(info) is dict)
                and (extra is None or type(extra) is dict)
            ):
                return _build_chat_generation(  # type: ignore[no-any-return]
                    {
                        "text": text,
                        "generation_info": info,
                        "type": _CHAT_GENERATION_TYPE,
                        "message": _build_ai_message(fields, extra),
                    },
                    None,
                )
            message = AIMessage.model_validate({**fields, **(extra or {})})
            return ChatGeneration(message=message, generation_info=info)
        if kind == "g":
            text, info = item["text"], item["info"]
            if mark is not None:
                info = {**(info or {}), "cache": dict(mark)}
            if trusted and type(text) is str and (info is None or type(info) is dict):
                return _build_generation(  # type: ignore[no-any-return]
                    {"text": text, "generation_info": info, "type": _GENERATION_TYPE}, None
                )
            return Generation(text=text, generation_info=info)
        if kind == "lc":
            generation = _load_allowed(item["o"])
            if not isinstance(generation, Generation):
                raise CorruptEntryError(f"entry holds a {type(generation).__name__}")
            return _finish_loaded(generation, fresh_id, mark)
        raise CorruptEntryError(f"unknown item kind {kind!r}")


#: ``decode_hit``: the entry predates storing the usage beside the generations.
_NOT_STORED: Any = object()


def _checked_usage(stored: Any) -> TokenUsage | None:
    """The usage ``encode`` stored, ``[model, input, output, input_cached]``; it
    comes from Redis, so anything else counts as unknown (``None``)."""
    if type(stored) is list and len(stored) == 4:
        model, tokens_in, tokens_out, cached_in = stored
        if (
            type(model) is str
            and type(tokens_in) is int
            and type(tokens_out) is int
            and type(cached_in) is int
            and tokens_out >= 0
            and 0 <= cached_in <= tokens_in
        ):
            return model, tokens_in, tokens_out, cached_in
    return None


def _allowed_loader() -> Callable[[Any], Any]:
    """``langchain_core.load.load`` limited to :data:`ALLOWED_CLASSES`, with its
    allow-list computed once: ``load`` builds a ``Reviver`` per call, and turning the
    classes into allowed class paths (a scan of every serializable mapping per class)
    costs ~0.4 ms, most of a ``load``. The walk below is ``load``'s own; if this
    langchain-core lacks the helpers it uses, ``load`` itself is used."""
    try:
        from langchain_core.load._validation import _is_escaped_dict, _unescape_value
        from langchain_core.load.load import _MAX_DEPTH, Reviver
    except ImportError:  # another langchain-core layout: the public function, slower
        return lambda obj: load(obj, allowed_objects=ALLOWED_CLASSES)

    reviver = Reviver(ALLOWED_CLASSES)

    def walk(obj: Any, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise ValueError(f"Cannot load object nested more than {_MAX_DEPTH} levels deep.")
        if isinstance(obj, dict):
            if _is_escaped_dict(obj):  # user data shaped like a serialized object
                return _unescape_value(obj)
            return reviver({key: walk(value, depth + 1) for key, value in obj.items()})
        if isinstance(obj, list):
            return [walk(item, depth + 1) for item in obj]
        return obj

    return walk


_load_allowed = _allowed_loader()


def _finish_loaded(
    generation: Generation, fresh_id: bool, mark: dict[str, Any] | None
) -> Generation:
    """Fresh id / hit mark for a generation read through ``langchain_core.load``."""
    message = getattr(generation, "message", None)
    if message is not None:
        update: dict[str, Any] = {}
        if fresh_id:
            update["id"] = new_message_id()
        if mark is not None:
            update["response_metadata"] = {**message.response_metadata, "cache": mark}
        if update:
            generation.message = message.model_copy(update=update)  # type: ignore[attr-defined]
    elif mark is not None:
        generation.generation_info = {**(generation.generation_info or {}), "cache": mark}
    return generation


def _direct_construction_agrees() -> bool:
    """Does direct construction give the same objects as validation, here and now?"""
    sample = ChatGeneration(
        message=AIMessage(
            content="ok",
            tool_calls=[{"name": "f", "args": {"x": 1}, "id": "call_1"}],
            usage_metadata={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
            response_metadata={"model_name": "m"},
            id="id-1",
        ),
        generation_info={"finish_reason": "stop"},
    )
    fields = dict(sample.message.__dict__)
    direct = _build_chat_generation(
        {
            "text": sample.text,
            "generation_info": sample.generation_info,
            "type": _CHAT_GENERATION_TYPE,
            "message": _build_ai_message(fields, None),
        },
        None,
    )
    plain = Generation(text="ok", generation_info={"a": 1})
    direct_plain = _build_generation(
        {"text": "ok", "generation_info": {"a": 1}, "type": _GENERATION_TYPE}, None
    )
    return bool(
        _ai_message_shape_ok(fields)
        and direct == sample
        and direct.message.model_dump() == sample.message.model_dump()
        and direct.text == sample.text
        and direct_plain == plain
        and direct_plain.model_dump() == plain.model_dump()
    )


_DIRECT_CONSTRUCTION_OK = _direct_construction_agrees()
