"""``RedisLLMCache``: LangChain's ``BaseCache`` on the redis-llm-cache core."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from langchain_core.caches import BaseCache
from langchain_core.outputs import Generation

from .. import Embedder, ResponseCache, StatsSnapshot
from ..config import (
    DEFAULT_NAMESPACE,
    DEFAULT_TIMEOUT_S,
    CacheSettings,
    QuestionOf,
    SemanticSettings,
    Strategy,
    llm_cache_settings,
)
from ..core.embedding.embedder import is_embedder
from ..redis.connection import AsyncClient, SyncClient
from .codec import GenerationCodec
from .leases import watch_failed_calls
from .prompt import ContextScope, semantic_query
from .usage import generations_usage


class RedisLLMCache(BaseCache):
    """LLM response cache for LangChain, stored in Redis: exact, and with an
    ``embedder`` also semantic (a paraphrase of an answered question).

    A lookup that misses, or that cannot reach Redis within ``timeout`` seconds,
    returns ``None`` and LangChain calls the model; a failed write is skipped.
    Failures are counted in :meth:`stats` (fail-open; pass ``fail_open=False`` to
    raise ``BackendError`` instead). Every generation is stored, in order, with
    tool calls, usage and response metadata; values are JSON, never pickle.

    Args:
        redis_url: ``redis://`` / ``rediss://`` URL; default ``$REDIS_URL`` or
            ``redis://localhost:6379/0``.
        redis_client / async_redis_client: Reuse clients you built (their
            timeouts and retries then apply instead of ours).
        namespace: Key prefix; :meth:`clear` touches only this namespace.
        tenant: Partition; entries are never served across tenants.
        ttl: Seconds an entry lives (set atomically with the write).
        sliding_ttl: Renew the TTL on every hit.
        max_entries: Bound on entries in the namespace, evicting least recently used.
        fresh_message_ids: Give each hit's messages a new id (default ``True``).
        mark_hits: Add ``response_metadata["cache"] = {"hit": True, "tier": ...}``
            (semantic hits also carry ``similarity`` and ``matched_prompt``).
        embedder: Turns on the semantic tier: any core ``Embedder``
            (``redis_llm_cache.embedders.LocalEmbedder()``, ``OllamaEmbedder()``), or
            a LangChain ``Embeddings`` (wrapped; name it with ``embedder_model=``).
        semantic_threshold: Minimum cosine similarity for a semantic hit; default
            calibrated for the embedder (conservative, with a warning, otherwise).
        semantic_strategy: ``"auto"``, ``"search"``, ``"vectorset"`` or ``"client"``.
        semantic_context: What must match besides the question: ``"conversation"``
            (system prompt and earlier turns; default), ``"system"`` or ``"none"``.
        semantic_verifier: Second check of candidates above the threshold:
            ``"default"`` (numbers, negation, word order; shipped weights), ``None``
            (the threshold alone decides) or a ``Verifier`` such as
            ``JudgedVerifier(judge=ChatModelJudge(your_chat_model))``.
        semantic_error_budget: Share of semantic lookups allowed to serve a wrong
            answer (``0 < delta < 1``); the tier then learns where paraphrases end
            from ``semantic_judge``, :meth:`report_wrong_hit` and
            :meth:`label_semantic` (README, "Error budget"). ``None``: off.
        semantic_judge: Labels explored candidates in the background (a callable
            ``(query, candidate) -> bool | float``, e.g. ``ChatModelJudge(model)``).
        semantic_text: For prompts built from a template: ``text -> question``,
            the part of the last user message to compare (e.g.
            ``lambda text: text.rsplit("Question:", 1)[-1]``); the rest of that
            message must match exactly. ``None`` from it: exact matching only.
        semantic: A prepared ``SemanticSettings`` (threshold, strategy, the second-stage
            ``verifier`` -- default ``"default"`` -- and ``bypass`` rules for
            personal, time-sensitive and tool-calling prompts); then
            ``semantic_threshold``, ``semantic_strategy``, ``semantic_verifier`` and
            ``semantic_text`` must not be given (``ConfigurationError`` names them).
        settings: A prepared :class:`~redis_llm_cache.CacheSettings`; then the
            individual settings arguments (``namespace``, ``ttl``, ``timeout`` ...)
            must not be given (``ConfigurationError`` names them).

    Example:
        >>> from langchain_core.globals import set_llm_cache
        >>> from redis_llm_cache.langchain import RedisLLMCache
        >>> set_llm_cache(RedisLLMCache(redis_url="redis://localhost:6379", ttl=3600))
        >>> # or for one model only: ChatOpenAI(..., cache=RedisLLMCache(...))
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        redis_client: SyncClient | None = None,
        async_redis_client: AsyncClient | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        tenant: str = "",
        ttl: float | None = None,
        sliding_ttl: bool = False,
        max_entries: int | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        fail_open: bool = True,
        fresh_message_ids: bool = True,
        mark_hits: bool = False,
        embedder: Any = None,
        embedder_model: str | None = None,
        semantic_threshold: float | None = None,
        semantic_strategy: Strategy = "auto",
        semantic_context: ContextScope = "conversation",
        semantic_verifier: Any = "default",
        semantic_error_budget: float | None = None,
        semantic_judge: Any = None,
        semantic_text: QuestionOf | None = None,
        semantic: SemanticSettings | None = None,
        settings: CacheSettings | None = None,
        **more_settings: Any,
    ) -> None:
        arguments = {name: value for name, value in locals().items() if name in _DEFAULTS}
        settings, semantic = llm_cache_settings(arguments, more_settings, _DEFAULTS)
        self._cache: ResponseCache[list[Generation]] = ResponseCache(
            codec=GenerationCodec(fresh_message_ids=fresh_message_ids, mark_hits=mark_hits),
            settings=settings,
            redis_url=redis_url,
            redis_client=redis_client,
            async_redis_client=async_redis_client,
            embedder=_as_embedder(embedder, embedder_model),
            semantic=semantic,
            semantic_query=lambda prompt: semantic_query(prompt, semantic_context),
            usage_of=generations_usage,
        )
        if settings.stampede_protection:
            watch_failed_calls(self)

    @property
    def settings(self) -> CacheSettings:
        return self._cache.settings

    @property
    def core(self) -> ResponseCache[list[Generation]]:
        """The framework-free cache this adapter delegates to."""
        return self._cache

    def lookup(self, prompt: str, llm_string: str) -> list[Generation] | None:
        return self._cache.lookup(prompt, llm_string)

    async def alookup(self, prompt: str, llm_string: str) -> list[Generation] | None:
        return await self._cache.alookup(prompt, llm_string)

    def update(self, prompt: str, llm_string: str, return_val: Sequence[Generation]) -> None:
        self._cache.update(prompt, llm_string, return_val)  # type: ignore[arg-type]

    async def aupdate(self, prompt: str, llm_string: str, return_val: Sequence[Generation]) -> None:
        await self._cache.aupdate(prompt, llm_string, return_val)  # type: ignore[arg-type]

    def store_many(
        self,
        items: Iterable[tuple[str, str, Sequence[Generation]]],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Store many ``(prompt, llm_string, generations)`` in pipelined batches
        (warming the cache; see ``ResponseCache.store_many``). Returns how many
        were stored; ``progress(done, stored)`` after each batch."""
        return self._cache.store_many(_as_lists(items), progress=progress)

    async def astore_many(
        self,
        items: Iterable[tuple[str, str, Sequence[Generation]]],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Async :meth:`store_many`."""
        return await self._cache.astore_many(_as_lists(items), progress=progress)

    def clear(self, **kwargs: Any) -> None:
        """Remove this namespace's entries (all tenants). ``tenant=...`` and/or
        ``llm_string=...`` narrow it. Never ``FLUSHDB``. Raises ``BackendError``
        if Redis fails: a clear must not silently not happen."""
        self._cache.clear(**_clear_scope(kwargs))

    async def aclear(self, **kwargs: Any) -> None:
        """Async :meth:`clear`."""
        await self._cache.aclear(**_clear_scope(kwargs))

    def release_leases(self) -> None:
        """Free the stampede leases of this caller's failed model call (done for
        you when a LangChain model raises); see :meth:`ResponseCache.release_leases`."""
        self._cache.release_leases()

    async def arelease_leases(self) -> None:
        """Async :meth:`release_leases`."""
        await self._cache.arelease_leases()

    def report_wrong_hit(self, prompt: str, llm_string: str) -> bool:
        """Feedback: the semantic hit for ``prompt`` answered another question; that
        stored question stops answering paraphrases. See
        :meth:`ResponseCache.report_wrong_hit`."""
        return self._cache.report_wrong_hit(prompt, llm_string)

    async def areport_wrong_hit(self, prompt: str, llm_string: str) -> bool:
        """Async :meth:`report_wrong_hit`."""
        return await self._cache.areport_wrong_hit(prompt, llm_string)

    def label_semantic(self, prompt: str, llm_string: str, same: bool) -> bool:
        """Feedback for the error budget: whether the stored question nearest to
        ``prompt`` wants the same answer. See :meth:`ResponseCache.label_semantic`."""
        return self._cache.label_semantic(prompt, llm_string, same)

    async def alabel_semantic(self, prompt: str, llm_string: str, same: bool) -> bool:
        """Async :meth:`label_semantic`."""
        return await self._cache.alabel_semantic(prompt, llm_string, same)

    def stats(self) -> StatsSnapshot:
        """Hits, misses, errors, evictions and lookup latency of this object."""
        return self._cache.stats()

    def close(self) -> None:
        self._cache.close()

    async def aclose(self) -> None:
        await self._cache.aclose()


#: Defaults of ``RedisLLMCache``'s arguments: one left at its default next to a
#: prepared ``settings=`` / ``semantic=`` was not given.
_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(RedisLLMCache.__init__).parameters.items()
    if parameter.default is not inspect.Parameter.empty
}


