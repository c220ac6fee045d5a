"""Keys: injective, versioned, free of prompt text; clear patterns cannot widen."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from redis_llm_cache.core.keys import KEY_VERSION, KeySpace, encode_parts, escape_glob

text = st.text(max_size=40)  # includes lone surrogates, glob and delimiter characters


@given(st.lists(text, max_size=5), st.lists(text, max_size=5))
def test_encode_parts_is_injective(a: list[str], b: list[str]) -> None:
    if a != b:
        assert encode_parts(*a) != encode_parts(*b)


@given(st.tuples(text, text, text, text), st.tuples(text, text, text, text))
def test_entry_keys_of_different_inputs_differ(
    a: tuple[str, str, str, str], b: tuple[str, str, str, str]
) -> None:
    namespace_a, *rest_a = a
    namespace_b, *rest_b = b
    if a != b:
        key_a = KeySpace(namespace_a or "n").entry_key(*rest_a)
        key_b = KeySpace(namespace_b or "n").entry_key(*rest_b)
        if (namespace_a or "n", *rest_a) != (namespace_b or "n", *rest_b):
            assert key_a != key_b


@given(text, text, text, text)
def test_tenant_bound_keys_equal_the_generic_keys(
    ns: str, tenant: str, llm: str, prompt: str
) -> None:
    space = KeySpace(ns or "n")
    assert space.for_tenant(tenant).entry_key(llm, prompt) == space.entry_key(tenant, llm, prompt)


def test_delimiter_shifts_do_not_collide() -> None:
    space = KeySpace("ns")
    assert space.entry_key("t", "ab", "c") != space.entry_key("t", "a", "bc")
    assert space.entry_key("", "tab", "c") != space.entry_key("t", "ab", "c")


def test_key_is_versioned_and_holds_no_prompt_text() -> None:
    key = KeySpace("ns").entry_key("tenant-x", "llm", "my secret prompt")
    assert key.startswith(f"ns:llm:{KEY_VERSION}:")
    assert "secret" not in key and "tenant-x" not in key
    assert re.fullmatch(r"ns:llm:v1:[0-9a-f]{16}:[0-9a-f]{16}:[0-9a-f]{64}", key)


def _glob_matches(pattern: str, key: str) -> bool:
    # Redis MATCH semantics for the subset we emit: \x escapes, ? any one char.
    translated = "".join(
        re.escape(part[1]) if part.startswith("\\") else ("." if part == "?" else re.escape(part))
        for part in re.findall(r"\\.|.", pattern, flags=re.S)
    )
    return re.fullmatch(translated, key, flags=re.S) is not None


@given(text.filter(bool), text.filter(bool), text, text)
def test_namespace_pattern_matches_only_its_own_keys(ns: str, other: str, t: str, p: str) -> None:
    own = KeySpace(ns)
    assert _glob_matches(own.entry_pattern(), own.entry_key(t, "llm", p))
    if other != ns:
        assert not _glob_matches(own.entry_pattern(), KeySpace(other).entry_key(t, "llm", p))


def test_scoped_patterns() -> None:
    space = KeySpace("ns")
    key = space.entry_key("acme", "model-a", "hi")
    assert _glob_matches(space.entry_pattern(tenant="acme"), key)
    assert not _glob_matches(space.entry_pattern(tenant="other"), key)
    assert _glob_matches(space.entry_pattern(llm_string="model-a"), key)
    assert not _glob_matches(space.entry_pattern(llm_string="model-b"), key)


def test_escape_glob() -> None:
    assert escape_glob("a*b?c[d]e\\") == "a\\*b\\?c\\[d\\]e\\\\"


def test_memoized_keys_stay_bounded_and_correct() -> None:
    space = KeySpace("ns")
    keys = space.for_tenant("t")
    for i in range(keys.MEMO_MAX_ENTRIES * 2 + 5):
        assert keys.entry_key("llm", f"p{i}") == space.entry_key("t", "llm", f"p{i}")
        assert len(keys._memo) <= keys.MEMO_MAX_ENTRIES
    long_prompt = "x" * (keys.MEMO_MAX_CHARS + 1)
    assert keys.entry_key("llm", long_prompt) == space.entry_key("t", "llm", long_prompt)
    assert ("llm", long_prompt) not in keys._memo
