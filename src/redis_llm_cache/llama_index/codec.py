"""LlamaIndex ``ChatResponse`` / ``CompletionResponse`` <-> JSON bytes, faithfully.

Stored body (JSON)::

    {"li": "<llama-index-core>", "k": "chat" | "completion", "r": fields, "u": usage}

``r``: the response's fields as pydantic dumps them in JSON mode (the message with
its content blocks -- text, tool calls, thinking, images -- ``additional_kwargs``,
``logprobs`` and ``raw``); ``u``: the answer's token usage,
``[model, input, output, input_cached]`` or ``null``, computed when it is written so
a hit's savings are counted without reading the response.

``delta`` is not stored: a cached answer is a whole answer (a stream's last chunk
carries its last piece only). ``raw`` -- the provider's own response object -- is
kept when it is JSON data; a pydantic object (e.g. an OpenAI ``ChatCompletion``) is
kept as its JSON dump, so a hit's ``raw`` is a ``dict``; anything else is dropped.

**Faithful**: ``encode`` decodes what it produced and compares it with the response
(``raw`` and ``delta`` as just described); one that would come back different (a
tuple turned list, provider objects in ``additional_kwargs``) raises
``UnsupportedValueError`` and is not stored. Never pickle, never ``eval``: entries
are rebuilt by pydantic validation of the stored JSON.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import orjson
from llama_index.core.base.llms.types import ChatResponse, CompletionResponse
from pydantic import BaseModel

from ..core.stats import TokenUsage
from ..errors import CorruptEntryError, UnsupportedValueError

#: The llama-index-core version that wrote an entry (for operators; any version reads it).
WRITER_VERSION = version("llama-index-core")

#: Where a hit's tier (and a semantic hit's similarity) rides from the codec to the
#: adapter, which takes it off (see ``CachedLLM.mark_hits``).
HIT_MARK = "_redis_llm_cache_hit"

#: A cached LlamaIndex answer.
LlamaResponse = ChatResponse | CompletionResponse

_KINDS: dict[str, type[ChatResponse] | type[CompletionResponse]] = {
    "chat": ChatResponse,
    "completion": CompletionResponse,
}
_JSON_SCALARS = (str, int, float, bool, type(None))


def storable_raw(raw: Any) -> Any:
    """``raw`` as a hit returns it: JSON data as it is, a pydantic object as its JSON
    dump, anything else ``None``."""
    if isinstance(raw, BaseModel):
        try:
            return raw.model_dump(mode="json")
        except Exception:  # a provider object that cannot dump itself is not kept
            return None
    if isinstance(raw, (dict, list, *_JSON_SCALARS)):
        return raw
    return None


def as_stored(response: LlamaResponse) -> LlamaResponse:
    """``response`` as a hit returns it: ``raw`` kept as :func:`storable_raw` says,
    no ``delta`` (a shallow copy; ``response`` is left as it is)."""
    return response.model_copy(update={"raw": storable_raw(response.raw), "delta": None})


def _count(value: Any) -> int:
    return value if type(value) is int and value > 0 else 0


def response_usage(response: LlamaResponse, model: str) -> TokenUsage | None:
    """Tokens the answer cost, where LlamaIndex integrations put them:
    ``additional_kwargs`` (``prompt_tokens`` / ``completion_tokens``, as the OpenAI
    integration does) or ``raw["usage"]`` (OpenAI-style ``prompt_tokens`` /
    ``completion_tokens`` with ``prompt_tokens_details.cached_tokens``, or
    Anthropic-style ``input_tokens`` / ``output_tokens`` with
    ``cache_read_input_tokens``); ``None`` when neither has counts. ``model``: the
    name to count them under when ``raw`` names none. Never raises."""
    try:
        raw = storable_raw(response.raw)
        raw = raw if isinstance(raw, dict) else {}
        usage = raw.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        extra = response.additional_kwargs
        tokens_in = _count(
            extra.get("prompt_tokens") or usage.get("prompt_tokens") or usage.get("input_tokens")
        )
        tokens_out = _count(
            extra.get("completion_tokens")
            or usage.get("completion_tokens")
            or usage.get("output_tokens")
        )
        if not (tokens_in or tokens_out):
            return None
        details = usage.get("prompt_tokens_details")
        cached = _count(
            (details.get("cached_tokens") if isinstance(details, dict) else None)
            or usage.get("cache_read_input_tokens")
        )
        named = raw.get("model")
        return (named if isinstance(named, str) and named else model, tokens_in, tokens_out,
                min(cached, tokens_in))  # fmt: skip
    except Exception:  # bookkeeping must never fail a call
        return None


class ResponseCodec:
    """Encodes a LlamaIndex ``ChatResponse`` or ``CompletionResponse`` for the exact tier.

    Args:
        model: The name token usage is counted under when the response names none
            (the wrapped LLM's ``metadata.model_name``).

    A hit (``tier`` given) carries ``additional_kwargs[HIT_MARK] = {"hit": True,
    "tier": ..., **details}``, for the adapter to report and take off.
    """

    def __init__(self, *, model: str = "unknown") -> None:
        self.model = model

    def encode(self, response: LlamaResponse) -> bytes:
        kind = next((k for k, cls in _KINDS.items() if type(response) is cls), None)
        if kind is None:
            raise UnsupportedValueError(
                f"expected a ChatResponse or CompletionResponse, got {type(response).__name__}"
            )
        stored = as_stored(response)
        try:
            fields = stored.model_dump(mode="json", exclude={"delta"})
            body = orjson.dumps(
                {
                    "li": WRITER_VERSION,
                    "k": kind,
                    "r": fields,
                    "u": response_usage(stored, self.model),
                }
            )
        except Exception as exc:  # pydantic or orjson: the value is not JSON data
            raise UnsupportedValueError(f"value is not JSON-serializable: {exc}") from exc
        try:
            round_trip = self.decode(body, tier=None)
        except CorruptEntryError as exc:
            raise UnsupportedValueError(f"value does not survive a round trip: {exc}") from exc
        if round_trip != stored:
            raise UnsupportedValueError(
                "value would not come back equal (e.g. tuples or provider objects in "
                "additional_kwargs); not cached"
            )
        return body

    def decode(
        self, body: bytes, *, tier: str | None, details: dict[str, Any] | None = None
    ) -> LlamaResponse:
        """``tier=None``: decode as stored (no hit mark), for round trips."""
        return self.decode_hit(body, tier=tier, details=details)[0]

    def decode_hit(
        self, body: bytes, *, tier: str | None, details: dict[str, Any] | None = None
    ) -> tuple[LlamaResponse, TokenUsage | None]:
        """:meth:`decode`, with the token usage stored beside the response."""
        try:
            document = orjson.loads(body)
            fields = document["r"]
            if type(fields) is not dict:
                raise CorruptEntryError("no response in entry")
            if tier is not None:
                mark = {"hit": True, "tier": tier, **(details or {})}
                fields["additional_kwargs"] = {**fields["additional_kwargs"], HIT_MARK: mark}
            response = _KINDS[document["k"]].model_validate(fields)
            usage = _checked_usage(document.get("u"))
        except CorruptEntryError:
            raise
        except Exception as exc:  # any shape problem in stored data is corruption
            raise CorruptEntryError(f"undecodable entry: {type(exc).__name__}: {exc}") from exc
        return response, usage


def _checked_usage(stored: Any) -> TokenUsage | None:
    if stored is None:
        return None
    model, tokens_in, tokens_out, cached = stored
    if not (type(model) is str and all(type(n) is int for n in (tokens_in, tokens_out, cached))):
        raise CorruptEntryError("malformed usage in entry")
    return model, tokens_in, tokens_out, cached
