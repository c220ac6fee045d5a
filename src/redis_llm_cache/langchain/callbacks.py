"""Provider-side prompt caching, counted: a LangChain callback handler.

OpenAI, DeepSeek and Anthropic cache long prompt prefixes on their side and bill
the cached part at a discount. Their responses say how many prompt tokens came
from that cache (see :mod:`.usage` for the fields). This handler adds those
numbers to a cache's stats, so ``stats()`` and the metrics show both savings: the
calls our cache answered, and the prompt tokens the provider's cache served on
the calls that still went to the model.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult

from .. import ProviderCacheSnapshot
from ..core.stats import CacheStats
from .usage import provider_usage, served_from_llm_cache


class ProviderCacheCallback(BaseCallbackHandler):
    """Records each model response's prompt tokens and provider cache reads.

    A response without token counts records nothing; an answer served by an LLM
    cache (ours or any other LangChain cache) is skipped, since no provider saw
    that call. Counting never raises into the application. Thread-safe, and cheap
    enough to run inline on the event loop (``run_inline``), so it serves sync
    and async calls alike.

    Args:
        cache: Record into this cache's stats (a ``RedisLLMCache`` or a core
            ``ResponseCache``); ``None``: into counters of this handler's own.

    Example:
        >>> from redis_llm_cache.langchain.callbacks import ProviderCacheCallback
        >>> llm_cache = RedisLLMCache(redis_url="redis://localhost:6379")
        >>> callback = ProviderCacheCallback(llm_cache)
        >>> model = ChatOpenAI(model="gpt-4o-mini", callbacks=[callback])
        >>> llm_cache.stats()["provider_cache"]["cache_read_tokens"]
    """

    run_inline = True
    raise_error = False

    def __init__(self, cache: Any = None) -> None:
        super().__init__()
        self._stats = _stats_counter_of(cache)

    def on_llm_end(
        self,
        response: LLMResult,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        completion_counted = False
        for generations in response.generations:
            # The provider reported one usage per response; every generation of it
            # carries that same usage, so only the first one is read.
            for generation in generations[:1]:
                message = getattr(generation, "message", None)
                if message is None:
                    # A completion model: LangChain reports the prompts it sent (never
                    # cached ones) with one combined llm_output; count it once.
                    if completion_counted:
                        continue
                    completion_counted = True
                elif served_from_llm_cache(message):
                    continue
                usage = provider_usage(message, response.llm_output)
                if usage is not None:
                    self._stats.record_provider_usage(usage)

    def stats(self) -> ProviderCacheSnapshot:
        """Responses, prompt tokens and provider cache reads/writes, total and by model."""
        return ProviderCacheSnapshot.from_mapping(self._stats.snapshot()["provider_cache"])


def _stats_counter_of(cache: Any) -> CacheStats:
    if cache is None:
        return CacheStats()
    core = getattr(cache, "core", cache)  # RedisLLMCache delegates to a ResponseCache
    counter = getattr(core, "stats_counter", None)
    if not isinstance(counter, CacheStats):
        raise TypeError(
            f"cache must be a RedisLLMCache or ResponseCache, got {type(cache).__name__}"
        )
    return counter


__all__ = ["ProviderCacheCallback"]
