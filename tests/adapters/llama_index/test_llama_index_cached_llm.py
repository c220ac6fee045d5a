"""CachedLLM (LlamaIndex) on real Redis: query and chat engines over a real
VectorStoreIndex, streaming and async, tools, round trips, instrumentation,
pickling and the partition of every setting."""

from __future__ import annotations

import asyncio
import json
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("llama_index.core")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    ImageBlock,
    MessageRole,
    TextBlock,
)
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.tools import FunctionTool
from pydantic import BaseModel

from redis_llm_cache import BackendError, ConfigurationError, LocalEmbedder
from redis_llm_cache.core.semantic.tier import SemanticQuery
from redis_llm_cache.llama_index import CachedEmbedding, CachedLLM, LLMCacheEvent
from redis_llm_cache.llama_index.codec import ResponseCodec
from redis_llm_cache.llama_index.llm import semantic_query
from redis_llm_cache.redis.embedded import EmbeddedRedis
from support.llama_models import CountingEmbedding, CountingLLM, ToolCallingLLM


@pytest.fixture
def make_llm(redis_url: str, build_cache: Callable[..., Any]) -> Callable[..., CachedLLM]:
    def build(inner: Any = None, **kwargs: Any) -> CachedLLM:
        kwargs.setdefault("redis_url", redis_url)
        return build_cache(CachedLLM, inner if inner is not None else CountingLLM(), **kwargs)  # type: ignore[no-any-return]

    return build


@pytest.fixture
def make_embedding(
    redis_url: str, build_cache: Callable[..., Any]
) -> Callable[[], CachedEmbedding]:
    return lambda: build_cache(
        CachedEmbedding, CountingEmbedding(model_name="counting-v1"), redis_url=redis_url
    )


@pytest.fixture
def restore_settings() -> Iterator[None]:
    saved_llm, saved_embedding = Settings._llm, Settings._embed_model
    yield
    Settings._llm, Settings._embed_model = saved_llm, saved_embedding


class CacheEvents(BaseEventHandler):
    events: list[LLMCacheEvent]

    @classmethod
    def class_name(cls) -> str:
        return "CacheEvents"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, LLMCacheEvent):
            self.events.append(event)


@pytest.fixture
def cache_events() -> Iterator[list[LLMCacheEvent]]:
    handler = CacheEvents(events=[])
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(handler)
    yield handler.events
    dispatcher.event_handlers.remove(handler)


def inner_of(llm: CachedLLM) -> Any:
    return llm.inner


DOCS = [
    Document(text=f"Fact {i}: the colour of item {i} is shade {i * 7 % 13}.", id_=f"doc-{i}")
    for i in range(50)
]
QUESTIONS = [f"What colour is item {i}?" for i in range(0, 50, 5)]


def index_with(llm: CachedLLM, embedding: CachedEmbedding) -> VectorStoreIndex:
    Settings.llm = llm
    Settings.embed_model = embedding
    return VectorStoreIndex.from_documents(DOCS)


@pytest.mark.usefixtures("restore_settings")
def test_query_engine_second_pass_calls_no_model(
    make_llm: Callable[..., CachedLLM],
    make_embedding: Callable[[], CachedEmbedding],
    cache_events: list[LLMCacheEvent],
) -> None:
    llm, embedding = make_llm(), make_embedding()
    first = [str(index_with(llm, embedding).as_query_engine().query(q)) for q in QUESTIONS]
    llm_calls, embedded = len(llm.inner.calls), len(embedding.inner.texts())
    assert llm_calls >= len(QUESTIONS) and embedded >= len(DOCS)
    # A new index and engine over the same documents: everything comes from Redis.
    second = [str(index_with(llm, embedding).as_query_engine().query(q)) for q in QUESTIONS]
    assert second == first
    assert len(llm.inner.calls) == llm_calls
    assert len(embedding.inner.texts()) == embedded
    hits = [event for event in cache_events if event.hit]
    assert len(hits) == llm_calls and {event.tier for event in hits} == {"exact"}
    stats = llm.stats()
    assert stats["hits_exact"] == llm_calls and stats["misses"] == llm_calls
    assert stats["tokens_saved"]["output"] > 0


