"""``CachedLLM``: any LlamaIndex ``LLM`` with its answers cached in Redis.

The LlamaIndex twin of :class:`~redis_llm_cache.langchain.RedisLLMCache`, on the
same framework-free :class:`~redis_llm_cache.ResponseCache`: every call of the
wrapper (``chat``, ``complete``, their ``stream_*`` forms and every ``a*`` twin)
is looked up under a key made of

* the **prompt**: the messages of a ``chat`` (system prompt and earlier turns
  included) or the text of a ``complete`` and its ``formatted`` flag;
* the **partition** (LangChain's ``llm_string``): the inner LLM's class and
  settings (model, temperature, max tokens ...; names that look like secrets are
  left out) and the call's keyword arguments (stop sequences, tools, tool choice,
  structured-output schemas).

A streamed call and a plain one share entries: a hit of a streaming call is
replayed as chunks, and a stream is stored only once it has completed.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import orjson
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr, SerializeAsAny
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM, ToolSelection
from pydantic import BaseModel, SecretBytes, SecretStr

from .. import Embedder, ResponseCache, StatsSnapshot
from ..config import (
    DEFAULT_NAMESPACE,
    DEFAULT_TIMEOUT_S,
    CacheSettings,
    ContextScope,
    SemanticSettings,
    Strategy,
    llm_cache_settings,
)
from ..core.embedding.embedder import is_embedder
from ..core.replay import DEFAULT_REPLAY_CHUNK_CHARS, split_for_replay
from ..core.semantic.tier import SemanticQuery
from ..redis.connection import AsyncClient, SyncClient
from .codec import HIT_MARK, LlamaResponse, ResponseCodec, as_stored

logger = logging.getLogger(__name__)
dispatcher = get_dispatcher(__name__)

R = TypeVar("R", ChatResponse, CompletionResponse)

#: Settings of the inner LLM left out of the partition: credentials.
_SECRET_NAME = re.compile(r"(?:^|_)(?:api_?key|key|secret|password|token|credentials?|headers?)$")


class LLMCacheEvent(BaseEvent):
    """One lookup of a :class:`CachedLLM`, sent to LlamaIndex instrumentation
    (``llama_index.core.instrumentation``) inside the span of the call.

    Attributes:
        method: The ``CachedLLM`` method called (``"chat"``, ``"astream_complete"`` ...).
        hit: Served from the cache (the inner LLM was not called).
        tier: ``"exact"`` or ``"semantic"`` for a hit.
        similarity: A semantic hit's cosine similarity.
    """

    method: str
    hit: bool
    tier: str | None = None
    similarity: float | None = None

    @classmethod
    def class_name(cls) -> str:
        return "LLMCacheEvent"


class CachedLLM(FunctionCallingLLM):
    """Wraps any LlamaIndex ``LLM``: answers come from Redis when the same call was
    answered before (exact, and with an ``embedder`` also a paraphrase of it).

    Use it as ``Settings.llm`` or pass it to an index's query or chat engine. The
    inner LLM's ``metadata`` (context window, ``is_chat_model``,
    ``is_function_calling_model``) and prompt settings are the wrapper's, so
    engines and agents behave as with the inner LLM. On a miss -- or when Redis is
    down or slow -- the inner LLM answers (its own instrumentation events fire
    then); failures are counted in :meth:`stats` (fail-open; ``fail_open=False``
    raises ``BackendError`` instead). Every lookup sends an :class:`LLMCacheEvent`.

    Tool calls (``chat_with_tools``, ``predict_and_call``, structured outputs) are
    cached exactly, never semantically. A value that would not come back equal --
    e.g. provider objects in ``additional_kwargs`` -- is not stored (counted as a
    skipped write); values are JSON, never pickle. A call whose arguments cannot be
    described as JSON (objects other than tools and pydantic models) is not cached.

    Picklable when its ``embedder`` is and no client objects were passed: the copy
    opens its own connections.

    Args:
        llm: The LLM whose answers are cached.
        replay_chunk_chars: Length of the chunks a hit of a streaming call is
            replayed in (about: a chunk ends after a space when one is near).
        mark_hits: Add ``additional_kwargs["cache"] = {"hit": True, "tier": ...}``
            to each hit (semantic hits also carry ``similarity`` and ``matched_prompt``).
        redis_url, redis_client, async_redis_client, namespace, tenant, ttl,
            sliding_ttl, max_entries, timeout, fail_open, semantic_threshold,
            semantic_strategy, semantic_context, semantic_verifier,
            semantic_error_budget, semantic_judge, semantic_text, semantic, settings: As in
            :class:`~redis_llm_cache.langchain.RedisLLMCache`.
        embedder: Turns on the semantic tier: a core ``Embedder``
            (``redis_llm_cache.embedders.LocalEmbedder()``) or a LlamaIndex
            ``BaseEmbedding`` (name it with ``embedder_model=`` if it has no
            ``model_name``).

    Example:
        >>> from llama_index.core import Settings
        >>> from llama_index.llms.openai import OpenAI
        >>> from redis_llm_cache.llama_index import CachedLLM
        >>> Settings.llm = CachedLLM(OpenAI(model="gpt-4o-mini"), redis_url="redis://localhost:6379")
    """

    inner: SerializeAsAny[LLM] = Field(description="The LLM whose answers are cached.")
    replay_chunk_chars: int = Field(default=DEFAULT_REPLAY_CHUNK_CHARS, gt=0)
    mark_hits: bool = False

    _cache: ResponseCache[LlamaResponse] = PrivateAttr()
    _options: dict[str, Any] = PrivateAttr()

    def __init__(
        self,
        llm: LLM,
        redis_url: str | None = None,
        *,
        replay_chunk_chars: int = DEFAULT_REPLAY_CHUNK_CHARS,
        mark_hits: bool = False,
        redis_client: SyncClient | None = None,
        async_redis_client: AsyncClient | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        tenant: str = "",
        ttl: float | None = None,
        sliding_ttl: bool = False,
        max_entries: int | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        fail_open: bool = True,
        embedder: Any = None,
        embedder_model: str | None = None,
        semantic_threshold: float | None = None,
        semantic_strategy: Strategy = "auto",
        semantic_context: ContextScope = "conversation",
        semantic_verifier: Any = "default",
        semantic_error_budget: float | None = None,
        semantic_judge: Any = None,
        semantic_text: Callable[[str], str | None] | None = None,
        semantic: SemanticSettings | None = None,
        settings: CacheSettings | None = None,
        **more_settings: Any,
    ) -> None:
        if not isinstance(llm, LLM):
            raise TypeError(f"llm must be a LlamaIndex LLM, got {type(llm).__name__}")
        arguments = {name: value for name, value in locals().items() if name in _DEFAULTS}
        cache_settings, semantic_settings = llm_cache_settings(arguments, more_settings, _DEFAULTS)
        # What a pickled copy is rebuilt from (the fields travel on their own).
        options = {
            name: value
            for name, value in arguments.items()
            if name not in ("replay_chunk_chars", "mark_hits")
        } | dict(more_settings)
        # The inner LLM's prompt settings: LLM.predict() and the engines apply the
        # wrapper's, and they must be the ones the inner LLM would apply.
        super().__init__(
            inner=llm,
            replay_chunk_chars=replay_chunk_chars,
            mark_hits=mark_hits,
            callback_manager=llm.callback_manager,
            system_prompt=llm.system_prompt,
            messages_to_prompt=llm.messages_to_prompt,
            completion_to_prompt=llm.completion_to_prompt,
            output_parser=llm.output_parser,
            pydantic_program_mode=llm.pydantic_program_mode,
            query_wrapper_prompt=llm.query_wrapper_prompt,
        )
        self._cache = ResponseCache(
            codec=ResponseCodec(model=llm.metadata.model_name),
            settings=cache_settings,
            redis_url=redis_url,
            redis_client=redis_client,
            async_redis_client=async_redis_client,
            embedder=_as_embedder(embedder, embedder_model),
            semantic=semantic_settings,
            semantic_query=lambda prompt: semantic_query(prompt, semantic_context),
        )
        # Pin the resolved URL so an unpickled copy in another process (spawned
        # with another environment) talks to the same Redis.
        options["redis_url"] = self._cache.connector.url
        self._options = options

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.inner, self.replay_chunk_chars, self.mark_hits, self._options))

    @classmethod
    def class_name(cls) -> str:
        return "CachedLLM"

    @property
    def metadata(self) -> LLMMetadata:
        return self.inner.metadata

    @property
    def settings(self) -> CacheSettings:
        return self._cache.settings

    @property
    def core(self) -> ResponseCache[LlamaResponse]:
        """The framework-free cache this adapter delegates to."""
        return self._cache

    # -- keys --------------------------------------------------------------------------------

    def partition(self, **call_kwargs: Any) -> str:
        """The partition (``llm_string``) of a call with ``call_kwargs``: the inner
        LLM's class and settings and the call's arguments, as JSON. Use it with
        :meth:`clear` (``llm_string=``) or the CLI.

        Raises:
            TypeError: An argument that cannot be described as JSON.
        """
        inner = self.inner
        cls = type(inner)
        try:
            dumped = inner.model_dump()
        except Exception as exc:  # a field whose serializer fails: no key to file it under
            raise TypeError(f"{cls.__name__}'s settings do not dump: {exc}") from exc
        settings = {
            name: value for name, value in dumped.items() if not _SECRET_NAME.search(name.lower())
        }
        described = {
            "llm": f"{cls.__module__}.{cls.__qualname__}",
            "settings": settings,
            # Applied by the inner LLM to un-formatted prompts: part of what it is sent.
            "prompt_format": [
                _qualified(inner.messages_to_prompt),
                _qualified(inner.completion_to_prompt),
            ],
            "call": orjson.Fragment(
                orjson.dumps(call_kwargs, default=_call_argument, option=_SORTED)
            ),
        }
        return orjson.dumps(described, default=_setting, option=_SORTED).decode()

    def _key(self, prompt: dict[str, Any], kwargs: dict[str, Any]) -> tuple[str, str] | None:
        """``(prompt, llm_string)`` of a call; ``None``: not cacheable (counted)."""
        try:
            return orjson.dumps(prompt, option=_SORTED).decode(), self.partition(**kwargs)
        except TypeError as exc:
            logger.debug("redis-llm-cache: call not cached: %s", exc)
            self._cache.stats_counter.record_skipped_write("uncacheable_arguments")
            return None

    def _chat_key(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> Any:
        dumped: list[Any]
        try:
            dumped = [message.model_dump(mode="json") for message in messages]
        except Exception:  # e.g. a block holding a file object: not cacheable
            dumped = [_Uncacheable()]
        return self._key({"chat": dumped}, kwargs)

    def _complete_key(self, prompt: str, formatted: bool, kwargs: dict[str, Any]) -> Any:
        return self._key({"complete": prompt, "formatted": formatted}, kwargs)

    # -- lookup and store, sync and async --------------------------------------------------

    def _served(self, method: str, found: LlamaResponse | None) -> LlamaResponse | None:
        """``found`` as the caller gets it (marked only with ``mark_hits``), and the
        event telling instrumentation whether and how it was a hit."""
        mark = found.additional_kwargs.pop(HIT_MARK, {}) if found is not None else {}
        if found is not None and self.mark_hits:
            found.additional_kwargs["cache"] = mark
        dispatcher.event(
            LLMCacheEvent(
                method=method,
                hit=found is not None,
                tier=mark.get("tier"),
                similarity=mark.get("similarity"),
            )
        )
        return found

    def lookup(self, prompt: str, llm_string: str, *, method: str = "lookup") -> Any:
        """The answer stored under a prompt key and :meth:`partition` (``None``: a
        miss), as a call of ``method`` would get it."""
        return self._served(method, self._cache.lookup(prompt, llm_string))

    async def alookup(self, prompt: str, llm_string: str, *, method: str = "alookup") -> Any:
        """Async :meth:`lookup`."""
        return self._served(method, await self._cache.alookup(prompt, llm_string))

    def update(self, prompt: str, llm_string: str, response: LlamaResponse) -> bool:
        """Store an answer (as :func:`~.codec.as_stored` makes it); ``False`` if it
        was skipped (failure, too large, would not come back equal)."""
        stored = as_stored(response) if isinstance(response, _RESPONSES) else response
        return self._cache.update(prompt, llm_string, stored)

    async def aupdate(self, prompt: str, llm_string: str, response: LlamaResponse) -> bool:
        """Async :meth:`update`."""
        stored = as_stored(response) if isinstance(response, _RESPONSES) else response
        return await self._cache.aupdate(prompt, llm_string, stored)

    def _call(self, method: str, key: tuple[str, str] | None, compute: Callable[[], R]) -> R:
        if key is None:
            return compute()
        found = self.lookup(*key, method=method)
        if found is not None:
            return found  # type: ignore[no-any-return]
        response = compute()
        self.update(*key, response)
        return response

    async def _acall(
        self, method: str, key: tuple[str, str] | None, compute: Callable[[], Awaitable[R]]
    ) -> R:
        if key is None:
            return await compute()
        found = await self.alookup(*key, method=method)
        if found is not None:
            return found  # type: ignore[no-any-return]
        response = await compute()
        await self.aupdate(*key, response)
        return response

    def _lookup(self, method: str, key: tuple[str, str] | None) -> list[Any] | None:
        found = self.lookup(*key, method=method) if key is not None else None
        return replay(found, self.replay_chunk_chars) if found is not None else None

    async def _alookup(self, method: str, key: tuple[str, str] | None) -> list[Any] | None:
        found = await self.alookup(*key, method=method) if key is not None else None
        return replay(found, self.replay_chunk_chars) if found is not None else None

    def _recorded(self, key: tuple[str, str] | None, stream: Iterator[R]) -> Iterator[R]:
        chunks: list[R] = []
        for chunk in stream:
            chunks.append(chunk)
            yield chunk
        # Reached only when the inner stream ended and the consumer asked for more
        # after its last chunk: nothing partial is ever stored.
        complete = completed(chunks)
        if key is not None and complete is not None:
            self.update(*key, complete)

    async def _arecorded(
        self, key: tuple[str, str] | None, stream: AsyncIterator[R]
    ) -> AsyncIterator[R]:
        chunks: list[R] = []
        async for chunk in stream:
            chunks.append(chunk)
            yield chunk
        complete = completed(chunks)
        if key is not None and complete is not None:
            await self.aupdate(*key, complete)

    # -- the LLM interface -------------------------------------------------------------------

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        key = self._chat_key(messages, kwargs)
        return self._call("chat", key, lambda: self.inner.chat(messages, **kwargs))

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        key = self._chat_key(messages, kwargs)
        return await self._acall("achat", key, lambda: self.inner.achat(messages, **kwargs))

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        key = self._complete_key(prompt, formatted, kwargs)
        return self._call(
            "complete", key, lambda: self.inner.complete(prompt, formatted=formatted, **kwargs)
        )

    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        key = self._complete_key(prompt, formatted, kwargs)
        return await self._acall(
            "acomplete", key, lambda: self.inner.acomplete(prompt, formatted=formatted, **kwargs)
        )

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        key = self._chat_key(messages, kwargs)
        replayed = self._lookup("stream_chat", key)
        if replayed is not None:
            return (chunk for chunk in replayed)
        return self._recorded(key, self.inner.stream_chat(messages, **kwargs))  # type: ignore[return-value]

    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        key = self._chat_key(messages, kwargs)
        replayed = await self._alookup("astream_chat", key)
        if replayed is not None:
            return _aiter(replayed)  # type: ignore[return-value]
        stream = await self.inner.astream_chat(messages, **kwargs)
        return self._arecorded(key, stream)  # type: ignore[return-value]

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        key = self._complete_key(prompt, formatted, kwargs)
        replayed = self._lookup("stream_complete", key)
        if replayed is not None:
            return (chunk for chunk in replayed)
        stream = self.inner.stream_complete(prompt, formatted=formatted, **kwargs)
        return self._recorded(key, stream)  # type: ignore[return-value]

    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        key = self._complete_key(prompt, formatted, kwargs)
        replayed = await self._alookup("astream_complete", key)
        if replayed is not None:
            return _aiter(replayed)  # type: ignore[return-value]
        stream = await self.inner.astream_complete(prompt, formatted=formatted, **kwargs)
        return self._arecorded(key, stream)  # type: ignore[return-value]

    # -- tools: prepared and read by the inner LLM; the chat itself is cached ----------

    def _function_calling(self) -> FunctionCallingLLM:
        if not isinstance(self.inner, FunctionCallingLLM):
            raise NotImplementedError(f"{type(self.inner).__name__} is not a function-calling LLM")
        return self.inner

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[Any],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        inner = self._function_calling()
        arguments: dict[str, Any] = {
            "user_msg": user_msg,
            "chat_history": chat_history,
            "verbose": verbose,
            "allow_parallel_tool_calls": allow_parallel_tool_calls,
            **kwargs,
        }
        # Integrations written before ``tool_required`` existed do not take it.
        if "tool_required" in inspect.signature(inner._prepare_chat_with_tools).parameters:
            arguments["tool_required"] = tool_required
        return inner._prepare_chat_with_tools(tools, **arguments)

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[Any],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        return self._function_calling()._validate_chat_with_tools_response(
            response, tools, allow_parallel_tool_calls=allow_parallel_tool_calls, **kwargs
        )

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        return self._function_calling().get_tool_calls_from_response(
            response, error_on_no_tool_call=error_on_no_tool_call, **kwargs
        )

    # -- cache management ----------------------------------------------------------------

    def stats(self) -> StatsSnapshot:
        """Hits (by tier), misses, tokens saved, errors and lookup latency of this object."""
        return self._cache.stats()

    def clear(self, *, tenant: str | None = None, llm_string: str | None = None) -> int:
        """Remove this namespace's entries (narrowed to a ``tenant`` and/or a
        :meth:`partition`); raises ``BackendError`` if Redis fails."""
        return self._cache.clear(tenant=tenant, llm_string=llm_string)

    async def aclear(self, *, tenant: str | None = None, llm_string: str | None = None) -> int:
        """Async :meth:`clear`."""
        return await self._cache.aclear(tenant=tenant, llm_string=llm_string)

    def close(self) -> None:
        self._cache.close()

    async def aclose(self) -> None:
        await self._cache.aclose()


#: Defaults of ``CachedLLM``'s arguments: one left at its default next to a
#: prepared ``settings=`` / ``semantic=`` was not given.
_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(CachedLLM.__init__).parameters.items()
    if parameter.default is not inspect.Parameter.empty
}
_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
_RESPONSES = (ChatResponse, CompletionResponse)


def _rebuild(
    llm: LLM, replay_chunk_chars: int, mark_hits: bool, options: dict[str, Any]
) -> CachedLLM:
    return CachedLLM(llm, replay_chunk_chars=replay_chunk_chars, mark_hits=mark_hits, **options)


class _Uncacheable:
    """A stand-in that makes a key fail to serialize (the call is then not cached)."""


def _qualified(function: Any) -> str | None:
    if function is None:
        return None
    name = getattr(function, "__qualname__", type(function).__qualname__)
    return f"{getattr(function, '__module__', '')}.{name}"


def _setting(value: Any) -> Any:
    """An inner LLM setting JSON cannot hold: secrets masked, functions and other
    objects by name (an object's state beyond its type does not partition)."""
    if isinstance(value, (SecretStr, SecretBytes)):
        return "**********"
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return _qualified(value) if callable(value) else f"<{type(value).__qualname__}>"


def _call_argument(value: Any) -> Any:
    """A call argument JSON cannot hold: tools by their name, description and
    parameters; pydantic models and model classes (structured outputs) by their
    data and JSON schema. Anything else makes the call uncacheable (``TypeError``)."""
    metadata = getattr(value, "metadata", None)
    if metadata is not None and hasattr(metadata, "get_parameters_dict"):  # a BaseTool
        return {
            "tool": metadata.name,
            "description": metadata.description,
            "parameters": metadata.get_parameters_dict(),
        }
    if isinstance(value, type) and issubclass(value, BaseModel):
        return {"schema": value.model_json_schema()}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"a call argument of type {type(value).__name__} has no JSON description")


