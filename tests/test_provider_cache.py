"""Provider-side prompt-cache accounting and tokens saved by our hits, with real
LangChain chat models (GenericFakeChatModel) returning the usage fields each
provider's integration puts on its messages, and RedisLLMCache on real Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.language_models import LLM
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import Generation, LLMResult

from redis_llm_cache.core.stats import CacheStats
from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.langchain.callbacks import ProviderCacheCallback


def model_answering(*messages: AIMessage, **kwargs: Any) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter(messages), **kwargs)


OPENAI_NORMALIZED = AIMessage(
    content="Paris.",
    usage_metadata={
        "input_tokens": 1200,
        "output_tokens": 3,
        "total_tokens": 1203,
        "input_token_details": {"cache_read": 1024},
    },
    response_metadata={"model_name": "gpt-4o-mini"},
)
OPENAI_RAW = AIMessage(
    content="Paris.",
    response_metadata={
        "model_name": "gpt-4o-mini",
        "token_usage": {"prompt_tokens": 1500, "prompt_tokens_details": {"cached_tokens": 1280}},
    },
)
DEEPSEEK = AIMessage(
    content="Paris.",
    usage_metadata={"input_tokens": 900, "output_tokens": 3, "total_tokens": 903},
    response_metadata={
        "model_name": "deepseek-chat",
        "token_usage": {
            "prompt_tokens": 900,
            "prompt_cache_hit_tokens": 640,
            "prompt_cache_miss_tokens": 260,
        },
    },
)
ANTHROPIC_RAW = AIMessage(
    content="Paris.",
    response_metadata={
        "model": "claude-sonnet-4-5",
        "usage": {
            "input_tokens": 20,
            "cache_read_input_tokens": 2048,
            "cache_creation_input_tokens": 100,
            "output_tokens": 5,
        },
    },
)


@pytest.mark.parametrize(
    ("message", "model", "prompt", "read", "created"),
    [
        (OPENAI_NORMALIZED, "gpt-4o-mini", 1200, 1024, 0),
        (OPENAI_RAW, "gpt-4o-mini", 1500, 1280, 0),
        (DEEPSEEK, "deepseek-chat", 900, 640, 0),
        (ANTHROPIC_RAW, "claude-sonnet-4-5", 2168, 2048, 100),
    ],
    ids=["openai-usage_metadata", "openai-token_usage", "deepseek", "anthropic"],
)
def test_each_provider_field_is_counted(
    message: AIMessage, model: str, prompt: int, read: int, created: int
) -> None:
    callback = ProviderCacheCallback()
    chat = model_answering(message, callbacks=[callback])
    assert chat.invoke("What is the capital of France?").content == "Paris."
    stats = callback.stats()
    assert stats["responses"] == 1
    assert stats["by_model"][model] == {
        "responses": 1,
        "input_tokens": prompt,
        "cache_read_tokens": read,
        "cache_creation_tokens": created,
    }


async def test_async_calls_are_counted() -> None:
    callback = ProviderCacheCallback()
    chat = model_answering(OPENAI_NORMALIZED, DEEPSEEK, callbacks=[callback])
    await chat.ainvoke("first")
    await chat.ainvoke("second")
    stats = callback.stats()
    assert (stats["responses"], stats["cache_read_tokens"]) == (2, 1024 + 640)


class CompletionModel(LLM):
    """A completion (non-chat) model reporting OpenAI-style raw usage in llm_output."""

    @property
    def _llm_type(self) -> str:
        return "completion-test"

    def _call(self, prompt: str, stop: list[str] | None = None, **kwargs: Any) -> str:
        return "done"

    def _generate(self, prompts: list[str], *args: Any, **kwargs: Any) -> LLMResult:
        return LLMResult(
            generations=[[Generation(text="done")] for _ in prompts],
            llm_output={
                "model_name": "gpt-3.5-turbo-instruct",
                "token_usage": {
                    "prompt_tokens": 300,
                    "prompt_tokens_details": {"cached_tokens": 256},
                },
            },
        )


def test_completion_models_are_counted_once_per_call(
    make_cache: Callable[..., RedisLLMCache],
) -> None:
    cache = make_cache()
    callback = ProviderCacheCallback(cache)
    model = CompletionModel(cache=cache, callbacks=[callback])
    model.generate(["first prompt", "second prompt"])
    model.invoke("first prompt")  # served by our cache: no provider call
    stats = cache.stats()
    assert stats["provider_cache"]["by_model"]["gpt-3.5-turbo-instruct"] == {
        "responses": 1,
        "input_tokens": 300,
        "cache_read_tokens": 256,
        "cache_creation_tokens": 0,
    }
    assert stats["hits_exact"] == 1


def test_a_response_without_usage_records_nothing() -> None:
    callback = ProviderCacheCallback()
    model_answering(AIMessage(content="hi"), callbacks=[callback]).invoke("hello")
    assert callback.stats()["responses"] == 0


def test_callback_rejects_what_is_not_a_cache() -> None:
    with pytest.raises(TypeError, match="RedisLLMCache or ResponseCache"):
        ProviderCacheCallback(object())


def test_our_hits_save_tokens_and_are_not_provider_cache_reads(
    make_cache: Callable[..., RedisLLMCache],
) -> None:
    cache = make_cache()
    callback = ProviderCacheCallback(cache)
    chat = model_answering(OPENAI_NORMALIZED, cache=cache, callbacks=[callback])
    first = chat.invoke("What is the capital of France?")
    second = chat.invoke("What is the capital of France?")  # served by our cache
    assert first.content == second.content == "Paris."
    stats = cache.stats()
    assert stats["hits_exact"] == 1
    # The provider saw one call only: the hit is not counted as a provider response.
    assert stats["provider_cache"]["responses"] == 1
    assert stats["provider_cache"]["cache_read_tokens"] == 1024
    # The hit saved the whole stored answer's tokens.
    assert stats["tokens_saved"]["by_model"] == {
        "gpt-4o-mini": {"hits": 1, "input": 1200, "output": 3}
    }
    assert stats["tokens_saved"]["by_tier"]["exact"]["input"] == 1200


def test_hit_without_usage_counts_as_unknown_model(
    make_cache: Callable[..., RedisLLMCache],
) -> None:
    cache = make_cache()
    chat = model_answering(AIMessage(content="plain"), cache=cache)
    chat.invoke("q")
    chat.invoke("q")
    assert cache.stats()["tokens_saved"]["by_model"] == {
        "unknown": {"hits": 1, "input": 0, "output": 0}
    }


def test_stats_reset_clears_the_new_sections() -> None:
    stats = CacheStats()
    stats.record_lookup(0.002, "exact")
    stats.reset()
    snapshot = stats.snapshot()
    assert snapshot["tokens_saved"]["by_model"] == {}
    assert snapshot["lookup_seconds_histogram"]["by_outcome"] == {}
