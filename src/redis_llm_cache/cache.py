"""``ResponseCache``: the framework-free cache object that adapters delegate to.

It writes the tier operations (:mod:`.core.exact`, :mod:`.core.semantic`) and
runs them through its :class:`~.runtime.Runtime` (the sync or async driver, the
fail-open policy and the circuit breaker at the ``"miss"`` grain), and keeps
stats. Every public ``x`` / ``ax`` pair is one line each over the runtime.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from .config import SEARCH_ON_CLUSTER, CacheSettings
from .core.codec import ValueCodec
from .core.embedding.embedder import Embedder, EmbedderIdentity, is_embedder, known_identity
from .core.exact import TIER as EXACT_TIER
from .core.exact import ExactTier
from .core.index.base import IndexWrites, make_index
from .core.ops import NOT_SENT, Command, Operation, Pipeline, Shortcut, embedder_identity
from .core.replies import raise_if_error
from .core.semantic.tier import TIER as SEMANTIC_TIER
from .core.semantic.tier import SemanticQuery, SemanticSettings, SemanticTier, narrowed_to_question
from .core.stampede import Stampede
from .core.stats import CacheStats, StatsSnapshot, TokenUsage
from .errors import CacheError, ConfigurationError
from .redis.capabilities import detect_strategy
from .redis.connection import AsyncClient, RedisConnector, SyncClient
from .runtime import EmbedderFailed, ModelDeadlines, Runtime

T = TypeVar("T")
R = TypeVar("R")

logger = logging.getLogger(__name__)

#: A lookup's outcome: the value, the tier that hit and what the hit saved
#: (``None`` tier: a miss; ``None`` usage: unknown).
Found = tuple[T | None, str | None, TokenUsage | None]
NOT_FOUND: Found[Any] = (None, None, None)

#: Semantic hits remembered for ``stats()["recent_semantic_hits"]`` (auditing).
RECENT_HITS = 20


#: Entries per round trip of :meth:`ResponseCache.store_many` (each: the answer, and
#: with an embedder its index entry and usage hash -- ~4 KB at 1024-d).
STORE_BATCH = 256

#: A failed lookup is a miss: no value, no tier.
_LOOKUP: dict[str, Any] = {"during": "lookup", "fallback": NOT_FOUND}


class ResponseCache(Generic[T]):
    """Cache of values ``T`` keyed by (tenant, llm_string, prompt): exact, and --
    with an ``embedder`` -- semantic (a paraphrase in the same partition).

    On a miss or any failure, :meth:`lookup` returns ``None``; a failed write is
    skipped. Failures are counted in :meth:`stats` and logged at most once per
    30 s per kind. With ``settings.fail_open=False`` Redis failures raise
    ``BackendError`` (and unexpected exceptions propagate as they are).
    :meth:`clear` never fails open: a clear that did not happen raises.

    Example:
        >>> cache = ResponseCache(codec=my_codec, redis_url="redis://localhost:6379")
        >>> cache.update("prompt", "model-a", value)
        >>> cache.lookup("prompt", "model-a")
    """

    def __init__(
        self,
        *,
        codec: ValueCodec[T],
        settings: CacheSettings | None = None,
        redis_url: str | None = None,
        redis_client: SyncClient | None = None,
        async_redis_client: AsyncClient | None = None,
        embedder: Embedder | None = None,
        semantic: SemanticSettings | None = None,
        semantic_query: Callable[[str], SemanticQuery | None] | None = None,
        usage_of: Callable[[T], TokenUsage | None] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else CacheSettings()
        self.stats_counter = CacheStats()
        self.connector = RedisConnector(
            url=redis_url,
            settings=self.settings,
            client=redis_client,
            async_client=async_redis_client,
        )
        self.exact = ExactTier(self.settings, codec, self.stats_counter, usage_of)
        if embedder is not None and not is_embedder(embedder):
            raise ConfigurationError(
                f"embedder must implement the Embedder protocol, got {type(embedder).__name__}"
            )
        self.embedder = embedder
        self.runtime = Runtime(
            self.connector,
            self.settings,
            self.stats_counter,
            embedder=embedder,
            deadlines=(
                ModelDeadlines(self.settings, self.stats_counter) if embedder is not None else None
            ),
        )
        self._stampede: Stampede[T] | None = (
            Stampede(self.settings, self.exact, self.stats_counter, self.runtime.keep_renewing)
            if self.settings.stampede_protection
            else None
        )
        # A lookup's usual course, an exact hit, is one read and decoding: the runtime
        # runs it without the operation's generators (everything else runs them).
        self._lookup = Shortcut(self.exact.lookup_request, self.exact.hit, self._lookup_op)
        # How a prompt becomes the text to compare (and its context); adapters know
        # their framework's prompt format. Called only after an exact miss.
        self.semantic_settings = semantic if semantic is not None else SemanticSettings()
        self._semantic_query = _with_question_hook(
            semantic_query or (lambda prompt: SemanticQuery(text=prompt)),
            self.semantic_settings.question,
        )
        self._semantic: SemanticTier[T] | None = None
        self._semantic_lock = threading.Lock()
        self._recent_hits: deque[dict[str, Any]] = deque(maxlen=RECENT_HITS)
        # What a hit saved (tokens of the stored answer); must not raise.
        self._usage_of = usage_of
        if embedder is not None:
            self._refuse_search_on_cluster()  # known here with cluster=True or a cluster client
            identity = known_identity(embedder)
            if identity is not None and self.semantic_settings.strategy != "auto":
                # Built now, without I/O, so a bad setting fails here; a model whose
                # vector length is unknown is probed by the first use instead.
                self._semantic = self._build_semantic(self.semantic_settings.strategy, identity)

    # -- the semantic tier, built on first use (strategy detection and -- for a model
    # -- whose vector length is not known yet -- a dimension probe need I/O) --------------

    def _build_semantic(self, strategy: str, identity: EmbedderIdentity) -> SemanticTier[T]:
        index = make_index(
            strategy,
            namespace=self.settings.namespace,
            model_key=identity.canonical(),
            dimensions=identity.dimensions,
            dtype=self.semantic_settings.dtype,
        )
        return SemanticTier(
            settings=self.semantic_settings,
            cache_settings=self.settings,
            identity=identity,
            index=index,
            exact=self.exact,
            stats=self.stats_counter,
        )

    def _refuse_search_on_cluster(self) -> None:
        """``ConfigurationError`` for ``strategy="search"`` on a Redis Cluster: raised
        at construction when the settings or the client say cluster; when only the
        connection finds it out (``cluster=None``), every semantic use fails open like
        any other failure -- counted as ``internal:ConfigurationError`` and logged at
        WARNING with this message -- so the app keeps running on the exact tier."""
        if self.semantic_settings.strategy == "search" and self.connector.is_cluster:
            raise ConfigurationError(SEARCH_ON_CLUSTER)

    def _semantic_tier(self) -> Operation[SemanticTier[T]]:
        self._refuse_search_on_cluster()
        if self._semantic is None:
            assert self.embedder is not None
            identity = yield from embedder_identity(self.embedder)
            strategy: str = self.semantic_settings.strategy
            if strategy == "auto":
                strategy = yield from detect_strategy()
            with self._semantic_lock:
                if self._semantic is None:
                    self._semantic = self._build_semantic(strategy, identity)
                    logger.info("redis-llm-cache: semantic tier uses the %r index", strategy)
        return self._semantic

    # -- operations spanning the tiers -------------------------------------------------------

    def _lookup_op(
        self, prompt: str, llm_string: str, reply: Any = NOT_SENT
    ) -> Operation[Found[T]]:
        """The exact tier; on a miss the semantic tier (with an embedder); on a full
        miss the stampede lease (or the wait for the caller holding it). ``reply``:
        what the exact read already got (see :class:`~.core.ops.Shortcut`; an exact
        hit does not get here)."""
        # Inside the operation: even a bad argument surfaces where the fail-open
        # policy handles it.
        key = self.exact.key(prompt, llm_string)
        found = yield from self.exact.read_hit(key, tier=EXACT_TIER, reply=reply)
        if found is not None:
            return found[0], EXACT_TIER, found[1]
        if self.embedder is not None:
            value = yield from self._without_failed_embedder(
                self._semantic_lookup_op(prompt, llm_string), None
            )
            if value is not None:
                return value, SEMANTIC_TIER, self._usage(value)
        if self._stampede is None:
            return NOT_FOUND
        value = yield from self._stampede.after_miss(key, tier=EXACT_TIER)
        return NOT_FOUND if value is None else (value, EXACT_TIER, self._usage(value))

    def _usage(self, value: T) -> TokenUsage | None:
        """Tokens ``value`` cost when it was made, read from the value (hits that did
        not come through :meth:`ExactTier.read_hit`, which has it from the codec)."""
        return self._usage_of(value) if self._usage_of is not None else None

    def _without_failed_embedder(self, op: Operation[R], otherwise: R) -> Operation[R]:
        """``op``'s result, or ``otherwise`` when the embedder failed, missed its
        deadline or is skipped by its breaker (counted by the runtime): the exact
        tier and the stampede lease go on without the semantic tier."""
        try:
            return (yield from op)
        except EmbedderFailed:
            if not self.settings.fail_open:
                raise
            return otherwise

    def _semantic_lookup_op(self, prompt: str, llm_string: str) -> Operation[T | None]:
        query = self._semantic_query(prompt)
        semantic = yield from self._semantic_tier()
        if query is None or not semantic.eligible(query):
            return None
        hit = yield from semantic.lookup(llm_string, query)
        if hit is None:
            return None
        self._recent_hits.append(
            {
                "similarity": hit.candidate.similarity,
                "matched_prompt": hit.candidate.text,
                "prompt": query.text,
                "threshold": semantic.threshold,
                "verifier_score": hit.verdict.score if hit.verdict is not None else None,
                "judged_by": hit.verdict.judged_by if hit.verdict is not None else None,
            }
        )
        return hit.value

    def _update_op(self, prompt: str, llm_string: str, value: T) -> Operation[bool]:
        return (yield from self._store_batch_op(((prompt, llm_string, value),))) == 1

    def _store_many_op(
        self, items: Iterable[tuple[str, str, T]], progress: Callable[[int, int], None] | None
    ) -> Operation[int]:
        """Store ``items`` in batches of :data:`STORE_BATCH`, one round trip each (see
        :meth:`_store_batch_op`); ``progress(done, stored)`` after each batch."""
        done = stored = 0
        iterator = iter(items)
        while batch := tuple(itertools.islice(iterator, STORE_BATCH)):
            stored += yield from self._store_batch_op(batch)
            done += len(batch)
            if progress is not None:
                progress(done, stored)
        return stored

    def _store_batch_op(self, items: Sequence[tuple[str, str, T]]) -> Operation[int]:
        """Store answers -- with an embedder, index their questions -- in one round
        trip: the answers' writes, the stampede leases' release, the index entries
        and usage hashes, in that order (a waiter or a search that sees a later
        command's effect finds the answer). On Redis Cluster, whose pipeline runs
        on several nodes at once, the answers go first in a round trip of their own.
        Returns how many answers were stored (the others were skipped and counted)."""
        writes: list[Command] = []
        settles: list[Command] = []
        queued: list[tuple[str, str, str]] = []  # (exact key, llm_string, prompt)
        for prompt, llm_string, value in items:
            write = self.exact.write_command(prompt, llm_string, value)
            if self._stampede is not None:
                key = self.exact.key(prompt, llm_string)
                settles.append(self._stampede.settle_command(key, stored=write is not None))
            if write is None:
                continue
            writes.append(write)
            if self.embedder is not None:
                queued.append((write[1], llm_string, prompt))
        exact = self.exact.write_commands(writes)
        try:
            semantic = yield from self._without_failed_embedder(self._semantic_writes(queued), None)
        except Exception:
            # The answers are stored even when indexing them cannot be (embedder
            # down, index unusable): their exact prompts still hit.
            yield from self._send_writes(len(writes), exact, (*settles,), None)
            raise
        yield from self._send_writes(len(writes), exact, (*settles,), semantic)
        return len(writes)

    def _semantic_writes(self, queued: list[tuple[str, str, str]]) -> Operation[IndexWrites | None]:
        if not queued:
            return None
        semantic = yield from self._semantic_tier()
        # Read here, under the caller's try: a failing prompt reader (an app's
        # ``semantic_text`` hook) costs the indexing, never the answers' writes.
        eligible = []
        for exact_key, llm_string, prompt in queued:
            query = self._semantic_query(prompt)
            if query is not None and semantic.eligible(query):
                eligible.append((exact_key, llm_string, query))
        return (yield from semantic.writes(eligible)) if eligible else None

    def _send_writes(
        self,
        count: int,
        exact: tuple[Command, ...],
        settles: tuple[Command, ...],
        semantic: IndexWrites | None,
    ) -> Operation[None]:
        after = settles + (semantic.commands if semantic is not None else ())
        if self.connector.is_cluster is False:
            replies = (yield Pipeline(exact + after)) if exact or after else []
            first, rest = replies[: len(exact)], replies[len(exact) :]
        else:
            first = (yield Pipeline(exact)) if exact else []
            rest = (yield Pipeline(after)) if after else []
        yield from self.exact.finish_writes(count, first)
        for reply in rest[: len(settles)]:
            raise_if_error(reply)
        if semantic is not None:
            yield from semantic.finish(list(rest[len(settles) :]))

    def _clear_op(self, tenant: str | None, llm_string: str | None) -> Operation[int]:
        removed = yield from self.exact.clear(tenant=tenant, llm_string=llm_string)
        if self.embedder is not None and tenant is None and llm_string is None:
            # A scoped clear leaves index entries whose answers are gone; lookups
            # drop those lazily (an answer that no longer exists is never served).
            semantic = yield from self._semantic_tier()
            yield from semantic.clear()
        return removed

    def _record(self, started: float, found: Found[T]) -> T | None:
        value, tier, usage = found
        self.stats_counter.record_lookup(time.perf_counter() - started, tier, usage)
        return value

    def _semantic_usage_op(self, prompt: str, llm_string: str) -> Operation[dict[str, int]]:
        if self.embedder is None:
            return {}
        semantic = yield from self._semantic_tier()
        return (yield from semantic.usage(self.exact.key(prompt, llm_string)))

    def _report_wrong_hit_op(self, prompt: str, llm_string: str) -> Operation[bool]:
        return (
            yield from self._feedback_op(prompt, lambda s, q: s.report_wrong_hit(llm_string, q))
        )

    def _label_op(self, prompt: str, llm_string: str, same: bool) -> Operation[bool]:
        return (yield from self._feedback_op(prompt, lambda s, q: s.label(llm_string, q, same)))

    def _feedback_op(
        self,
        prompt: str,
        feedback: Callable[[SemanticTier[T], SemanticQuery], Operation[str | None]],
    ) -> Operation[bool]:
        """Feedback about the semantic answer to ``prompt`` (a report, a label):
        whether a stored question took it."""
        if self.embedder is None:
            return False
        query = self._semantic_query(prompt)
        semantic = yield from self._semantic_tier()
        if query is None or not semantic.eligible(query):
            return False
        matched = yield from feedback(semantic, query)
        return matched is not None

    # -- public API: each x / ax pair is one statement over the runtime ---------------------

    def lookup(self, prompt: str, llm_string: str) -> T | None:
        """The stored value (exact, else -- with an embedder -- the answer to a
        paraphrase), or ``None`` on a miss, a corrupt entry or a failure."""
        started = time.perf_counter()
        found = self.runtime.run_shortcut(self._lookup, (prompt, llm_string), **_LOOKUP)
        return self._record(started, found)

    async def alookup(self, prompt: str, llm_string: str) -> T | None:
        """Async :meth:`lookup` on ``redis.asyncio`` (no thread pool); the embedder's
        ``aembed`` and the judge's async call -- the event loop is never blocked."""
        started = time.perf_counter()
        found = await self.runtime.arun_shortcut(self._lookup, (prompt, llm_string), **_LOOKUP)
        return self._record(started, found)

    def update(self, prompt: str, llm_string: str, value: T) -> bool:
        """Store ``value``; ``False`` if it was skipped (failure, too large, unsupported)."""
        return self.runtime.run(
            self._update_op(prompt, llm_string, value), during="update", fallback=False
        )

    async def aupdate(self, prompt: str, llm_string: str, value: T) -> bool:
        """Async :meth:`update`."""
        return await self.runtime.arun(
            self._update_op(prompt, llm_string, value), during="update", fallback=False
        )

    def store_many(
        self,
        items: Iterable[tuple[str, str, T]],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Store many ``(prompt, llm_string, value)`` at once (warming a cache): like
        :meth:`update` each, in pipelined batches of :data:`STORE_BATCH` with their
        questions embedded one batch at a time. ``progress(done, stored)`` is called
        after each batch. Returns how many were stored (skipped ones are counted in
        :meth:`stats`); on failure, fail-open, 0 -- batches already sent stay stored.
        """
        op = self._store_many_op(items, progress)
        return self.runtime.run(op, during="store_many", fallback=0)

    async def astore_many(
        self,
        items: Iterable[tuple[str, str, T]],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Async :meth:`store_many`."""
        op = self._store_many_op(items, progress)
        return await self.runtime.arun(op, during="store_many", fallback=0)

    def clear(self, *, tenant: str | None = None, llm_string: str | None = None) -> int:
        """Remove this namespace's entries (all tenants unless ``tenant`` is given).

        Raises ``BackendError`` if Redis fails: a clear must not silently not happen.
        """
        return self.runtime.run(
            self._clear_op(tenant, llm_string), during="clear", fallback=0, fail_open=False
        )

    async def aclear(self, *, tenant: str | None = None, llm_string: str | None = None) -> int:
        """Async :meth:`clear`."""
        return await self.runtime.arun(
            self._clear_op(tenant, llm_string), during="clear", fallback=0, fail_open=False
        )

    def count(self, *, tenant: str | None = None, llm_string: str | None = None) -> int:
        """Entries stored in this namespace (full ``SCAN``; raises on failure)."""
        return self.runtime.run(
            self.exact.count(tenant=tenant, llm_string=llm_string),
            during="count",
            fallback=0,
            fail_open=False,
        )

    async def acount(self, *, tenant: str | None = None, llm_string: str | None = None) -> int:
        """Async :meth:`count`."""
        op = self.exact.count(tenant=tenant, llm_string=llm_string)
        return await self.runtime.arun(op, during="count", fallback=0, fail_open=False)

    def semantic_usage(self, prompt: str, llm_string: str) -> dict[str, int]:
        """How the answer stored for ``prompt`` has served paraphrases: ``created_ms``,
        ``hits`` and ``last_hit_ms`` (empty without a semantic tier or entry). Raises
        on Redis failure (an inspection tool, not the hot path)."""
        return self.runtime.run(
            self._semantic_usage_op(prompt, llm_string),
            during="semantic_usage",
            fallback={},
            fail_open=False,
        )

    async def asemantic_usage(self, prompt: str, llm_string: str) -> dict[str, int]:
        """Async :meth:`semantic_usage`."""
        return await self.runtime.arun(
            self._semantic_usage_op(prompt, llm_string),
            during="semantic_usage",
            fallback={},
            fail_open=False,
        )

    def release_leases(self) -> None:
        """This caller will not store what it was computing (its LLM call failed, its
        stream was abandoned): free the stampede leases it holds, so a caller
        waiting for the same prompt computes now instead of after the lease's term.
        Fails open (counted); a no-op without stampede protection."""
        self.runtime.run(self._release_leases_op(self._abandoned_leases()), during="lease release")

    def arelease_leases(self) -> Awaitable[None]:
        """Async :meth:`release_leases`. The leases are chosen when it is called, in
        the calling task (and its finished ones: LangChain reports an async call's
        failure after the task that made it ended); awaiting frees them."""
        op = self._release_leases_op(self._abandoned_leases())
        return self.runtime.arun(op, during="lease release")

    def _abandoned_leases(self) -> list[str]:
        return self._stampede.abandoned_by_caller() if self._stampede is not None else []

    def _release_leases_op(self, leases: list[str]) -> Operation[None]:
        if self._stampede is not None:
            yield from self._stampede.release(leases)

    def report_wrong_hit(self, prompt: str, llm_string: str) -> bool:
        """Feedback: the semantic hit served for ``prompt`` answered another question.

        The stored question that answers ``prompt`` semantically stops answering any
        paraphrase (it leaves the vector index; its own exact prompt still hits), and
        the report is counted (``stats()["semantic"]["wrong_hits_reported"]`` and the
        entry's usage ``wrong_hits``). Returns ``False`` when no entry answers
        ``prompt`` semantically, or on failure (counted, fail-open).
        """
        return self.runtime.run(
            self._report_wrong_hit_op(prompt, llm_string), during="report_wrong_hit", fallback=False
        )

    async def areport_wrong_hit(self, prompt: str, llm_string: str) -> bool:
        """Async :meth:`report_wrong_hit`."""
        op = self._report_wrong_hit_op(prompt, llm_string)
        return await self.runtime.arun(op, during="report_wrong_hit", fallback=False)

    def label_semantic(self, prompt: str, llm_string: str, same: bool) -> bool:
        """Feedback for the error budget: whether the stored question nearest to
        ``prompt`` (in its partition, not vetoed by the verifier) wants the same
        answer. The label is stored like a judge's (shared by every process) and
        moves the learned boundary. Returns ``False`` without an error budget, when
        no stored question is near, or on failure (counted, fail-open)."""
        op = self._label_op(prompt, llm_string, same)
        return self.runtime.run(op, during="label_semantic", fallback=False)

    async def alabel_semantic(self, prompt: str, llm_string: str, same: bool) -> bool:
        """Async :meth:`label_semantic`."""
        op = self._label_op(prompt, llm_string, same)
        return await self.runtime.arun(op, during="label_semantic", fallback=False)

    def stats(self) -> StatsSnapshot:
        """Counters and lookup latency (ms) of this object since it was built; with
        the semantic tier, its threshold, index strategy and recent semantic hits
        (similarity, matched prompt) for auditing. A frozen :class:`StatsSnapshot`:
        read it by attribute (``stats().hits``) or like a dict (``stats()["hits"]``)."""
        snapshot = self.stats_counter.snapshot()
        snapshot["namespace"] = self.settings.namespace
        snapshot["tenant"] = self.settings.tenant
        snapshot["breaker_open"] = self.runtime.breaker_open
        if self.embedder is not None:
            semantic = self._semantic
            identity = known_identity(self.embedder)  # None before a dimension probe
            snapshot["semantic"] = {
                "embedder": identity.canonical() if identity is not None else None,
                "strategy": semantic.index.name if semantic is not None else None,
                "threshold": semantic.threshold if semantic is not None else None,
                "threshold_calibrated": semantic.calibrated if semantic is not None else None,
                "recent_hits": list(self._recent_hits),
                # Foreign or dropped index structures found and recreated/removed.
                "index_repairs": getattr(semantic.index, "repairs", 0) if semantic else 0,
                # Search indexes of other software whose prefixes cover the namespace:
                # they list our hashes, and clearing them would delete our entries.
                "foreign_indexes": len(semantic.foreign_indexes) if semantic else 0,
                "foreign_index_names": (
                    [i.name for i in semantic.foreign_indexes] if semantic else []
                ),
                "verifier": type(semantic.verifier).__name__ if semantic is not None else None,
                **(semantic.decisions() if semantic is not None else {}),
            }
        return StatsSnapshot.from_mapping(snapshot)

    def close(self) -> None:
        """Stop background judging and close the sync Redis client this object created."""
        if self._stampede is not None:
            self._stampede.forget()
        self.runtime.background.close()
        self.connector.close()

    async def aclose(self) -> None:
        """Cancel this loop's background judging and close the asyncio Redis client
        this object created for the running loop."""
        if self._stampede is not None:
            self._stampede.forget()
        await self.runtime.background.aclose()
        await self.connector.aclose()


__all__ = ["CacheError", "ResponseCache"]


def _with_question_hook(
    adapter_query: Callable[[str], SemanticQuery | None],
    question: Callable[[str], str | None] | None,
) -> Callable[[str], SemanticQuery | None]:
    """The adapter's prompt reading, narrowed to the question when the app names
    it (``semantic_text``): one place for every framework's adapter."""
    if question is None:
        return adapter_query

    def query_of(prompt: str) -> SemanticQuery | None:
        found = adapter_query(prompt)
        return None if found is None else narrowed_to_question(found, question)

    return query_of
