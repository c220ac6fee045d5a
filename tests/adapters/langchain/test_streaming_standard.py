"""langchain-tests' chat model unit suite, unmodified, on CachedStreamingChatModel."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_tests.unit_tests import ChatModelUnitTests

from redis_llm_cache.langchain import CachedStreamingChatModel


class ProviderLikeModel(GenericFakeChatModel):
    """LangChain's fake chat model with what provider models have: a model name
    and ``bind_tools`` binding tools as call keyword arguments."""

    model_name: str = "fake-chat-1"

    def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> Any:
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)


class TestCachedStreamingChatModelUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[CachedStreamingChatModel]:
        return CachedStreamingChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": ProviderLikeModel(messages=iter(["hello"] * 100))}
