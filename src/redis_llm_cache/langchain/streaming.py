"""``CachedStreamingChatModel``: the LLM cache for ``stream()`` / ``astream()``.

LangChain consults the LLM cache in ``invoke()`` / ``generate()`` only: when a chat
model streams (``BaseChatModel.stream`` / ``astream`` in langchain-core 1.x), it
calls the model's ``_stream`` directly, neither looking up nor updating the cache.
This wrapper is a chat model around yours whose ``_stream`` / ``_astream`` do both,
with the cache and the keys your model's ``invoke()`` would use -- so an answer
cached by ``invoke()`` is replayed to ``stream()`` and the other way round, and
paraphrases hit through the semantic tier of :class:`RedisLLMCache`.

A hit is replayed as chunks of about ``replay_chunk_chars`` characters (broken
after a space where there is one); usage, response metadata, generation info and
tool calls ride on the last chunk, so adding the chunks up gives the cached
message back. Each replay gets a fresh message id (the run's id, as LangChain
gives any stream). A miss streams from the model as it is and stores the
assembled result only after the stream ended normally: a stream that raises, is
cancelled or is abandoned midway stores nothing, and a failure to store a
completed one is logged (its type only) and never reaches the reader.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.caches import BaseCache
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.globals import get_llm_cache
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.language_models.chat_models import generate_from_stream
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult, Generation
from langchain_core.runnables import Runnable, RunnableBinding
from pydantic import Field, field_validator

from ..core.replay import DEFAULT_REPLAY_CHUNK_CHARS, split_for_replay

logger = logging.getLogger(__name__)


class CachedStreamingChatModel(BaseChatModel):
    """Streams a cached answer as chunks on a hit; on a miss streams from ``model``
    and caches the assembled answer once the stream has completed.

    The cache is the one ``model.invoke()`` uses: ``model.cache`` when it is a
    cache, else the global one (``set_llm_cache``); with ``model.cache=False``
    nothing is cached. Keys are ``model``'s own (prompt and ``llm_string``), so
    ``invoke()``, ``stream()`` and ``astream()`` share entries. If the cache fails,
    :class:`RedisLLMCache` misses and skips the write (fail-open), so the stream
    goes on from the model. ``invoke()`` on the wrapper behaves exactly as on
    ``model``; ``bind_tools`` / ``with_structured_output`` bind to the wrapper.

    Args:
        model: The chat model to stream from on a miss.
        replay_chunk_chars: Length of the chunks a hit is replayed in (about; a
            chunk ends after a space when one is near).

    Example:
        >>> from langchain_core.globals import set_llm_cache
        >>> from redis_llm_cache.langchain import CachedStreamingChatModel, RedisLLMCache
        >>> set_llm_cache(RedisLLMCache(redis_url="redis://localhost:6379"))
        >>> chat = CachedStreamingChatModel(model=ChatOpenAI(model="gpt-4o-mini"))
        >>> for chunk in chat.stream("How do I reset my password?"):  # 2nd time: from Redis
        ...     print(chunk.content, end="")
    """

    model: BaseChatModel = Field(description="The chat model streamed from on a miss.")
    replay_chunk_chars: int = Field(default=DEFAULT_REPLAY_CHUNK_CHARS, gt=0)
    # The wrapper never caches under keys of its own: see _generate and _stream.
    cache: BaseCache | bool | None = Field(default=False, exclude=True)

    @field_validator("cache")
    @classmethod
    def _no_cache_of_its_own(cls, value: Any) -> Any:
        if value is not False:
            raise ValueError(
                "CachedStreamingChatModel uses the cache of the model it wraps: "
                "pass cache=... to that model (or use set_llm_cache), not to the wrapper"
            )
        return value

    @property
    def _llm_type(self) -> str:
        return f"cached-streaming:{self.model._llm_type}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model._identifying_params}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        # Traces name the wrapped model's provider and model, not the wrapper.
        return self.model._get_ls_params(stop=stop, **kwargs)

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Binds tools as ``model.bind_tools`` would, around this wrapper (so tool
        calls stream and cache too); raises ``NotImplementedError`` if ``model``'s
        binding is not a plain keyword binding."""
        bound = self.model.bind_tools(tools, tool_choice=tool_choice, **kwargs)
        if not isinstance(bound, RunnableBinding) or bound.bound is not self.model:
            raise NotImplementedError(
                f"{type(self.model).__name__}.bind_tools returned {type(bound).__name__}, "
                "which cannot be moved onto the caching wrapper"
            )
        return self.bind(**bound.kwargs)

    # invoke() / generate(): exactly the wrapped model's cached path.

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self.model._generate_with_cache(
            messages, stop=stop, run_manager=run_manager, **kwargs
        )

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await self.model._agenerate_with_cache(
            messages, stop=stop, run_manager=run_manager, **kwargs
        )

    # stream() / astream(): look up, replay or stream, store on completion.

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        cache, prompt, llm_string = self._cache_key(messages, stop, kwargs)
        if cache is not None:
            cached = cache.lookup(prompt, llm_string)
            if cached:
                yield from replay_chunks(cached[0], self.replay_chunk_chars)
                return
        if self.model.rate_limiter:
            self.model.rate_limiter.acquire(blocking=True)
        chunks: list[ChatGenerationChunk] = []
        ended = False
        try:
            for chunk in self._model_stream(messages, stop, kwargs):
                chunks.append(chunk)
                yield chunk
            ended = True
        finally:
            if not ended and cache is not None:  # failed or abandoned: nothing to wait for
                _release_leases(cache)
        # Reached only when the model's stream ended normally and the consumer
        # asked for more after the last chunk: nothing partial is ever stored.
        if cache is not None and chunks:
            try:
                cache.update(prompt, llm_string, assembled(chunks))
            except Exception as exc:  # the answer is delivered; caching it must not fail it
                _log_store_failure(exc)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        cache, prompt, llm_string = self._cache_key(messages, stop, kwargs)
        if cache is not None:
            cached = await cache.alookup(prompt, llm_string)
            if cached:
                for chunk in replay_chunks(cached[0], self.replay_chunk_chars):
                    yield chunk
                return
        if self.model.rate_limiter:
            await self.model.rate_limiter.aacquire(blocking=True)
        chunks: list[ChatGenerationChunk] = []
        ended = False
        try:
            async for chunk in self._model_astream(messages, stop, kwargs):
                chunks.append(chunk)
                yield chunk
            ended = True
        finally:
            if not ended and cache is not None:
                await _arelease_leases(cache)
        if cache is not None and chunks:
            try:
                await cache.aupdate(prompt, llm_string, assembled(chunks))
            except Exception as exc:
                _log_store_failure(exc)

    def _cache_key(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[BaseCache | None, str, str]:
        """The cache ``model.invoke()`` would use and its keys for this call, as
        ``BaseChatModel._generate_with_cache`` makes them (message ids removed)."""
        if self.model.cache is False:
            return None, "", ""
        cache = self.model.cache if isinstance(self.model.cache, BaseCache) else get_llm_cache()
        if cache is None:
            return None, "", ""
        without_ids = [
            message.model_copy(update={"id": None}) if message.id is not None else message
            for message in messages
        ]
        return cache, dumps(without_ids), self.model._get_llm_string(stop=stop, **kwargs)

    def _model_stream(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> Iterator[ChatGenerationChunk]:
        # Like BaseChatModel.stream: the model's own _stream, without the run
        # manager (our stream() reports each chunk to the callbacks once).
        if type(self.model)._stream is BaseChatModel._stream:
            result = self.model._generate(messages, stop=stop, **kwargs)
            yield from replay_chunks(result.generations[0], self.replay_chunk_chars)
            return
        yield from self.model._stream(messages, stop=stop, **kwargs)

    async def _model_astream(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> AsyncIterator[ChatGenerationChunk]:
        model_type = type(self.model)
        if (
            model_type._astream is BaseChatModel._astream
            and model_type._stream is BaseChatModel._stream
        ):
            result = await self.model._agenerate(messages, stop=stop, **kwargs)
            for chunk in replay_chunks(result.generations[0], self.replay_chunk_chars):
                yield chunk
            return
        async for chunk in self.model._astream(messages, stop=stop, **kwargs):
            yield chunk


def _release_leases(cache: BaseCache) -> None:
    """Free the stampede leases a stream that will store nothing holds (a
    ``RedisLLMCache``'s; other caches have none). Never raises: the stream's own
    outcome (its error, or its consumer leaving) is what the reader sees."""
    release = getattr(cache, "release_leases", None)
    if release is not None:
        try:
            release()
        except Exception as exc:  # with fail_open=False; the lease then expires
            _log_store_failure(exc)


async def _arelease_leases(cache: BaseCache) -> None:
    core = getattr(cache, "core", None)
    release = getattr(core, "arelease_leases", None)
    if release is not None:
        try:
            await release()
        except Exception as exc:
            _log_store_failure(exc)


def _log_store_failure(exc: Exception) -> None:
    # The exception's type only: its message may quote the answer.
    logger.warning("redis-llm-cache: a streamed answer was not cached (%s)", type(exc).__name__)


def replay_chunks(generation: Generation, size: int) -> list[ChatGenerationChunk]:
    """A cached generation as stream chunks that add up to it again.

    Text content is split with :func:`split_for_replay`; list content (content
    blocks) is one chunk. The last chunk carries usage, response metadata,
    ``additional_kwargs``, tool calls and ``generation_info``, so nothing is
    counted twice when chunks are added. Message ids are left unset: the stream
    gives them the run's id.
    """
    message = getattr(generation, "message", None)
    if not isinstance(message, AIMessage):
        message = AIMessage(content=generation.text)
    contents: list[str | list[str | dict[str, Any]]]
    if isinstance(message.content, str):
        contents = list(split_for_replay(message.content, size))
    else:
        contents = [message.content]
    chunks = [ChatGenerationChunk(message=AIMessageChunk(content=part)) for part in contents]
    last = chunks[-1].message
    assert isinstance(last, AIMessageChunk)  # built just above
    tool_call_chunks = [
        tool_call_chunk(
            name=call["name"],
            args=json.dumps(call["args"], ensure_ascii=False),
            id=call.get("id"),
            index=index,
        )
        for index, call in enumerate(message.tool_calls)
    ]
    tool_call_chunks += [
        tool_call_chunk(
            name=call.get("name"),
            args=call.get("args"),
            id=call.get("id"),
            index=len(tool_call_chunks) + index,
        )
        for index, call in enumerate(message.invalid_tool_calls)
    ]
    chunks[-1] = ChatGenerationChunk(
        message=AIMessageChunk(
            content=last.content,
            additional_kwargs=dict(message.additional_kwargs),
            response_metadata=dict(message.response_metadata),
            usage_metadata=message.usage_metadata,
            tool_call_chunks=tool_call_chunks,
            name=message.name,
            chunk_position="last",
        ),
        generation_info=generation.generation_info,
    )
    return chunks


def assembled(chunks: list[ChatGenerationChunk]) -> list[Generation]:
    """The chunks of a completed stream as the generations ``invoke()`` stores
    (generation info folded into the message's response metadata, as
    ``BaseChatModel`` does before it caches)."""
    generation = generate_from_stream(iter(chunks)).generations[0]
    generation.message.response_metadata = {
        **(generation.generation_info or {}),
        **generation.message.response_metadata,
    }
    return [ChatGeneration(message=generation.message, generation_info=generation.generation_info)]