def _as_embedder(embedder: Any, model: str | None) -> Embedder | None:
    if embedder is None or is_embedder(embedder):
        return embedder
    if isinstance(embedder, BaseEmbedding):
        from .embedder import LlamaIndexEmbedder

        return LlamaIndexEmbedder(embedder, model=model)
    raise TypeError(
        "embedder must be a redis_llm_cache Embedder or a LlamaIndex BaseEmbedding, "
        f"got {type(embedder).__name__}"
    )


# -- the semantic tier's view of a prompt ---------------------------------------------------


def _text_of(message: dict[str, Any]) -> str | None:
    parts = []
    for block in message.get("blocks", []):
        if block.get("block_type") != "text":
            return None  # images, audio, tool calls: not a text question
        parts.append(block.get("text", ""))
    return "\n".join(parts)


def semantic_query(prompt: str, scope: ContextScope = "conversation") -> SemanticQuery | None:
    """The user's question and its context in a :class:`CachedLLM` prompt key: a
    ``chat``'s last message if the user sent it (its earlier messages, as ``scope``
    says, are the context), a ``complete``'s whole text."""
    document = orjson.loads(prompt)
    if "complete" in document:
        return SemanticQuery(
            text=document["complete"], context="formatted" if document["formatted"] else ""
        )
    messages = document["chat"]
    if not messages or messages[-1].get("role") != "user":
        return None
    text = _text_of(messages[-1])
    if text is None:
        return None
    earlier = messages[:-1]
    if scope == "system":
        earlier = [m for m in earlier if m.get("role") == "system"]
    elif scope == "none":
        earlier = []
    context = orjson.dumps(earlier, option=orjson.OPT_SORT_KEYS).decode() if earlier else ""
    return SemanticQuery(text=text, context=context)


