"""Token counts read from LangChain messages: what a cached answer cost to make,
and how much of a prompt the provider served from its own prefix cache.

Where providers put those numbers (checked against ``langchain_core.messages.ai``
``UsageMetadata`` / ``InputTokenDetails`` and the providers' API references):

* ``usage_metadata`` (any integration that fills it):
  ``input_token_details["cache_read"]`` (and ``cache_creation``, written), of
  ``input_tokens``;
* OpenAI raw usage, ``response_metadata["token_usage"]``:
  ``prompt_tokens_details["cached_tokens"]`` of ``prompt_tokens``;
* DeepSeek raw usage, same place: ``prompt_cache_hit_tokens`` of ``prompt_tokens``;
* Anthropic raw usage, ``response_metadata["usage"]``: ``cache_read_input_tokens``
  (and ``cache_creation_input_tokens``); its ``input_tokens`` excludes both.

The normalized ``usage_metadata`` wins when it has ``input_token_details``; the raw
fields are read otherwise (older integrations, OpenAI-compatible servers). Nothing
here raises on odd shapes: a field that is not a non-negative int counts as absent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from langchain_core.messages import BaseMessage
from langchain_core.outputs import Generation

from ..core.stats import ProviderUsage, TokenUsage

UNKNOWN_MODEL = "unknown"


def _count(value: Any) -> int | None:
    if type(value) is not int or value < 0:  # bool is not a count
        return None
    return value


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def model_name(message: BaseMessage, fallback: str = UNKNOWN_MODEL) -> str:
    """The model named in a message's ``response_metadata`` (``model_name`` for
    OpenAI-style integrations, ``model`` for Anthropic and Ollama), else ``fallback``."""
    metadata = _mapping(message.response_metadata)
    for field in ("model_name", "model"):
        name = metadata.get(field)
        if isinstance(name, str) and name:
            return name
    return fallback


def _message_of(generation: Generation) -> BaseMessage | None:
    message = getattr(generation, "message", None)
    return message if isinstance(message, BaseMessage) else None


def generations_usage(generations: Sequence[Generation]) -> TokenUsage | None:
    """Tokens the stored answer cost when it was made (with the prompt tokens the
    provider served from its own cache then), or ``None`` if it carries no
    ``usage_metadata``. Integrations attach the response's usage to every
    generation of it (``n > 1``), so the first one that has usage is the answer's.

    Runs on every hit: fields are read from the models' ``__dict__`` (a missing
    attribute would go through pydantic's ``__getattr__`` and an exception, ~2 us
    for a plain ``Generation``), and plain ``dict`` checks, no ``Mapping`` ABC lookups."""
    try:
        for generation in generations:
            message = generation.__dict__.get("message")
            if message is None:
                continue
            fields = message.__dict__
            usage = fields.get("usage_metadata")
            if not usage or type(usage) is not dict:
                continue
            metadata = fields.get("response_metadata")
            model = (metadata.get("model_name") or metadata.get("model")) if metadata else None
            tokens_in, tokens_out = usage.get("input_tokens"), usage.get("output_tokens")
            tokens_in = tokens_in if type(tokens_in) is int and tokens_in > 0 else 0
            return (
                model if type(model) is str else UNKNOWN_MODEL,
                tokens_in,
                tokens_out if type(tokens_out) is int and tokens_out > 0 else 0,
                min(tokens_in, _cached_input(message, usage, metadata)),
            )
    except Exception:  # a hit must never fail on bookkeeping
        return None
    return None


def _cached_input(message: Any, usage: dict[str, Any], metadata: Any) -> int:
    """Prompt tokens the provider served from its prompt cache for this answer:
    ``input_token_details["cache_read"]`` when the integration normalized it, else
    the raw provider fields (read only when there are some, to keep hits cheap)."""
    details = usage.get("input_token_details")
    if type(details) is dict:
        read = _count(details.get("cache_read"))
        if read is not None:
            return read
    if metadata and ("token_usage" in metadata or "usage" in metadata):
        counted = provider_usage(message)
        return counted.cache_read_tokens if counted is not None else 0
    return 0


def served_from_llm_cache(message: BaseMessage) -> bool:
    """``True`` for a message an LLM cache served: LangChain zeroes ``total_cost`` in
    the usage of every cache hit it returns; ``mark_hits`` also marks ours."""
    usage = _mapping(getattr(message, "usage_metadata", None))
    if usage.get("total_cost") == 0:
        return True
    return bool(_mapping(_mapping(message.response_metadata).get("cache")).get("hit"))


def provider_usage(
    message: BaseMessage | None, llm_output: Mapping[str, Any] | None = None
) -> ProviderUsage | None:
    """Prompt tokens of one response and the provider's prefix-cache reads and
    writes among them; ``None`` when the response reports no token counts.
    ``message`` is ``None`` for completion models: then only ``llm_output`` counts."""
    usage = _mapping(getattr(message, "usage_metadata", None))
    metadata = _mapping(getattr(message, "response_metadata", None))
    raw = _mapping(metadata.get("token_usage")) or _mapping(_mapping(llm_output).get("token_usage"))
    anthropic = _mapping(metadata.get("usage"))
    fallback = str(_mapping(llm_output).get("model_name") or UNKNOWN_MODEL)
    model = fallback if message is None else model_name(message, fallback)

    details = _mapping(usage.get("input_token_details"))
    if not (usage or raw or anthropic):
        return None
    # Each number from the first source that has it: a normalized field left out
    # by an integration (DeepSeek's hits, say) is still found in the raw usage.
    read = _first(
        details.get("cache_read"),
        _mapping(raw.get("prompt_tokens_details")).get("cached_tokens"),
        raw.get("prompt_cache_hit_tokens"),  # DeepSeek
        anthropic.get("cache_read_input_tokens"),
    )
    created = _first(details.get("cache_creation"), anthropic.get("cache_creation_input_tokens"))
    prompt = _first(usage.get("input_tokens"), raw.get("prompt_tokens"))
    if prompt is None and anthropic:
        # Anthropic's raw input_tokens excludes both cache fields.
        prompt = (_count(anthropic.get("input_tokens")) or 0) + (read or 0) + (created or 0)
    return ProviderUsage(model, prompt or 0, read or 0, created or 0)


def _first(*values: Any) -> int | None:
    for value in values:
        count = _count(value)
        if count is not None:
            return count
    return None


def describe_stored(body: bytes) -> dict[str, Any]:
    """What an operator may see of a stored answer (no text): how many generations,
    the model that made it and its tokens. Reads the codec's JSON as data;
    anything unexpected gives ``{}``."""
    try:
        data = orjson.loads(body)
        items = data["g"]
        first = items[0]
        if first.get("k") == "c":
            message = first["m"]
        elif first.get("k") == "lc":
            message = first["o"]["kwargs"]["message"]["kwargs"]
        else:
            return {"generations": len(items)}
        metadata = _mapping(message.get("response_metadata"))
        usage = _mapping(message.get("usage_metadata"))
        model = next(
            (metadata[f] for f in ("model_name", "model") if isinstance(metadata.get(f), str)),
            None,
        )
        return {
            "generations": len(items),
            "model": model,
            "input_tokens": _count(usage.get("input_tokens")),
            "output_tokens": _count(usage.get("output_tokens")),
        }
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        return {}
