"""Reply parsers and error classification of ``core.replies`` over the shapes
redis-py hands over: RESP2 flat lists, RESP3 maps, ``bytes`` and ``str``."""

from __future__ import annotations

from typing import Any

import pytest

from redis_llm_cache.core import replies


class ResponseError(Exception):
    """Named like redis-py's: the core classifies by class name."""


class ConnectionError(Exception):
    pass


class TimeoutError(ConnectionError):
    pass


class NoScriptError(ResponseError):
    pass


WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def test_text_decodes_bytes_and_keeps_undecodable_bytes() -> None:
    assert replies.text(b"abc") == "abc"
    assert replies.text("abc") == "abc"
    assert replies.text(12) == "12"
    assert replies.text(b"\xff").encode("utf-8", "surrogateescape") == b"\xff"


def test_raise_if_error_raises_an_error_reply_and_passes_others() -> None:
    error = ResponseError("OOM command not allowed")
    with pytest.raises(ResponseError, match="OOM"):
        replies.raise_if_error(error)
    assert replies.raise_if_error(b"v") == b"v"
    assert replies.raise_if_error(None) is None


@pytest.mark.parametrize(
    "reply",
    [
        [b"a", b"1", b"b", b"2"],  # RESP2, bytes
        ["a", "1", "b", "2"],  # RESP2, decode_responses=True
        {b"a": b"1", b"b": b"2"},  # RESP3
        {"a": "1", "b": "2"},
    ],
)
def test_as_map_and_field_read_both_map_shapes(reply: Any) -> None:
    mapped = replies.as_map(reply)
    assert {k: replies.text(v) for k, v in mapped.items()} == {"a": "1", "b": "2"}
    assert replies.text(replies.field(reply, b"b")) == "2"
    assert replies.field(reply, b"missing") is None


def test_as_map_of_nothing_and_of_an_odd_list() -> None:
    assert replies.as_map(None) == {}
    assert replies.as_map([b"a", 1, b"dangling"]) == {"a": 1}


def test_int_map_of_hgetall_in_both_protocols() -> None:
    expected = {"created_ms": 5, "hits": 2}
    assert replies.int_map([b"created_ms", b"5", b"hits", b"2"]) == expected
    assert replies.int_map({b"created_ms": b"5", b"hits": b"2"}) == expected
    assert replies.int_map([]) == {}


def test_zpopmin_flat_reply_of_redis_py_5_yields_members_only() -> None:
    # redis-py 5.0 passes ZPOPMIN through execute_command unparsed.
    assert replies.popped_members([b"k1", b"1700.0", b"k2", b"1800.0"]) == [b"k1", b"k2"]


def test_zpopmin_paired_reply_of_redis_py_8_yields_members_only() -> None:
    assert replies.popped_members([[b"k1", 1700.0], [b"k2", 1800.0]]) == [b"k1", b"k2"]
    assert replies.popped_members([(b"k1", 1700.0)]) == [b"k1"]
    assert replies.popped_members([]) == []
    assert replies.popped_members(None) == []


def test_scored_members_pairs_flat_and_paired_replies_alike() -> None:
    flat = [b"a", b"1", b"b", b"2"]
    paired = [(b"a", 1.0), (b"b", 2.0)]
    assert replies.scored_members(flat) == [(b"a", b"1"), (b"b", b"2")]
    assert replies.scored_members(paired) == paired


def test_stream_ids_round_trip() -> None:
    assert replies.parse_stream_id(b"1700000000000-3") == (1700000000000, 3)
    assert replies.parse_stream_id("17") == (17, 0)
    assert replies.format_stream_id((1700000000000, 3)) == "1700000000000-3"


@pytest.mark.parametrize(
    "reply",
    [
        # redis-py parses XRANGE into (id, dict); RESP3 alike.
        [(b"1-0", {b"o": b"a", b"i": b"e1"}), (b"2-5", {b"o": b"m"})],
        # Raw RESP2: [id, [field, value, ...]].
        [[b"1-0", [b"o", b"a", b"i", b"e1"]], [b"2-5", [b"o", b"m"]]],
        # A deleted entry in the middle comes back as None.
        [[b"1-0", [b"o", b"a", b"i", b"e1"]], None, [b"2-5", [b"o", b"m"]]],
    ],
)
def test_stream_entries_of_every_shape(reply: Any) -> None:
    assert replies.stream_entries(reply, b"o", b"i") == [
        ((1, 0), (b"a", b"e1")),
        ((2, 5), (b"m", None)),
    ]


def test_journal_events_read_the_stream_fields() -> None:
    from redis_llm_cache.core.index.client.journal import journal_events

    reply = [[b"1-0", [b"o", b"a", b"i", b"e1 e2"]], [b"2-0", [b"o", b"m"]]]
    assert journal_events(reply) == [((1, 0), "a", "e1 e2"), ((2, 0), "m", "")]
    assert journal_events(None) == []


FT_SEARCH_RESP2 = [
    2,
    b"p:d1",
    [b"dist", b"0.1", b"k", b"key1"],
    b"p:d2",
    [b"dist", b"0.25", b"k", b"key2"],
]
FT_SEARCH_RESP3 = {
    b"total_results": 2,
    b"results": [
        {b"id": b"p:d1", b"extra_attributes": {b"dist": b"0.1", b"k": b"key1"}},
        {b"id": b"p:d2", b"extra_attributes": {b"dist": b"0.25", b"k": b"key2"}},
    ],
}