# -- streams -------------------------------------------------------------------------------


def _text(response: LlamaResponse) -> str:
    if isinstance(response, ChatResponse):
        return response.message.content or ""
    return response.text


def replay(response: LlamaResponse, size: int) -> list[Any]:
    """A cached answer as the chunks of a LlamaIndex stream: each carries the text so
    far and its ``delta``; the last is the whole answer (blocks, tool calls,
    ``additional_kwargs``, ``raw``)."""
    pieces = split_for_replay(_text(response), size)
    chunks: list[Any] = []
    so_far = ""
    for piece in pieces[:-1]:
        so_far += piece
        if isinstance(response, ChatResponse):
            message = ChatMessage(role=response.message.role, content=so_far)
            chunks.append(ChatResponse(message=message, delta=piece))
        else:
            chunks.append(CompletionResponse(text=so_far, delta=piece))
    chunks.append(response.model_copy(update={"delta": pieces[-1]}))
    return chunks


def completed(chunks: Sequence[R]) -> R | None:
    """The answer a completed stream gave: its last chunk (LlamaIndex chunks carry
    the text so far), or ``None`` -- nothing to store -- for an empty stream or one
    whose deltas do not add up to its last chunk's text."""
    if not chunks:
        return None
    last = chunks[-1]
    deltas = [chunk.delta for chunk in chunks]
    if all(delta is not None for delta in deltas) and "".join(deltas) != _text(last):  # type: ignore[arg-type]
        logger.debug("redis-llm-cache: a stream whose chunks do not add up was not cached")
        return None
    return as_stored(last)  # type: ignore[return-value]


async def _aiter(chunks: list[Any]) -> AsyncIterator[Any]:
    for chunk in chunks:
        yield chunk
