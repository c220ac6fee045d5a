"""Real LangChain chat models for the reliability tests: they count their calls."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr


class CountingChatModel(BaseChatModel):
    """Answers ``answer to <last message>`` (``answer <n>`` with ``numbered``, ``n``
    counting real calls) after ``delay`` seconds; with ``fail_first`` the first call
    raises instead (an LLM error). Thread-safe counting."""

    delay: float = 0.0
    numbered: bool = False
    fail_first: bool = False
    _calls: int = PrivateAttr(default=0)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "counting"

    @property
    def calls(self) -> int:
        return self._calls

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        with self._lock:
            self._calls += 1
            number = self._calls
        if self.delay:
            time.sleep(self.delay)
        if self.fail_first and number == 1:
            raise RuntimeError("the model failed")
        text = f"answer {number}" if self.numbered else f"answer to {messages[-1].content}"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])


class NamedChatModel(CountingChatModel):
    """A :class:`CountingChatModel` whose ``model_name`` and ``temperature`` are part of
    its identity, as a provider's are (so they are in LangChain's ``llm_string``)."""

    model_name: str = "named-1"
    temperature: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "named"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "temperature": self.temperature}


class EchoChatModel(GenericFakeChatModel):
    """Answers every prompt with a new message; counts real (uncached) calls."""

    calls: int = 0
    messages: Any = None

    def _generate(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.messages = iter([AIMessage(content=f"answer {self.calls}")])
        return super()._generate(messages, *args, **kwargs)


def answers_from_threads(call: Callable[[], Any], count: int) -> list[Any]:
    """``call().content`` from ``count`` threads released together; exceptions are
    returned in place of answers."""
    barrier = threading.Barrier(count)

    def one() -> Any:
        barrier.wait(timeout=30)
        try:
            return call().content
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: one(), range(count)))