@pytest.mark.usefixtures("restore_settings")
def test_streaming_and_async_query_engines(
    make_llm: Callable[..., CachedLLM], make_embedding: Callable[[], CachedEmbedding]
) -> None:
    llm, embedding = make_llm(), make_embedding()
    index = index_with(llm, embedding)
    streamed = [
        index.as_query_engine(streaming=True).query(q).get_response().response for q in QUESTIONS
    ]
    calls = len(llm.inner.calls)

    async def ask_async() -> list[str]:
        engine = index.as_query_engine()
        return [str(await engine.aquery(q)) for q in QUESTIONS]

    assert asyncio.run(ask_async()) == streamed  # stored streams answer plain calls
    again = [
        index.as_query_engine(streaming=True).query(q).get_response().response for q in QUESTIONS
    ]
    assert again == streamed
    assert len(llm.inner.calls) == calls


def chat_engine(llm: CachedLLM) -> SimpleChatEngine:
    # A memory of its own: the default one keeps an SQLite connection open.
    memory = ChatMemoryBuffer.from_defaults(token_limit=3000)
    return SimpleChatEngine.from_defaults(llm=llm, memory=memory, system_prompt="You are terse.")


def test_chat_engine_conversation_replays(make_llm: Callable[..., CachedLLM]) -> None:
    llm = make_llm(CountingLLM(chat_model=True))

    def converse() -> list[str]:
        engine = chat_engine(llm)
        turns = ["Hello there", "What is Redis?", "And a cache?"]
        return [str(engine.chat(turn)) for turn in turns]

    first = converse()
    calls = len(llm.inner.calls)
    assert calls == 3
    assert converse() == first
    assert len(llm.inner.calls) == calls
    # The same last question after another history is another prompt.
    engine = chat_engine(llm)
    engine.chat("Something else first")
    engine.chat("And a cache?")
    assert len(llm.inner.calls) == calls + 2


def test_stream_hit_replays_chunks_and_only_completed_streams_are_stored(
    make_llm: Callable[..., CachedLLM], cache_events: list[LLMCacheEvent]
) -> None:
    llm = make_llm(replay_chunk_chars=8)
    prompt = "tell me about the shades of many items"
    partial = llm.stream_complete(prompt)
    next(partial)  # abandoned after one chunk: not stored
    partial.close()
    assert llm.complete(prompt).text.startswith("answer 2")  # a miss: the inner LLM ran
    streamed = list(llm.stream_complete(prompt))
    assert len(llm.inner.calls) == 2  # a hit of the stored plain answer
    assert len(streamed) > 2
    assert "".join(chunk.delta for chunk in streamed) == streamed[-1].text
    assert [chunk.text for chunk in streamed] == [
        "".join(c.delta for c in streamed[: i + 1]) for i in range(len(streamed))
    ]
    assert streamed[-1] == llm.complete(prompt).model_copy(update={"delta": streamed[-1].delta})
    assert [(event.method, event.hit) for event in cache_events] == [
        ("stream_complete", False), ("complete", False), ("stream_complete", True),
        ("complete", True),
    ]  # fmt: skip


async def test_async_twins_are_native_and_share_entries(
    make_llm: Callable[..., CachedLLM],
) -> None:
    llm = make_llm(ToolCallingLLM())
    messages = [ChatMessage(role="user", content="hi")]
    first = await llm.achat(messages)
    streamed = [chunk async for chunk in await llm.astream_chat(messages)]
    assert llm.inner.calls == 1
    assert streamed[-1].message == first.message
    assert llm.chat(messages).message == first.message
    other = [ChatMessage(role="user", content="other")]
    chunks = [chunk async for chunk in await llm.astream_chat(other)]
    assert llm.inner.calls == 2
    assert (await llm.achat(other)).message.content == chunks[-1].message.content
    assert llm.inner.calls == 2
    await llm.aclose()


