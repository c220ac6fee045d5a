"""Provider-side prompt-cache accounting and tokens saved by our hits, with real
LangChain chat models (GenericFakeChatModel) returning the usage fields each
provider's integration puts on its messages, and RedisLLMCache on real Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
import redis
from langchain_core.language_models import LLM
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.outputs import (
    ChatGeneration,
    ChatGenerationChunk,
    Generation,
    LLMResult,
)

from redis_llm_cache.core.codec import frame, unframe
from redis_llm_cache.core.stats import CacheStats
from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.langchain.callbacks import ProviderCacheCallback
from redis_llm_cache.langchain.usage import generations_usage


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
    # The hit saved the whole stored answer's tokens, 1024 of whose prompt tokens
    # the provider had served from its cache (billed at its cached rate).
    assert stats["tokens_saved"]["by_model"] == {
        "gpt-4o-mini": {"hits": 1, "input": 1200, "output": 3, "input_cached": 1024}
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
        "unknown": {"hits": 1, "input": 0, "output": 0, "input_cached": 0}
    }


def test_stats_reset_clears_the_new_sections() -> None:
    stats = CacheStats()
    stats.record_lookup(0.002, "exact")
    stats.reset()
    snapshot = stats.snapshot()
    assert snapshot["tokens_saved"]["by_model"] == {}
    assert snapshot["lookup_seconds_histogram"]["by_outcome"] == {}


def test_lookups_of_several_models_and_tiers_add_up() -> None:
    stats = CacheStats()
    stats.record_lookup(0.0003, "exact", ("gpt-4o-mini", 100, 10, 0))
    stats.record_lookup(0.0007, "exact", ("gpt-4o-mini", 100, 10, 64))
    stats.record_lookup(0.003, "exact", ("claude-sonnet-4-5", 50, 5, 40))
    stats.record_lookup(0.02, "semantic", ("gpt-4o-mini", 100, 10, 0))
    stats.record_lookup(0.0004, "exact", None)
    stats.record_lookup(0.0002, None)
    stats.record_lookup(3.0, None)
    snapshot = stats.snapshot()
    assert (snapshot["hits"], snapshot["hits_exact"], snapshot["hits_semantic"]) == (5, 4, 1)
    assert snapshot["misses"] == 2
    assert snapshot["hit_rate"] == pytest.approx(5 / 7)
    assert snapshot["lookup_ms"]["count"] == 7
    histogram = snapshot["lookup_seconds_histogram"]
    assert histogram["le"][:2] == [0.0005, 0.001]
    by_outcome = histogram["by_outcome"]
    # Buckets per outcome, merged over the models that hit (last bucket: above 2.5 s).
    assert by_outcome["exact"]["buckets"] == [2, 1, 0, 1] + [0] * 9
    assert by_outcome["exact"]["sum"] == pytest.approx(0.0003 + 0.0007 + 0.003 + 0.0004)
    assert by_outcome["semantic"]["buckets"] == [0] * 5 + [1] + [0] * 7
    assert by_outcome["miss"]["buckets"] == [1] + [0] * 11 + [1]
    assert by_outcome["miss"]["sum"] == pytest.approx(3.0002)
    saved = snapshot["tokens_saved"]
    assert saved["by_model"] == {
        "gpt-4o-mini": {"hits": 3, "input": 300, "output": 30, "input_cached": 64},
        "claude-sonnet-4-5": {"hits": 1, "input": 50, "output": 5, "input_cached": 40},
        "unknown": {"hits": 1, "input": 0, "output": 0, "input_cached": 0},
    }
    assert saved["by_tier"] == {
        "exact": {"hits": 4, "input": 250, "output": 25, "input_cached": 104},
        "semantic": {"hits": 1, "input": 100, "output": 10, "input_cached": 0},
    }
    assert (saved["input"], saved["output"], saved["input_cached"]) == (350, 35, 104)


USAGE = {"input_tokens": 7, "output_tokens": 2, "total_tokens": 9}


def chat(message: AIMessage | HumanMessage) -> ChatGeneration:
    return ChatGeneration(message=message)


@pytest.mark.parametrize(
    ("generations", "expected"),
    [
        ([Generation(text="plain")], None),
        ([chat(AIMessage(content="no usage"))], None),
        ([chat(HumanMessage(content="not an AI message"))], None),
        ([chat(OPENAI_NORMALIZED)], ("gpt-4o-mini", 1200, 3, 1024)),
        # DeepSeek's integration leaves its cache hits in the raw usage only.
        (
            [Generation(text="x"), chat(DEEPSEEK), chat(OPENAI_NORMALIZED)],
            ("deepseek-chat", 900, 3, 640),
        ),
        (
            [chat(AIMessage(content="a", usage_metadata=USAGE, response_metadata={"model": "m"}))],
            ("m", 7, 2, 0),
        ),
        ([chat(AIMessage(content="a", usage_metadata=USAGE))], ("unknown", 7, 2, 0)),
        (
            [ChatGenerationChunk(message=AIMessageChunk(content="a", usage_metadata=USAGE))],
            ("unknown", 7, 2, 0),
        ),
        # Not validated (built without pydantic): odd counts are not counts, and a
        # cached count can never exceed the prompt it is part of.
        (
            [chat(AIMessage.model_construct(content="a", usage_metadata={"input_tokens": True}))],
            ("unknown", 0, 0, 0),
        ),
        (
            [
                chat(
                    AIMessage.model_construct(
                        content="a",
                        usage_metadata={
                            "input_tokens": 10,
                            "input_token_details": {"cache_read": 99},
                        },
                    )
                )
            ],
            ("unknown", 10, 0, 10),
        ),
        ([chat(AIMessage.model_construct(content="a", usage_metadata=["no"]))], None),
    ],
)
def test_generations_usage_reads_the_first_answer_with_usage(
    generations: list[Generation], expected: tuple[str, int, int, int] | None
) -> None:
    assert generations_usage(generations) == expected


def test_hit_on_an_entry_stored_without_usage_still_counts_its_tokens(
    make_cache: Callable[..., RedisLLMCache], redis_client: redis.Redis
) -> None:
    """Entries written before the usage was stored beside the value: the hit reads
    it from the decoded message instead."""
    cache = make_cache()
    chat = model_answering(OPENAI_NORMALIZED, cache=cache)
    chat.invoke("What is the capital of France?")
    (key,) = redis_client.scan_iter(cache.core.exact.keys.entry_pattern())
    document = orjson.loads(unframe(redis_client.get(key)))  # type: ignore[arg-type]
    assert document.pop("u") == ["gpt-4o-mini", 1200, 3, 1024]
    redis_client.set(key, frame(orjson.dumps(document)), keepttl=True)
    assert chat.invoke("What is the capital of France?").content == "Paris."
    assert cache.stats()["tokens_saved"]["by_model"] == {
        "gpt-4o-mini": {"hits": 1, "input": 1200, "output": 3, "input_cached": 1024}
    }
