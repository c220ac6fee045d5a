"""``stream()`` / ``astream()`` through the LLM cache (``CachedStreamingChatModel``),
on LangChain's own fake streaming chat model and real Redis servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.globals import get_llm_cache, set_llm_cache
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk, Generation
from langchain_core.utils.function_calling import convert_to_openai_tool

from redis_llm_cache.embedders import LocalEmbedder
from redis_llm_cache.langchain import CachedStreamingChatModel, RedisLLMCache
from redis_llm_cache.langchain.streaming import replay_chunks, split_for_replay
from redis_llm_cache.redis.embedded import EmbeddedRedis

QUESTION = "How do I reset my password?"
ANSWER = (
    "Open Settings, choose Security, then Reset password. We email you a link that is "
    "valid for one hour."
)
USAGE = {"input_tokens": 12, "output_tokens": 21, "total_tokens": 33}


class StreamingModel(GenericFakeChatModel):
    """LangChain's fake chat model, streaming word by word; like hosted models it
    ends a stream with a chunk carrying usage and the finish reason. Counts the
    times the "LLM" really ran; ``fail_after`` chunks, it raises mid-stream."""

    calls: int = 0
    fail_after: int | None = None

    def _stream(self, messages: Any, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for number, chunk in enumerate(super()._stream(messages, *args, **kwargs)):
            if self.fail_after is not None and number >= self.fail_after:
                raise RuntimeError("connection to the model lost")
            chunk.message.chunk_position = None
            yield chunk
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=USAGE,  # type: ignore[arg-type]
                response_metadata={"finish_reason": "stop", "model_name": "fake-1"},
                chunk_position="last",
            )
        )

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1  # GenericFakeChatModel streams what _generate answers
        return super()._generate(*args, **kwargs)


def streaming_model(*answers: str | AIMessage, **kwargs: Any) -> StreamingModel:
    return StreamingModel(messages=iter(answers), **kwargs)


@pytest.fixture
def global_cache(make_cache: Callable[..., RedisLLMCache]) -> Iterator[RedisLLMCache]:
    previous = get_llm_cache()
    cache = make_cache(mark_hits=True)
    set_llm_cache(cache)
    yield cache
    set_llm_cache(previous)


def total(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    return merged


def test_langchain_alone_streams_past_the_cache(global_cache: RedisLLMCache) -> None:
    # Why the wrapper exists: BaseChatModel.stream neither looks up nor stores.
    chat = streaming_model(ANSWER, ANSWER)
    assert "".join(str(c.content) for c in chat.stream(QUESTION)) == ANSWER
    assert "".join(str(c.content) for c in chat.stream(QUESTION)) == ANSWER
    assert chat.calls == 2
    assert global_cache.stats()["hits"] == 0
    assert global_cache.stats()["writes"] == 0


def test_miss_streams_from_the_model_then_a_hit_is_replayed(
    global_cache: RedisLLMCache,
) -> None:
    inner = streaming_model(ANSWER)
    chat = CachedStreamingChatModel(model=inner, replay_chunk_chars=16)

    first = list(chat.stream(QUESTION))
    assert inner.calls == 1
    assert "".join(str(c.content) for c in first) == ANSWER
    assert global_cache.stats()["writes"] == 1

    second = list(chat.stream(QUESTION))
    assert inner.calls == 1  # served from Redis
    assert len(second) > 3
    assert all(len(str(c.content)) <= 16 for c in second)
    replayed = total(second)
    assert replayed.content == ANSWER
    assert replayed.usage_metadata == USAGE
    assert replayed.response_metadata["finish_reason"] == "stop"
    assert replayed.response_metadata["cache"]["tier"] == "exact"
    # A fresh id per stream, the same id on every chunk of one stream.
    assert len({c.id for c in second}) == 1
    assert second[0].id != first[0].id
    assert second[0].id is not None and second[0].id.startswith("lc_run-")


def test_invoke_and_stream_share_entries(global_cache: RedisLLMCache) -> None:
    with_tools = AIMessage(
        content="Let me check.",
        tool_calls=[{"name": "get_weather", "args": {"city": "巴黎"}, "id": "call_1"}],
        usage_metadata=USAGE,  # type: ignore[arg-type]
        response_metadata={"finish_reason": "tool_calls"},
    )
    inner = streaming_model(with_tools, ANSWER)
    chat = CachedStreamingChatModel(model=inner)

    invoked = chat.invoke("Weather in Paris?")  # the wrapped model's own cached path
    streamed = total(list(chat.stream("Weather in Paris?")))
    assert inner.calls == 1
    assert streamed.content == invoked.content == "Let me check."
    assert streamed.tool_calls == with_tools.tool_calls
    assert streamed.usage_metadata == USAGE

    assert "".join(str(c.content) for c in chat.stream(QUESTION)) == ANSWER
    assert inner.calls == 2
    again = inner.invoke(QUESTION)  # the plain model hits what the stream stored
    assert inner.calls == 2
    assert again.content == ANSWER
    assert again.usage_metadata is not None
    assert again.usage_metadata["total_tokens"] == USAGE["total_tokens"]


def test_a_failing_stream_stores_nothing(global_cache: RedisLLMCache) -> None:
    inner = streaming_model(ANSWER, ANSWER, fail_after=3)
    chat = CachedStreamingChatModel(model=inner)
    received: list[AIMessageChunk] = []
    with pytest.raises(RuntimeError, match="connection to the model lost"):
        for chunk in chat.stream(QUESTION):
            received.append(chunk)
    assert len(received) == 3
    assert global_cache.stats()["writes"] == 0
    inner.fail_after = None
    assert "".join(str(c.content) for c in chat.stream(QUESTION)) == ANSWER
    assert inner.calls == 2  # nothing partial was served
    assert global_cache.stats()["writes"] == 1


def test_an_abandoned_stream_stores_nothing(global_cache: RedisLLMCache) -> None:
    inner = streaming_model(ANSWER, ANSWER)
    chat = CachedStreamingChatModel(model=inner)
    stream = chat.stream(QUESTION)
    next(stream)
    next(stream)
    stream.close()  # the reader went away
    assert global_cache.stats()["writes"] == 0
    full = list(chat.stream(QUESTION))
    assert inner.calls == 2
    assert "".join(str(c.content) for c in full) == ANSWER


async def test_async_miss_hit_and_interruptions(global_cache: RedisLLMCache) -> None:
    inner = streaming_model(ANSWER, ANSWER, ANSWER, fail_after=2)
    chat = CachedStreamingChatModel(model=inner)

    with pytest.raises(RuntimeError):
        async for _chunk in chat.astream(QUESTION):
            pass
    inner.fail_after = None
    abandoned = chat.astream(QUESTION)
    await abandoned.__anext__()
    await abandoned.aclose()
    assert global_cache.stats()["writes"] == 0

    first = [chunk async for chunk in chat.astream(QUESTION)]
    assert total(first).content == ANSWER
    assert global_cache.stats()["writes"] == 1
    assert inner.calls == 3

    second = [chunk async for chunk in chat.astream(QUESTION)]
    assert inner.calls == 3
    replayed = total(second)
    assert replayed.content == ANSWER
    assert replayed.usage_metadata == USAGE
    assert replayed.response_metadata["cache"]["tier"] == "exact"
    assert second[0].id != first[0].id
    await global_cache.aclose()


def test_paraphrase_is_replayed_from_the_semantic_tier(
    make_cache: Callable[..., RedisLLMCache],
) -> None:
    cache = make_cache(embedder=LocalEmbedder(), mark_hits=True)
    chat = CachedStreamingChatModel(
        model=streaming_model(ANSWER, "(the router answer)", cache=cache)
    )
    list(chat.stream(QUESTION))
    replayed = total(list(chat.stream("How can I reset my password?")))
    assert replayed.content == ANSWER
    assert replayed.response_metadata["cache"]["tier"] == "semantic"
    near_miss = total(list(chat.stream("How do I reset my router?")))
    assert near_miss.content == "(the router answer)"
    assert "cache" not in near_miss.response_metadata


async def test_astream_events_of_a_hit_come_from_the_cache(global_cache: RedisLLMCache) -> None:
    # How LangGraph and chains stream: invoke() under astream_events takes _astream.
    inner = streaming_model(ANSWER)
    chat = CachedStreamingChatModel(model=inner)
    [_chunk async for _chunk in chat.astream(QUESTION)]
    streamed = [
        event["data"]["chunk"]
        async for event in chat.astream_events(QUESTION, version="v2")
        if event["event"] == "on_chat_model_stream"
    ]
    assert inner.calls == 1
    assert len(streamed) > 1
    assert total(streamed).content == ANSWER
    await global_cache.aclose()


@pytest.mark.disruptive
def test_a_failed_store_never_reaches_the_reader(
    private_redis: EmbeddedRedis, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    # fail_open=False makes the write raise; the reader still gets the whole answer.
    # The timeout is what the paused write costs; it is generous because with
    # fail_open=False a lookup that timed out on a loaded machine would raise too.
    cache = RedisLLMCache(
        redis_url=private_redis.url, namespace=namespace, fail_open=False, timeout=1.0
    )
    chat = CachedStreamingChatModel(model=streaming_model(ANSWER, cache=cache))
    stream = chat.stream(QUESTION)
    first = next(stream)  # the lookup is done, the model is streaming
    private_redis.pause()  # Redis hangs before the answer is stored
    try:
        rest = list(stream)
    finally:
        private_redis.resume()
    assert "".join(str(c.content) for c in [first, *rest]) == ANSWER
    assert "a streamed answer was not cached (BackendError)" in caplog.text
    assert ANSWER[:20] not in caplog.text
    cache.close()


def test_model_without_cache_streams_uncached(global_cache: RedisLLMCache) -> None:
    inner = streaming_model(ANSWER, ANSWER, cache=False)
    chat = CachedStreamingChatModel(model=inner)
    list(chat.stream(QUESTION))
    list(chat.stream(QUESTION))
    assert inner.calls == 2
    assert global_cache.stats()["writes"] == 0


def test_callbacks_see_each_replayed_chunk(global_cache: RedisLLMCache) -> None:
    class Tokens(BaseCallbackHandler):
        def __init__(self) -> None:
            self.tokens: list[str] = []

        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            self.tokens.append(token)

    chat = CachedStreamingChatModel(model=streaming_model(ANSWER))
    list(chat.stream(QUESTION))
    handler = Tokens()
    chunks = list(chat.stream(QUESTION, config={"callbacks": [handler]}))
    assert handler.tokens == [str(c.content) for c in chunks]
    assert "".join(handler.tokens) == ANSWER


class ToolCallingModel(StreamingModel):
    """Binds tools the way provider integrations do: as call keyword arguments."""

    def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> Any:
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)


def test_bound_tools_are_part_of_the_key(global_cache: RedisLLMCache) -> None:
    def get_weather(city: str) -> str:
        """Weather in a city."""
        return city

    inner = ToolCallingModel(messages=iter([ANSWER, "with tools", "never"]))
    chat = CachedStreamingChatModel(model=inner)
    with_tools = chat.bind_tools([get_weather])
    assert total(list(chat.stream(QUESTION))).content == ANSWER
    assert total(list(with_tools.stream(QUESTION))).content == "with tools"
    assert total(list(with_tools.stream(QUESTION))).content == "with tools"
    assert total(list(chat.stream(QUESTION))).content == ANSWER
    assert inner.calls == 2  # one miss per partition; the repeats were replayed


def test_the_cache_belongs_on_the_wrapped_model(make_cache: Callable[..., RedisLLMCache]) -> None:
    with pytest.raises(ValueError, match="uses the cache of the model it wraps"):
        CachedStreamingChatModel(model=streaming_model(ANSWER), cache=make_cache())


@pytest.mark.parametrize(
    "text",
    [
        "",
        "short",
        ANSWER,
        "如何更改收货地址？我们在发货前都可以修改，请在订单页点击修改地址。",
        "x" * 100,
    ],
)
def test_split_for_replay_gives_the_text_back_in_bounded_pieces(text: str) -> None:
    pieces = split_for_replay(text, 10)
    assert "".join(pieces) == text
    assert all(len(piece) <= 10 for piece in pieces)
    assert all(piece for piece in pieces) or pieces == [""]


def test_replay_of_a_plain_generation() -> None:
    chunks = replay_chunks(Generation(text="plain text answer"), 6)
    merged = total([c.message for c in chunks])  # type: ignore[misc]
    assert merged.content == "plain text answer"