def test_metadata_and_prompt_settings_are_the_inner_llms(
    make_llm: Callable[..., CachedLLM],
) -> None:
    inner = ToolCallingLLM(system_prompt="be brief")
    llm = make_llm(inner)
    assert llm.metadata == inner.metadata
    assert llm.metadata.is_function_calling_model and llm.metadata.is_chat_model
    assert llm.system_prompt == "be brief"
    assert make_llm(CountingLLM(max_tokens=7)).metadata.num_output == 7


def test_tool_calls_round_trip_and_bypass_the_semantic_tier(
    make_llm: Callable[..., CachedLLM],
    embedder: LocalEmbedder,
    cache_events: list[LLMCacheEvent],
) -> None:
    llm = make_llm(ToolCallingLLM(), embedder=embedder, semantic_threshold=0.5)

    def lookup(query: str) -> str:
        """Look a fact up."""
        return f"fact about {query}"

    tool = FunctionTool.from_defaults(fn=lookup)
    first = llm.predict_and_call([tool], user_msg="How tall is the Eiffel tower?")
    assert llm.inner.calls == 1
    again = llm.predict_and_call([tool], user_msg="How tall is the Eiffel tower?")
    assert llm.inner.calls == 1
    assert str(again) == str(first) == "fact about How tall is the Eiffel tower?"
    response = llm.chat_with_tools([tool], user_msg="How tall is the Eiffel tower?")
    assert llm.get_tool_calls_from_response(response)[0].tool_kwargs == {
        "query": "How tall is the Eiffel tower?"
    }
    llm.predict_and_call([tool], user_msg="What is the height of the Eiffel tower?")
    assert llm.inner.calls == 2  # a paraphrase with tools is never a semantic hit
    # Without tools, the semantic tier serves the paraphrase.
    llm.chat([ChatMessage(role="user", content="How tall is the Eiffel tower?")])
    llm.chat([ChatMessage(role="user", content="How tall is the Eiffel tower ?")])
    assert llm.inner.calls == 3
    assert llm.stats()["hits_semantic"] == 1
    semantic = cache_events[-1]
    assert (semantic.method, semantic.hit, semantic.tier) == ("chat", True, "semantic")
    assert semantic.similarity is not None and semantic.similarity > 0.5


def test_responses_round_trip_faithfully(make_llm: Callable[..., CachedLLM]) -> None:
    llm = make_llm(mark_hits=True)
    key = ("q", llm.partition())
    chat = ChatResponse(
        message=ChatMessage(
            role=MessageRole.ASSISTANT,
            blocks=[TextBlock(text="one"), TextBlock(text="two")],
            additional_kwargs={"tool_calls": [{"id": "c1", "name": "f", "arguments": "{}"}]},
        ),
        raw={"model": "m-1", "usage": {"prompt_tokens": 11, "completion_tokens": 3,
                                       "prompt_tokens_details": {"cached_tokens": 4}}},
        additional_kwargs={"prompt_tokens": 11, "completion_tokens": 3},
        delta="wo",
    )  # fmt: skip
    assert llm.core.update(*key, chat)
    hit = llm.core.lookup(*key)
    assert isinstance(hit, ChatResponse)
    assert hit.message == chat.message and hit.raw == chat.raw and hit.delta is None
    assert llm.stats()["tokens_saved"]["by_model"]["m-1"]["input"] == 11

    class Raw(BaseModel):
        id: str

    stored = llm.core.update("raw", key[1], CompletionResponse(text="t", raw=Raw(id="x")))
    assert stored and llm.core.lookup("raw", key[1]).raw == {"id": "x"}  # type: ignore[union-attr]
    assert not llm.core.update(
        "tuple", key[1], CompletionResponse(text="t", additional_kwargs={"p": (1, 2)})
    )
    assert not llm.core.update("other", key[1], "not a response")  # type: ignore[arg-type]
    assert llm.stats()["skipped_by_reason"] == {"unsupported_value": 2}


