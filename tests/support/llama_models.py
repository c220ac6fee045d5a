"""Real LlamaIndex models for the tests: they count the calls they answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import numpy as np
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
    MessageRole,
)
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from pydantic import Field


class CountingLLM(CustomLLM):
    """Answers ``answer <n>: <last line of the prompt>`` (``n`` counts real calls),
    with token usage in ``raw`` as OpenAI reports it; streams in 3-word pieces.
    ``model``, ``temperature`` and ``max_tokens`` are settings, as a provider's are.
    Chat goes through ``complete`` (CustomLLM), so it counts there too."""

    model: str = "counting-1"
    temperature: float = 0.0
    max_tokens: int = 64
    chat_model: bool = False
    # Not a setting: excluded from the model's dump, as a provider's clients are.
    calls: list[str] = Field(default_factory=list, exclude=True)

    @classmethod
    def class_name(cls) -> str:
        return "CountingLLM"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            model_name=self.model,
            num_output=self.max_tokens,
            context_window=4096,
            is_chat_model=self.chat_model,
        )

    def _answer(self, prompt: str) -> CompletionResponse:
        self.calls.append(prompt)
        last_line = prompt.strip().splitlines()[-1] if prompt.strip() else ""
        text = f"answer {len(self.calls)}: {last_line[:60]}"
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())}
        return CompletionResponse(text=text, raw={"model": self.model, "usage": usage})

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return self._answer(prompt)

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        answer = self._answer(prompt)
        words = answer.text.split(" ")

        def pieces() -> CompletionResponseGen:
            text = ""
            for start in range(0, len(words), 3):
                delta = " ".join(words[start : start + 3]) + (" " if start + 3 < len(words) else "")
                text += delta
                done = start + 3 >= len(words)
                yield CompletionResponse(text=text, delta=delta, raw=answer.raw if done else None)

        return pieces()


class ToolCallingLLM(FunctionCallingLLM):
    """A function-calling chat model: given tools, it calls the first with
    ``{"query": <last message>}`` (tool calls in ``additional_kwargs``, as JSON
    data); without tools it answers ``answer <n>``. Counts real calls; native
    async and streaming methods of its own."""

    model: str = "tools-1"
    calls: int = Field(default=0, exclude=True)

    @classmethod
    def class_name(cls) -> str:
        return "ToolCallingLLM"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            model_name=self.model, is_chat_model=True, is_function_calling_model=True
        )

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        self.calls += 1
        tools = kwargs.get("tools") or []
        if not tools:
            return ChatResponse(
                message=ChatMessage(role=MessageRole.ASSISTANT, content=f"answer {self.calls}"),
                additional_kwargs={"prompt_tokens": 5, "completion_tokens": 2},
            )
        call = {
            "id": f"call-{self.calls}",
            "name": tools[0]["name"],
            "arguments": json.dumps({"query": messages[-1].content}),
        }
        message = ChatMessage(
            role=MessageRole.ASSISTANT, content="", additional_kwargs={"tool_calls": [call]}
        )
        return ChatResponse(message=message, raw={"model": self.model, "finish": "tool_calls"})

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self.chat(messages, **kwargs)

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        answer = self.chat(messages, **kwargs)

        def chunks() -> ChatResponseGen:
            content = answer.message.content or ""
            half = len(content) // 2
            yield ChatResponse(message=ChatMessage(role="assistant", content=content[:half]),
                               delta=content[:half])  # fmt: skip
            yield answer.model_copy(update={"delta": content[half:]})

        return chunks()

    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        chunks = list(self.stream_chat(messages, **kwargs))

        async def replay() -> AsyncGenerator[ChatResponse, None]:
            for chunk in chunks:
                yield chunk

        return replay()

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        raise NotImplementedError("a chat model")

    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        raise NotImplementedError("a chat model")

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        raise NotImplementedError("a chat model")

    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        raise NotImplementedError("a chat model")

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
        messages = list(chat_history or [])
        if user_msg is not None:
            messages.append(
                user_msg if isinstance(user_msg, ChatMessage) else ChatMessage(content=user_msg)
            )
        specs = [
            {"name": tool.metadata.name, "parameters": tool.metadata.get_parameters_dict()}
            for tool in tools
        ]
        return {"messages": messages, "tools": specs, **kwargs}

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        calls = response.message.additional_kwargs.get("tool_calls", [])
        if not calls and error_on_no_tool_call:
            raise ValueError("no tool call")
        return [
            ToolSelection(
                tool_id=call["id"],
                tool_name=call["name"],
                tool_kwargs=json.loads(call["arguments"]),
            )
            for call in calls
        ]


DIMS = 8


def vector_of(kind: str, text: str) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(f"{kind}\0{text}".encode()).digest()[:8], "big")
    return [float(x) for x in np.random.default_rng(seed).normal(size=DIMS)]


class CountingEmbedding(BaseEmbedding):
    """Deterministic LlamaIndex embedding; counts the texts each private method gets."""

    calls: list[tuple[str, list[str]]] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "CountingEmbedding"

    def _record(self, method: str, texts: list[str]) -> None:
        self.calls.append((method, texts))

    def _get_query_embedding(self, query: str) -> list[float]:
        self._record("query", [query])
        return vector_of("query", query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        self._record("aquery", [query])
        return vector_of("query", query)

    def _get_text_embedding(self, text: str) -> list[float]:
        self._record("text", [text])
        return vector_of("text", text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        self._record("texts", list(texts))
        return [vector_of("text", t) for t in texts]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        self._record("atexts", list(texts))
        return [vector_of("text", t) for t in texts]

    def texts(self) -> list[str]:
        return [t for _, batch in self.calls for t in batch]


def counting(**kwargs: Any) -> CountingEmbedding:
    return CountingEmbedding(model_name="counting-v1", **kwargs)
