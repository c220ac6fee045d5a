"""What the semantic tier compares and how it is configured (no Redis needed)."""

from __future__ import annotations

import logging
import math

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from redis_llm_cache import ConfigurationError
from redis_llm_cache.core.embedding.embedder import EmbedderIdentity
from redis_llm_cache.core.semantic.thresholds import (
    CONSERVATIVE_DEFAULT,
    default_threshold,
    validate_threshold,
)
from redis_llm_cache.core.semantic.tier import SemanticQuery, SemanticSettings
from redis_llm_cache.langchain.embedder import LangChainEmbedder
from redis_llm_cache.langchain.prompt import semantic_query


def test_last_human_message_is_the_question_and_the_rest_is_context() -> None:
    system = SystemMessage("You are terse.")
    prompt = dumps([system, HumanMessage("hi"), AIMessage("hello"), HumanMessage("Reset?")])
    query = semantic_query(prompt)
    assert query is not None and query.text == "Reset?"
    assert "You are terse." in query.context and "hello" in query.context
    assert "Reset?" not in query.context


def test_context_scopes() -> None:
    prompt = dumps([SystemMessage("sys"), HumanMessage("earlier"), HumanMessage("now?")])
    system_only = semantic_query(prompt, "system")
    none = semantic_query(prompt, "none")
    assert system_only is not None and "sys" in system_only.context
    assert "earlier" not in system_only.context
    assert none == SemanticQuery(text="now?", context="")
    # Same question, different earlier turns: same context only when turns are ignored.
    other = dumps([SystemMessage("sys"), HumanMessage("different"), HumanMessage("now?")])
    assert semantic_query(other, "system") == system_only
    assert semantic_query(other) != semantic_query(prompt)


def test_text_blocks_are_joined_and_other_blocks_make_it_ineligible() -> None:
    blocks = [{"type": "text", "text": "What is"}, {"type": "text", "text": "this?"}]
    query = semantic_query(dumps([HumanMessage(content=blocks)]))
    assert query is not None and query.text == "What is\nthis?"
    image = [{"type": "image_url", "image_url": {"url": "data:,"}}, {"type": "text", "text": "?"}]
    assert semantic_query(dumps([HumanMessage(content=image)])) is None


def test_tool_turns_are_not_eligible() -> None:
    prompt = dumps([HumanMessage("weather?"), ToolMessage("sunny", tool_call_id="1")])
    assert semantic_query(prompt) is None
    assert semantic_query(dumps([HumanMessage("q"), AIMessage("a")])) is None


@pytest.mark.parametrize("prompt", ["plain completion prompt", "[not json", '[{"a": 1}]', ""])
def test_plain_text_prompts_are_compared_whole(prompt: str) -> None:
    assert semantic_query(prompt) == SemanticQuery(text=prompt, context="")


@pytest.mark.parametrize("value", [1.5, -1.01, math.nan, math.inf, "0.9", True])
def test_invalid_thresholds(value: object) -> None:
    with pytest.raises(ConfigurationError):
        validate_threshold(value)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        SemanticSettings(threshold=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, 0.0, -1, 1, 0.93])
def test_valid_thresholds_including_zero(value: float) -> None:
    assert SemanticSettings(threshold=value).threshold == value


@pytest.mark.parametrize(
    "kwargs", [{"strategy": "faiss"}, {"candidates": 0}, {"dtype": "int8"}, {"max_text_chars": 0}]
)
def test_invalid_semantic_settings(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        SemanticSettings(**kwargs)  # type: ignore[arg-type]


def test_default_threshold_is_tied_to_the_model(caplog: pytest.LogCaptureFixture) -> None:
    bundled = EmbedderIdentity(provider="local", model="multilingual-e5-small", dimensions=384)
    value, calibrated = default_threshold(bundled)
    assert calibrated and 0.9 < value < 1.0
    unknown = EmbedderIdentity(provider="acme", model="mystery", dimensions=8)
    with caplog.at_level(logging.WARNING, logger="redis_llm_cache"):
        value, calibrated = default_threshold(unknown)
    assert (value, calibrated) == (CONSERVATIVE_DEFAULT, False)
    assert "no calibrated similarity threshold" in caplog.text


def test_langchain_embeddings_as_embedder() -> None:
    inner = DeterministicFakeEmbedding(size=16)
    with pytest.raises(ConfigurationError, match="embedder_model"):
        LangChainEmbedder(inner)
    embedder = LangChainEmbedder(inner, model="fake-16")
    assert embedder.identity.dimensions == 16  # learned with one probe call
    assert embedder.identity.provider == "langchain:DeterministicFakeEmbedding"
    matrix = embedder.embed(["a", "b"], role="query")
    assert matrix.shape == (2, 16)
    assert abs(float((matrix * matrix).sum(axis=1)[0]) - 1.0) < 1e-5


@pytest.mark.parametrize(
    ("strategy", "dtype", "stored"),
    [
        ("search", None, "float16"),
        ("client", None, "float16"),
        ("vectorset", None, "float32"),
        ("client", "float32", "float32"),
        ("vectorset", "float16", "float16"),
    ],
)
def test_stored_vector_type_defaults_per_strategy(
    strategy: str, dtype: str | None, stored: str
) -> None:
    from redis_llm_cache.cache import make_index

    assert SemanticSettings().dtype is None
    index = make_index(strategy, namespace="ns", model_key="m", dimensions=8, dtype=dtype)
    assert getattr(index, "dtype") == stored  # noqa: B009 - not part of the protocol