def test_mark_hits_and_instrumentation(
    make_llm: Callable[..., CachedLLM], cache_events: list[LLMCacheEvent]
) -> None:
    marked, plain = make_llm(mark_hits=True), make_llm(CountingLLM(model="other"))
    for llm in (marked, plain):
        llm.complete("q")
    assert marked.complete("q").additional_kwargs["cache"] == {"hit": True, "tier": "exact"}
    assert plain.complete("q").additional_kwargs == {}
    assert [(e.hit, e.tier) for e in cache_events] == [
        (False, None), (False, None), (True, "exact"), (True, "exact"),
    ]  # fmt: skip


def test_pickles(make_llm: Callable[..., CachedLLM]) -> None:
    llm = make_llm(ttl=60, tenant="acme")
    answer = llm.complete("q").text
    copy = pickle.loads(pickle.dumps(llm))
    try:
        assert copy.settings == llm.settings and copy.settings.tenant == "acme"
        assert copy.complete("q").text == answer
        assert copy.inner.calls == ["q"] and copy.stats()["hits"] == 1
    finally:
        copy.close()


def test_settings_and_kwargs_are_not_mixed(make_llm: Callable[..., CachedLLM]) -> None:
    from redis_llm_cache import CacheSettings, SemanticSettings

    with pytest.raises(ConfigurationError, match="ttl="):
        CachedLLM(CountingLLM(), settings=CacheSettings(), ttl=5)
    with pytest.raises(ConfigurationError, match="semantic_threshold="):
        CachedLLM(CountingLLM(), semantic=SemanticSettings(), semantic_threshold=0.9)
    with pytest.raises(ConfigurationError, match="semantic_context"):
        CachedLLM(CountingLLM(), semantic_context="everything")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="LlamaIndex LLM"):
        CachedLLM("gpt")  # type: ignore[arg-type]


# -- the partition: two LLMs that differ in anything that changes the answer ------------

SETTINGS = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["a", "b"]),
        "temperature": st.sampled_from([0.0, 0.7]),
        "max_tokens": st.sampled_from([16, 64]),
        "system_prompt": st.sampled_from([None, "be brief"]),
    }
)
CALLS = st.fixed_dictionaries(
    {},
    optional={
        "stop": st.sampled_from([["\n"], ["END"]]),
        "tools": st.sampled_from([[{"name": "f"}], [{"name": "g"}]]),
        "tool_choice": st.sampled_from(["auto", "required"]),
        "temperature": st.sampled_from([0.2, 0.9]),
    },
)


@pytest.mark.redis_kinds("plain")
@given(one=st.tuples(SETTINGS, CALLS), other=st.tuples(SETTINGS, CALLS))
# The server fixtures are the same for every example; the body clears its entries.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_llms_differing_in_any_setting_never_share_an_entry(
    redis_url: str, namespace: str, one: Any, other: Any
) -> None:
    (settings_a, call_a), (settings_b, call_b) = one, other
    a = CachedLLM(CountingLLM(**settings_a), redis_url, namespace=namespace)
    b = CachedLLM(CountingLLM(**settings_b), redis_url, namespace=namespace)
    try:
        a.clear()
        a.complete("q", **call_a)
        b.complete("q", **call_b)
        same = settings_a == settings_b and call_a == call_b
        assert (len(b.inner.calls) == 0) == same
        assert (a.partition(**call_a) == b.partition(**call_b)) == same
    finally:
        a.clear()
        a.close()
        b.close()


class Answer(BaseModel):
    height_m: int


