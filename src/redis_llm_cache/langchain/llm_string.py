"""The ``llm_string`` LangChain's cache lookup uses for a chat model.

LangChain keys a chat model's cache entries by ``(prompt, llm_string)``, where
``llm_string`` describes the model and its call parameters. Only LangChain's
private ``_get_llm_string()`` computes it; :func:`llm_string_of` is the public
way, for ``redis-llm-cache warm --llm-string``, ``clear --llm-string`` and
``RedisLLMCache.clear(llm_string=...)``.

Example:
    >>> from langchain_openai import ChatOpenAI
    >>> llm_string_of(ChatOpenAI(model="gpt-4o-mini"))
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel


def llm_string_of(model: BaseChatModel, stop: list[str] | None = None, **kwargs: Any) -> str:
    """The ``llm_string`` under which ``model.invoke(..., stop=stop, **kwargs)`` is cached.

    Args:
        model: The chat model as the application configures it (its parameters,
            e.g. model name and temperature, are part of the string).
        stop: The ``stop`` sequences the application passes to ``invoke``, if any.
        **kwargs: Other call-time parameters the application passes to ``invoke``.

    Returns:
        Exactly the string LangChain passes to the cache's ``lookup``/``update``.

    Raises:
        TypeError: ``model`` is not a LangChain chat model.
    """
    if not isinstance(model, BaseChatModel):
        raise TypeError(f"expected a LangChain chat model, got {type(model).__name__}")
    # LangChain has no public accessor; this is the call its cache lookup makes
    # (BaseChatModel._generate_with_cache), so the strings agree by construction.
    return model._get_llm_string(stop=stop, **kwargs)
