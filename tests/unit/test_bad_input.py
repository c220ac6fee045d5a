"""Bad input: each case has the outcome the README's table documents, and nothing
else in the cache is disturbed (a neighbouring entry stays intact, no error is
counted unless the table says so)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation

from redis_llm_cache.embedders import LocalEmbedder
from redis_llm_cache.langchain import RedisLLMCache

LLM = "model=fake;temperature=0"
ANSWER = [Generation(text="the answer")]
NEIGHBOUR = ("a neighbouring question", [Generation(text="its answer")])

PROMPTS = {
    "empty": "",
    "huge-10MB": "ask me " * (10 * 1024 * 1024 // 7),
    "lone-surrogate": "what is \ud800 this?",
    "control-characters": "line one\x00\x07\x1b[31m red \x1b[0m\ttab\r\nline two\x7f",
}


class MyGeneration(Generation):
    """A generation type the cache does not know."""

    extra: str = "x"


@pytest.fixture
def cache(
    redis_servers: dict[str, str], namespace: str, embedder: LocalEmbedder
) -> Iterator[RedisLLMCache]:
    # Exact and semantic tiers: bad input must not hurt either.
    built = RedisLLMCache(
        redis_url=redis_servers["plain"],
        namespace=namespace,
        embedder=embedder,
        semantic_strategy="client",
        timeout=5.0,
        connect_timeout=5.0,
    )
    built.update(*NEIGHBOUR[:1], LLM, NEIGHBOUR[1])
    yield built
    assert built.lookup(NEIGHBOUR[0], LLM) == NEIGHBOUR[1], "a neighbouring entry was disturbed"
    built.clear()
    built.close()


@pytest.mark.parametrize("name", list(PROMPTS))
def test_odd_prompts_are_cached(cache: RedisLLMCache, name: str) -> None:
    prompt = PROMPTS[name]
    assert cache.lookup(prompt, LLM) is None
    cache.update(prompt, LLM, ANSWER)
    assert cache.lookup(prompt, LLM) == ANSWER
    stats = cache.stats()
    assert stats["errors"] == 0, stats[
        "errors_by_kind"
    ]  # the semantic tier skips what it can't embed
    assert stats["skipped_writes"] == 0


def test_prompts_that_differ_only_in_invalid_code_points_never_share_an_entry(
    cache: RedisLLMCache,
) -> None:
    cache.update("a\ud800b", LLM, ANSWER)
    for other in ("a\ud801b", "a\ufffdb", "a?b", "ab", "a\\ud800b"):
        assert cache.core.exact.key(other, LLM) != cache.core.exact.key("a\ud800b", LLM)
        assert cache.lookup(other, LLM) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ([Generation(text="y" * (9 * 1024 * 1024))], "too_large"),
        ([Generation(text="half a pair \udc80")], "unsupported_value"),
        ([ChatGeneration(message=AIMessage("lone \ud83d surrogate"))], "unsupported_value"),
        ([MyGeneration(text="z")], "unsupported_value"),
        (["not a generation"], "unsupported_value"),
        ([], "unsupported_value"),
    ],
    ids=["giant-9MB", "surrogate-text", "surrogate-message", "unknown-type", "not-a-generation",
         "no-generations"],
)  # fmt: skip
def test_values_that_cannot_be_stored_faithfully_are_skipped_with_a_reason(
    cache: RedisLLMCache, value: Any, reason: str
) -> None:
    cache.update("q", LLM, value)
    assert cache.lookup("q", LLM) is None
    stats = cache.stats()
    assert stats["skipped_by_reason"] == {reason: 1}
    assert stats["errors"] == 0


def test_several_generations_come_back_in_order(cache: RedisLLMCache) -> None:
    value = [
        ChatGeneration(message=AIMessage(f"choice {i}"), generation_info={"index": i})
        for i in range(5)
    ]
    cache.update("q", LLM, value)
    found = cache.lookup("q", LLM)
    assert found is not None
    assert [g.message.content for g in found] == [f"choice {i}" for i in range(5)]  # type: ignore[attr-defined]
    assert [g.generation_info for g in found] == [{"index": i} for i in range(5)]


def test_a_giant_answer_reaches_the_app_and_is_not_cached(
    cache: RedisLLMCache,
) -> None:
    giant = "z" * (9 * 1024 * 1024)

    class Model(GenericFakeChatModel):
        calls: int = 0

        def _generate(self, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            self.messages = iter([AIMessage(giant)])
            return super()._generate(*args, **kwargs)

    model = Model(messages=iter([]), cache=cache)
    assert model.invoke("q").content == giant
    assert model.invoke("q").content == giant
    assert model.calls == 2
    assert cache.stats()["skipped_by_reason"] == {"too_large": 2}


def test_non_text_arguments_are_counted_not_raised(cache: RedisLLMCache) -> None:
    bad: Callable[..., Any] = cache.lookup
    assert bad(b"bytes prompt", LLM) is None
    assert cache.stats()["errors_by_kind"] == {"internal:TypeError": 1}