def test_structured_output_schemas_partition(make_llm: Callable[..., CachedLLM]) -> None:
    class Other(BaseModel):
        height_m: str

    llm = make_llm()
    assert llm.partition(output_cls=Answer) != llm.partition(output_cls=Other)
    assert llm.partition(output_cls=Answer) == llm.partition(output_cls=Answer)
    with pytest.raises(TypeError, match="not JSON serializable"):
        llm.partition(callback=object())
    llm.complete("q", callback=object())  # not cacheable: served by the inner LLM, counted
    llm.complete("q", callback=object())
    assert len(llm.inner.calls) == 2
    assert llm.stats()["skipped_by_reason"] == {"uncacheable_arguments": 2}


def test_codec_refuses_what_it_cannot_store() -> None:
    codec = ResponseCodec()
    body = codec.encode(CompletionResponse(text="t", raw={"model": "m"}))
    assert codec.decode(body, tier=None) == CompletionResponse(text="t", raw={"model": "m"})


async def test_redis_down_the_inner_llm_answers_every_call(private_redis: EmbeddedRedis) -> None:
    llm = CachedLLM(ToolCallingLLM(), private_redis.url, timeout=0.5, connect_timeout=0.5)
    messages = [ChatMessage(role="user", content="hi")]
    assert llm.chat(messages).message.content == "answer 1"
    private_redis.shutdown()
    assert llm.chat(messages).message.content == "answer 2"
    assert [chunk.delta for chunk in llm.stream_chat(messages)][-1] is not None
    assert (await llm.achat(messages)).message.content == "answer 4"
    assert llm.inner.calls == 4
    assert llm.stats()["errors"] >= 1
    strict = CachedLLM(ToolCallingLLM(), private_redis.url, timeout=0.5, fail_open=False)
    with pytest.raises(BackendError):
        strict.chat(messages)
    assert strict.inner.calls == 0
    await llm.aclose()
    llm.close()
    strict.close()


def user(text: str) -> dict[str, Any]:
    return ChatMessage(role="user", content=text).model_dump(mode="json")


@pytest.mark.parametrize(
    ("scope", "context"),
    [("conversation", ["system", "user", "assistant"]), ("system", ["system"]), ("none", [])],
)
def test_semantic_query_scopes_as_the_langchain_cache(scope: Any, context: list[str]) -> None:
    history = [
        ChatMessage(role="system", content="be brief").model_dump(mode="json"),
        user("earlier"),
        ChatMessage(role="assistant", content="answer").model_dump(mode="json"),
    ]
    prompt = json.dumps({"chat": [*history, user("How tall is it?")]})
    query = semantic_query(prompt, scope)
    assert query is not None and query.text == "How tall is it?"
    assert [m["role"] for m in json.loads(query.context or "[]")] == context
    # Only a question the user asked, in text, is compared.
    assert semantic_query(json.dumps({"chat": history}), scope) is None
    image = ChatMessage(role="user", blocks=[ImageBlock(url="https://example.com/a.png")])
    assert semantic_query(json.dumps({"chat": [image.model_dump(mode="json")]}), scope) is None
    completion = semantic_query(json.dumps({"complete": "2+2?", "formatted": True}), scope)
    assert completion == SemanticQuery(text="2+2?", context="formatted")


async def test_async_completion_streams(make_llm: Callable[..., CachedLLM]) -> None:
    llm = make_llm(replay_chunk_chars=6)
    prompt = "name three shades of the items please"
    abandoned = await llm.astream_complete(prompt)
    await abandoned.__anext__()  # one chunk, then dropped: nothing stored
    await abandoned.aclose()
    streamed = [chunk async for chunk in await llm.astream_complete(prompt)]
    assert len(llm.inner.calls) == 2
    replayed = [chunk async for chunk in await llm.astream_complete(prompt)]
    assert len(llm.inner.calls) == 2 and len(replayed) > len(streamed)
    assert replayed[-1].text == streamed[-1].text == (await llm.acomplete(prompt)).text
    assert "".join(chunk.delta or "" for chunk in replayed) == streamed[-1].text
    await llm.aclose()