@pytest.mark.parametrize("reply", [FT_SEARCH_RESP2, FT_SEARCH_RESP3])
def test_ft_search_reply_in_both_protocols(reply: Any) -> None:
    assert replies.search_total(reply) == 2
    assert replies.search_documents(reply) == [
        ("p:d1", {"dist": "0.1", "k": "key1"}),
        ("p:d2", {"dist": "0.25", "k": "key2"}),
    ]


def test_ft_search_count_only_replies() -> None:
    assert replies.search_total([7]) == 7
    assert replies.search_total({"total_results": 7, "results": []}) == 7
    assert replies.search_documents([0]) == []
    assert replies.search_documents({b"total_results": 0, b"results": []}) == []


FT_INFO_RESP2 = [
    b"index_name",
    b"idx",
    b"index_definition",
    [b"key_type", b"HASH", b"prefixes", [b"app:", b"llm"], b"default_score", b"1"],
    b"attributes",
    [
        [b"identifier", b"p", b"attribute", b"p", b"type", b"TAG"],
        [b"identifier", b"v", b"attribute", b"v", b"type", b"VECTOR", b"dim", 3],
    ],
    b"num_docs",
    b"4",
]
FT_INFO_RESP3 = {
    b"index_name": b"idx",
    b"index_definition": {b"key_type": b"HASH", b"prefixes": [b"app:", b"llm"]},
    b"attributes": [
        {b"identifier": b"p", b"attribute": b"p", b"type": b"TAG"},
        {b"identifier": b"v", b"attribute": b"v", b"type": b"VECTOR", b"dim": 3},
    ],
    b"num_docs": b"4",
}


@pytest.mark.parametrize("info", [FT_INFO_RESP2, FT_INFO_RESP3])
def test_ft_info_reply_in_both_protocols(info: Any) -> None:
    assert replies.index_prefixes(info) == ["app:", "llm"]
    attributes = replies.index_attributes(info)
    assert sorted(attributes) == ["p", "v"]
    assert replies.text(attributes["v"]["type"]) == "VECTOR"
    assert int(attributes["v"]["dim"]) == 3
    assert replies.text(replies.as_map(info)["num_docs"]) == "4"


def test_ft_info_of_an_index_without_prefixes() -> None:
    assert replies.index_prefixes([b"index_definition", [b"key_type", b"HASH"]]) == []
    assert replies.index_prefixes({}) == []


@pytest.mark.parametrize(
    ("reply", "with_attributes", "expected"),
    [
        ([b"e1", b"0.9", b"e2", b"0.8"], False, [("e1", 0.9, None), ("e2", 0.8, None)]),
        ({b"e1": 0.9, b"e2": 0.8}, False, [("e1", 0.9, None), ("e2", 0.8, None)]),
        (
            [b"e1", b"0.9", b'{"k":1}', b"e2", b"0.8", None],
            True,
            [("e1", 0.9, b'{"k":1}'), ("e2", 0.8, None)],
        ),
        (
            {b"e1": [0.9, b'{"k":1}'], b"e2": [0.8, None]},
            True,
            [("e1", 0.9, b'{"k":1}'), ("e2", 0.8, None)],
        ),
        ([], True, []),
    ],
)
def test_vsim_reply_in_both_protocols(
    reply: Any, with_attributes: bool, expected: list[tuple[str, float, Any]]
) -> None:
    assert replies.vsim_rows(reply, with_attributes=with_attributes) == expected


@pytest.mark.parametrize(
    ("message", "check"),
    [
        ("idx: no such index", replies.is_no_such_index),
        ("Unknown Index name", replies.is_no_such_index),
        ("Unknown index name", replies.is_no_such_index),
        ("Index already exists", replies.is_index_exists),
        (WRONGTYPE, replies.is_wrong_type),
        ("ERR unknown command 'FT._LIST', with args beginning with: ", replies.is_unknown_command),
        ("unknown command `VADD`, with args beginning with:", replies.is_unknown_command),
    ],
)
def test_server_wording_of_each_error_kind(message: str, check: Any) -> None:
    assert check(ResponseError(message))
    assert not check(ResponseError("ERR syntax error"))


def test_vector_set_wordings() -> None:
    for message in (
        WRONGTYPE,
        "ERR Vector dimension mismatch - got 384 but set has 3",
        "ERR asked quantization mismatch with existing vector set",
    ):
        assert replies.error_says(ResponseError(message), replies.FOREIGN_VECTOR_SET)
    assert replies.error_says(ResponseError("ERR syntax error"), replies.NO_WITHATTRIBS)
    assert not replies.error_says(ResponseError("OOM"), replies.FOREIGN_VECTOR_SET)


def test_answered_by_server_versus_unreachable() -> None:
    for answered in (ResponseError("OOM"), NoScriptError("NOSCRIPT No matching script")):
        assert replies.answered_by_server(answered)
        assert not replies.unreachable(answered)
    for failed in (ConnectionError("refused"), TimeoutError("timed out")):
        assert replies.unreachable(failed)
        assert not replies.answered_by_server(failed)
    assert not replies.answered_by_server(ValueError("ours"))
    assert not replies.unreachable(ValueError("ours"))
