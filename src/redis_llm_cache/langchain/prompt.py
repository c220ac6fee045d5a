"""What the semantic tier compares, taken from LangChain's prompt string.

For chat models LangChain's cache key ``prompt`` is ``dumps(messages)``: a JSON
list of serialized messages. The semantic tier must compare what the user asked
-- the text of the **last human message** -- not that JSON (whose shared
boilerplate makes every prompt look alike). Everything else (system prompt,
earlier turns) becomes the *context*: part of the partition, so a paraphrase
only hits an answer given in the same conversation state.

A prompt whose last message is not from the user (e.g. a tool result in an
agent loop) is not eligible for semantic hits: ``None``. A plain-text prompt
(completion models) is compared whole, with no context.

The JSON is parsed as data (``orjson``); nothing is deserialized into objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import orjson

from ..core.semantic.tier import SemanticQuery

ContextScope = Literal["conversation", "system", "none"]


def _message_type(message: Any) -> str | None:
    if not isinstance(message, dict):
        return None
    kwargs = message.get("kwargs")
    if isinstance(kwargs, dict) and isinstance(kwargs.get("type"), str):
        return str(kwargs["type"])
    ids = message.get("id")
    if isinstance(ids, list) and ids and isinstance(ids[-1], str):
        name = ids[-1].removesuffix("Chunk").removesuffix("Message").lower()
        return {"human": "human", "ai": "ai", "system": "system", "tool": "tool"}.get(name, name)
    return None


def _text_of(message: dict[str, Any]) -> str | None:
    content = message.get("kwargs", {}).get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and block.get("type") in (None, "text"):
                text = block.get("text")
                if isinstance(text, str):
                    parts.append(text)
            else:
                return None  # images, audio, files: not a text question
        return "\n".join(parts)
    return None


def semantic_query(
    prompt: str,
    scope: ContextScope = "conversation",
    question: Callable[[str], str | None] | None = None,
) -> SemanticQuery | None:
    """The user's question and its context in a LangChain cache ``prompt``.

    Args:
        prompt: The ``prompt`` LangChain passes to ``BaseCache.lookup``/``update``.
        scope: What must match besides the question: ``"conversation"`` (system
            prompt and all earlier turns; default), ``"system"`` (system prompt
            only) or ``"none"``.
        question: Picks the question out of the last user message's text (of a
            template); the rest of that text joins the context. ``None`` from it:
            no semantic match for this prompt.
    """
    found = _semantic_query(prompt, scope)
    if found is None or question is None:
        return found
    return _with_question(found, question)


def _with_question(
    found: SemanticQuery, question: Callable[[str], str | None]
) -> SemanticQuery | None:
    asked = question(found.text)
    if asked is None:
        return None
    if not isinstance(asked, str):
        raise TypeError(f"semantic_text must return a str or None, got {type(asked).__name__}")
    # The text around the question (instructions, retrieved context) must match
    # exactly: it joins the partition. The unit separator keeps the parts apart.
    before, found_it, after = found.text.partition(asked)
    rest = f"{before}\x1f{after}" if found_it else found.text
    return SemanticQuery(text=asked, context=f"{found.context}\x1e{rest}")


def _semantic_query(prompt: str, scope: ContextScope) -> SemanticQuery | None:
    stripped = prompt.lstrip()
    if not stripped.startswith("[{"):
        return SemanticQuery(text=prompt, context="")
    try:
        messages = orjson.loads(prompt)
    except orjson.JSONDecodeError:
        return SemanticQuery(text=prompt, context="")
    if (
        not isinstance(messages, list)
        or not messages
        or not all(isinstance(m, dict) and m.get("lc") == 1 for m in messages)
    ):
        return SemanticQuery(text=prompt, context="")
    last = messages[-1]
    if _message_type(last) != "human":
        return None
    text = _text_of(last)
    if text is None:
        return None
    earlier = messages[:-1]
    if scope == "system":
        earlier = [m for m in earlier if _message_type(m) == "system"]
    elif scope == "none":
        earlier = []
    context = orjson.dumps(earlier, option=orjson.OPT_SORT_KEYS).decode() if earlier else ""
    return SemanticQuery(text=text, context=context)