def _clear_scope(kwargs: dict[str, Any]) -> dict[str, str | None]:
    unknown = set(kwargs) - {"tenant", "llm_string"}
    if unknown:
        raise TypeError(f"clear() got unexpected arguments: {sorted(unknown)}")
    return {"tenant": kwargs.get("tenant"), "llm_string": kwargs.get("llm_string")}


def _as_embedder(embedder: Any, model: str | None) -> Embedder | None:
    """A core ``Embedder`` from what the user passed (LangChain ``Embeddings`` are
    adapted; see :class:`~redis_llm_cache.langchain.embedder.LangChainEmbedder`)."""
    if embedder is None or is_embedder(embedder):
        return embedder
    from langchain_core.embeddings import Embeddings

    if isinstance(embedder, Embeddings):
        from .embedder import LangChainEmbedder

        return LangChainEmbedder(embedder, model=model)
    raise TypeError(
        "embedder must be a redis_llm_cache Embedder or LangChain Embeddings, "
        f"got {type(embedder).__name__}"
    )


def _as_lists(
    items: Iterable[tuple[str, str, Sequence[Generation]]],
) -> Iterator[tuple[str, str, list[Generation]]]:
    """The core stores ``list[Generation]`` (the codec's type); read lazily."""
    for prompt, llm_string, generations in items:
        yield prompt, llm_string, list(generations)
