"""GenerationCodec: every generation back, equal; bad values refused; bad bytes rejected."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.load import dumpd
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk

from redis_llm_cache import CorruptEntryError, UnsupportedValueError
from redis_llm_cache.langchain import GenerationCodec
from redis_llm_cache.langchain import codec as codec_module

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=5)


def rich_chat_generation(**message: Any) -> ChatGeneration:
    fields: dict[str, Any] = {
        "content": "It is sunny in Paris.",
        "tool_calls": [
            {"name": "get_weather", "args": {"city": "Paris", "days": [1, 2]}, "id": "call_1"}
        ],
        "usage_metadata": {
            "input_tokens": 12,
            "output_tokens": 7,
            "total_tokens": 19,
            "input_token_details": {"cache_read": 4},
        },
        "response_metadata": {"model_name": "gpt-x", "finish_reason": "tool_calls"},
        "additional_kwargs": {"refusal": None},
        "id": "lc_run-original-0",
        "name": "assistant",
    }
    fields.update(message)
    return ChatGeneration(message=AIMessage(**fields), generation_info={"finish_reason": "stop"})


def round_trip(value: list[Generation], **options: Any) -> list[Generation]:
    codec = GenerationCodec(fresh_message_ids=False, **options)
    return codec.decode(codec.encode(value), tier="exact")


def test_direct_construction_path_is_active_and_agrees() -> None:
    assert codec_module._DIRECT_CONSTRUCTION_OK


def test_every_generation_comes_back_in_order() -> None:
    value = [
        rich_chat_generation(),
        rich_chat_generation(content=[{"type": "text", "text": "block"}], tool_calls=[]),
        ChatGeneration(message=AIMessage(content="plain")),
    ]
    assert round_trip(value) == value


def test_plain_generations() -> None:
    value = [Generation(text="a", generation_info={"logprobs": None}), Generation(text="b")]
    assert round_trip(value) == value


@pytest.mark.parametrize(
    "generation",
    [
        GenerationChunk(text="chunk"),
        ChatGenerationChunk(message=AIMessageChunk(content="chunk", id="x")),
        ChatGeneration(message=HumanMessage(content="odd but valid")),
        ChatGeneration(message=AIMessage(content="extra field", custom_field=1)),
    ],
)
def test_other_generation_types_round_trip_via_allow_listed_load(generation: Generation) -> None:
    decoded = round_trip([generation])
    assert decoded == [generation]
    assert type(decoded[0]) is type(generation)


@given(text=st.text(), info=st.none() | json_objects, metadata=json_objects)
@settings(max_examples=60, deadline=None)
def test_round_trip_property(
    text: str, info: dict[str, Any] | None, metadata: dict[str, Any]
) -> None:
    value = [
        ChatGeneration(
            message=AIMessage(content=text, response_metadata=metadata), generation_info=info
        ),
        Generation(text=text, generation_info=info),
    ]
    try:
        decoded = round_trip(value)
    except UnsupportedValueError:
        # Only refusals for values JSON cannot carry faithfully are acceptable.
        pytest.skip("value not representable")
    assert decoded == value


def test_direct_and_validated_decoding_give_equal_objects() -> None:
    codec = GenerationCodec(fresh_message_ids=False)
    body = codec.encode([rich_chat_generation()])
    direct = codec.decode(body, tier="exact")
    document = orjson.loads(body)
    document["lc"] = "other-version"  # forces full pydantic validation
    validated = codec.decode(orjson.dumps(document), tier="exact")
    assert direct == validated
    assert direct[0].message.model_dump() == validated[0].message.model_dump()


@pytest.mark.parametrize(
    "info",
    [
        {"when": dt.datetime(2024, 1, 1)},
        {"pair": (1, 2)},
        {"obj": object()},
        {"members": {1, 2}},
    ],
)
def test_values_that_would_not_come_back_equal_are_refused(info: dict[Any, Any]) -> None:
    with pytest.raises(UnsupportedValueError):
        GenerationCodec().encode([Generation(text="x", generation_info=info)])


@pytest.mark.parametrize("value", [[], "text", None, [None], ["text"]])
def test_non_generation_values_are_refused(value: Any) -> None:
    with pytest.raises(UnsupportedValueError):
        GenerationCodec().encode(value)


def test_fresh_ids_on_every_hit() -> None:
    codec = GenerationCodec()
    body = codec.encode([rich_chat_generation(), rich_chat_generation()])
    first = codec.decode(body, tier="exact")
    second = codec.decode(body, tier="exact")
    ids = {g.message.id for g in first + second}  # type: ignore[attr-defined]
    assert len(ids) == 4 and "lc_run-original-0" not in ids
    # Everything but the id is the original.
    original = rich_chat_generation()
    assert first[0].message.model_copy(update={"id": original.message.id}) == original.message  # type: ignore[attr-defined]


def test_mark_hits_is_opt_in() -> None:
    plain = GenerationCodec().decode(
        GenerationCodec().encode([rich_chat_generation()]), tier="exact"
    )
    assert "cache" not in plain[0].message.response_metadata  # type: ignore[attr-defined]
    codec = GenerationCodec(mark_hits=True)
    body = codec.encode([rich_chat_generation(), Generation(text="g")])
    chat, gen = codec.decode(body, tier="exact")
    assert chat.message.response_metadata["cache"] == {"hit": True, "tier": "exact"}  # type: ignore[attr-defined]
    assert chat.message.response_metadata["model_name"] == "gpt-x"  # type: ignore[attr-defined]
    assert gen.generation_info == {"cache": {"hit": True, "tier": "exact"}}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b'{"g": []}',
        b'{"g": [{"k": "zzz"}]}',
        b'{"g": [{"k": "c", "text": "x", "info": null, "m": {"content": 5}}]}',
        b'{"lc": "' + codec_module.WRITER_VERSION.encode() + b'", "g": [{"k": "c", "text": "x",'
        b' "info": null, "m": {"content": 5, "type": "ai"}}]}',
        b'{"g": "nope"}',
        b"[1, 2, 3]",
    ],
)
def test_undecodable_bodies_are_corrupt_entries(body: bytes) -> None:
    with pytest.raises(CorruptEntryError):
        GenerationCodec().decode(body, tier="exact")


def test_truncated_bodies_are_corrupt_entries() -> None:
    body = GenerationCodec().encode([rich_chat_generation()])
    for cut in range(0, len(body) - 1, 7):
        with pytest.raises(CorruptEntryError):
            GenerationCodec().decode(body[:cut], tier="exact")


def test_payload_naming_a_class_outside_the_allow_list_is_refused() -> None:
    from langchain_core.prompts import PromptTemplate

    # A real serialized LangChain object that is not a generation or message: the
    # allow-list refuses to build it.
    foreign = dumpd(PromptTemplate.from_template("{x}"))
    body = orjson.dumps({"g": [{"k": "lc", "o": foreign}]})
    with pytest.raises(CorruptEntryError):
        GenerationCodec().decode(body, tier="exact")
    # A constructor pointing at an arbitrary importable callable is refused too.
    evil = {"lc": 1, "type": "constructor", "id": ["os", "system"], "kwargs": {"command": "true"}}
    with pytest.raises(CorruptEntryError):
        GenerationCodec().decode(orjson.dumps({"g": [{"k": "lc", "o": evil}]}), tier="exact")


def test_token_usage_is_stored_beside_the_generations() -> None:
    from redis_llm_cache.langchain.usage import generations_usage

    codec = GenerationCodec()
    value: list[Generation] = [Generation(text="x"), rich_chat_generation()]
    body = codec.encode(value)
    assert orjson.loads(body)["u"] == ["gpt-x", 12, 7, 4]
    decoded, usage = codec.decode_hit(body, tier="exact")
    assert usage == generations_usage(value) == ("gpt-x", 12, 7, 4)
    assert [g.text for g in decoded] == [g.text for g in value]
    # No usage on the answer: stored as null, read back as unknown.
    plain = codec.encode([Generation(text="plain")])
    assert orjson.loads(plain)["u"] is None
    assert codec.decode_hit(plain, tier="exact")[1] is None


def test_usage_of_an_entry_written_without_it_is_read_from_the_generations() -> None:
    codec = GenerationCodec()
    document = orjson.loads(codec.encode([rich_chat_generation()]))
    del document["u"]  # the format before the usage was stored beside the value
    decoded, usage = codec.decode_hit(orjson.dumps(document), tier="exact")
    assert usage == ("gpt-x", 12, 7, 4)
    assert decoded[0].message.usage_metadata["input_tokens"] == 12  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "stored",
    [
        "gpt-x 12 7 4",
        ["gpt-x", 12, 7],
        ["gpt-x", 12, 7, 4, 0],
        [None, 12, 7, 4],
        ["gpt-x", "12", 7, 4],
        ["gpt-x", 12, -7, 4],
        ["gpt-x", 12, 7, 13],  # more cached than the prompt it is part of
        ["gpt-x", 12, 7, 4.0],
        {"model": "gpt-x"},
    ],
)
def test_a_stored_usage_of_another_shape_counts_as_unknown(stored: Any) -> None:
    codec = GenerationCodec()
    document = orjson.loads(codec.encode([rich_chat_generation()]))
    document["u"] = stored
    decoded, usage = codec.decode_hit(orjson.dumps(document), tier="exact")
    assert usage is None
    assert decoded[0].text == "It is sunny in Paris."  # the answer itself is still served


def test_allow_listed_loader_builds_what_langchain_load_builds() -> None:
    from langchain_core.load import load

    value = ChatGenerationChunk(
        message=AIMessageChunk(content="chunk", response_metadata={"model_name": "m"}, id="c-1"),
        generation_info={"escaped": {"lc": 1, "type": "constructor", "id": ["os", "system"]}},
    )
    serialized = dumpd(value)
    built = codec_module._load_allowed(serialized)
    assert built == load(serialized, allowed_objects=codec_module.ALLOWED_CLASSES) == value
    # The loader is built once and keeps refusing what the allow-list leaves out.
    human = dumpd(ChatGeneration(message=HumanMessage(content="hi")))
    assert codec_module._load_allowed(human).message.content == "hi"
    from langchain_core.prompts import PromptTemplate

    with pytest.raises(ValueError):
        codec_module._load_allowed(dumpd(PromptTemplate.from_template("{x}")))
