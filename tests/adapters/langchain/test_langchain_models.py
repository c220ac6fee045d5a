"""Real LangChain chat models (LangChain's fake chat models) through the cache."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.globals import get_llm_cache, set_llm_cache
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage

from redis_llm_cache.langchain import RedisLLMCache


class CountingChatModel(GenericFakeChatModel):
    """GenericFakeChatModel that counts how often the "LLM" really ran."""

    calls: int = 0

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return super()._generate(*args, **kwargs)


def answer_with_tools() -> AIMessage:
    return AIMessage(
        content="Let me check.",
        tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}],
        usage_metadata={"input_tokens": 11, "output_tokens": 5, "total_tokens": 16},
        response_metadata={"model_name": "fake", "finish_reason": "tool_calls"},
    )


def model(*answers: BaseMessage, **kwargs: Any) -> CountingChatModel:
    return CountingChatModel(messages=iter(answers), **kwargs)


@pytest.fixture
def global_cache(make_cache: Callable[..., RedisLLMCache]) -> Iterator[RedisLLMCache]:
    previous = get_llm_cache()
    cache = make_cache()
    set_llm_cache(cache)
    yield cache
    set_llm_cache(previous)


def without_ids(message: BaseMessage) -> dict[str, Any]:
    dumped = message.model_dump()
    dumped.pop("id")
    return dumped


def test_set_llm_cache_miss_then_hit_with_tool_calls(global_cache: RedisLLMCache) -> None:
    chat = model(answer_with_tools())
    first = chat.invoke("What's the weather in Paris?")
    second = chat.invoke("What's the weather in Paris?")
    assert chat.calls == 1
    assert second.tool_calls == first.tool_calls == answer_with_tools().tool_calls
    # LangChain zeroes the cost of a hit in usage_metadata; everything else is equal.
    assert second.usage_metadata == {**first.usage_metadata, "total_cost": 0}  # type: ignore[typeddict-unknown-key]
    second_fields, first_fields = without_ids(second), without_ids(first)
    second_fields.pop("usage_metadata"), first_fields.pop("usage_metadata")
    assert second_fields == first_fields
    assert second.id != first.id
    stats = global_cache.stats()
    assert (stats["hits"], stats["misses"], stats["writes"]) == (1, 1, 1)


def test_repeated_hits_get_distinct_message_ids(global_cache: RedisLLMCache) -> None:
    chat = model(AIMessage(content="hello"))
    ids = {chat.invoke("hi").id for _ in range(4)}
    assert len(ids) == 4 and chat.calls == 1


async def test_async_invoke_uses_native_async_cache(global_cache: RedisLLMCache) -> None:
    chat = model(answer_with_tools())
    first = await chat.ainvoke("weather?")
    second = await chat.ainvoke("weather?")
    assert chat.calls == 1 and second.tool_calls == first.tool_calls
    assert global_cache.stats()["hits"] == 1
    await global_cache.aclose()


def test_per_model_cache_argument(make_cache: Callable[..., RedisLLMCache]) -> None:
    cache = make_cache(mark_hits=True)
    assert get_llm_cache() is None
    chat = model(AIMessage(content="one"), AIMessage(content="two"), cache=cache)
    assert chat.invoke("q").content == "one"
    hit = chat.invoke("q")
    assert hit.content == "one" and hit.response_metadata["cache"] == {"hit": True, "tier": "exact"}
    uncached = model(
        AIMessage(content="fresh"), AIMessage(content="fresher")
    )  # no cache anywhere: always runs
    uncached.invoke("q"), uncached.invoke("q")
    assert chat.calls == 1 and uncached.calls == 2


def test_different_model_settings_do_not_share_answers(
    make_cache: Callable[..., RedisLLMCache],
) -> None:
    cache = make_cache()
    cold = model(AIMessage(content="cold"), cache=cache)
    cold.invoke("q")
    other = model(AIMessage(content="other"), cache=cache)
    # Different call settings (here: stop words) give a different llm_string,
    # which is a different partition.
    assert other._get_llm_string(stop=["END"]) != cold._get_llm_string()
    assert other.invoke("q", stop=["END"]).content == "other"
    assert other.calls == 1


def test_text_llm_with_several_generations(make_cache: Callable[..., RedisLLMCache]) -> None:
    cache = make_cache()
    llm = FakeListLLM(responses=["first", "second"], cache=cache)
    result = llm.generate(["a", "b"])
    again = llm.generate(["a", "b"])
    assert [g[0].text for g in again.generations] == [g[0].text for g in result.generations]
    assert cache.stats()["hits"] == 2
