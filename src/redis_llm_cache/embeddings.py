"""``EmbeddingCache``: the framework-free embedding cache that adapters delegate to.

It runs :class:`~redis_llm_cache.core.embedding_store.EmbeddingStore` operations
with the sync or the async driver: Redis requests go through the fail-open
runner (:class:`~redis_llm_cache.runner.GuardedRedis`), :class:`Embed` requests
to the inner model's ``embed`` (sync) or ``aembed`` (async). Every public
``x`` / ``ax`` pair is one line each.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

from .config import refuse_settings_mix
from .core.embedder import EmbedderIdentity, Matrix, Role
from .core.embedding_store import (
    EmbeddingRequest,
    EmbeddingSettings,
    EmbeddingStats,
    EmbeddingStore,
    SupportsEmbed,
)
from .core.ops import Embed, Operation, Request, run_async, run_sync
from .core.stats import EmbeddingStatsSnapshot
from .errors import ConfigurationError
from .redis.connection import AsyncClient, RedisConnector, SyncClient
from .runner import GuardedRedis

logger = logging.getLogger(__name__)

_DURING = "embedding cache"


class EmbeddingCache:
    """Embeds texts once per model and role; afterwards serves them from Redis.

    On a miss the text is embedded by ``embedder`` (only the misses, in batches of
    ``batch_size``) and stored; if Redis is down, slow or failing, every text is
    embedded by ``embedder`` and the failure is counted in :meth:`stats`
    (fail-open). A vector the model returns with NaN/Inf or the wrong length
    raises ``ValueError`` and is not stored. Results are ``float32`` matrices of
    shape ``(len(texts), dimensions)``, rows in input order.

    Args:
        embedder: A core :class:`~redis_llm_cache.core.embedder.Embedder`, or any
            object with ``embed(texts, *, role)`` / ``aembed(texts, *, role)``.
        identity_key: Identity of the model in keys. Default: the embedder's
            ``identity.canonical()``. Framework adapters pass
            :func:`~redis_llm_cache.core.embedding_store.model_key`.
        dimensions: Expected vector length; default the embedder identity's, or
            learned from the first vector.
        redis_url / redis_client / async_redis_client: Where Redis is (default
            ``$REDIS_URL`` or ``redis://localhost:6379/0``).
        settings: A prepared :class:`EmbeddingSettings`, or give its fields as
            keyword arguments (``namespace=``, ``ttl=``, ``batch_size=``,
            ``dtype=``, ``memory_max_entries=`` ...).

    Example:
        >>> from redis_llm_cache.embeddings import EmbeddingCache
        >>> cache = EmbeddingCache(my_embedder, redis_url="redis://localhost:6379", ttl=86400)
        >>> matrix = cache.embed(["first text", "second text"])       # float32 (2, d)
        >>> query = (await cache.aembed(["a question"], role="query"))[0]
    """

    def __init__(
        self,
        embedder: SupportsEmbed,
        *,
        identity_key: str | None = None,
        dimensions: int | None = None,
        redis_url: str | None = None,
        redis_client: SyncClient | None = None,
        async_redis_client: AsyncClient | None = None,
        settings: EmbeddingSettings | None = None,
        **setting_values: Any,
    ) -> None:
        if settings is None:
            settings = EmbeddingSettings(**setting_values)
        else:
            refuse_settings_mix("settings", setting_values)
        identity: EmbedderIdentity | None = getattr(embedder, "identity", None)
        if identity_key is None:
            if not isinstance(identity, EmbedderIdentity):
                raise ConfigurationError(
                    "the embedder has no EmbedderIdentity: pass identity_key= (see model_key())"
                )
            identity_key = identity.canonical()
            if dimensions is None:
                dimensions = identity.dimensions
        self.settings = settings
        self.embedder = embedder
        self._caller_clients = redis_client is not None or async_redis_client is not None
        self._init_runtime(
            RedisConnector(
                url=redis_url,
                settings=settings,
                client=redis_client,
                async_client=async_redis_client,
            ),
            identity_key,
            dimensions,
        )

    def _init_runtime(
        self, connector: RedisConnector, identity_key: str, dimensions: int | None
    ) -> None:
        self.stats_counter = EmbeddingStats()
        self.store = EmbeddingStore(
            self.settings,
            identity_key=identity_key,
            dimensions=dimensions,
            stats=self.stats_counter,
        )
        self._redis = GuardedRedis(connector, self.settings, self.stats_counter)

    # -- pickling: clients, locks and the memory tier are rebuilt -------------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "embedder": self.embedder,
            "connector": self._redis.connector,  # raises for caller-supplied clients
            "identity_key": self.store.identity_key,
            "dimensions": self.store.dimensions,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.settings = state["settings"]
        self.embedder = state["embedder"]
        self._caller_clients = False
        self._init_runtime(state["connector"], state["identity_key"], state["dimensions"])

    # -- drivers ---------------------------------------------------------------------------------

    def _execute(self, request: EmbeddingRequest) -> Any:
        if isinstance(request, Embed):
            return self.embedder.embed(request.texts, role=request.role)
        return self._redis.execute(request, during=_DURING)

    async def _aexecute(self, request: EmbeddingRequest) -> Any:
        if isinstance(request, Embed):
            return await self.embedder.aembed(request.texts, role=request.role)
        return await self._redis.aexecute(request, during=_DURING)

    # The shared drivers are typed for Redis requests only; they pass every
    # request through to the execute function, so Embed requests are fine.
    def _run(self, op: Any) -> Matrix:
        return run_sync(cast(Operation[Matrix], op), self._execute)

    async def _arun(self, op: Any) -> Matrix:
        return await run_async(cast(Operation[Matrix], op), self._aexecute)

    # -- public API ------------------------------------------------------------------------------

    @property
    def dimensions(self) -> int | None:
        """Vector length, once given or learned."""
        return self.store.dimensions

    @property
    def redis_url(self) -> str | None:
        """The URL clients are built from (``None`` with caller-supplied clients)."""
        return self._redis.connector.url

    @property
    def uses_caller_clients(self) -> bool:
        """Built with ``redis_client=`` / ``async_redis_client=`` (then not picklable)."""
        return self._caller_clients

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        """Vectors of ``texts``; misses (and everything, if Redis fails) come from the model."""
        return self._run(self.store.embed(texts, role))

    async def aembed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        """Async :meth:`embed`: Redis on ``redis.asyncio``, the model's ``aembed``."""
        return await self._arun(self.store.embed(texts, role))

    def clear(self, *, all_models: bool = False) -> int:
        """Remove this model's vectors (``all_models``: the whole namespace's).

        Raises ``BackendError`` if Redis fails: a clear must not silently not happen.
        """
        return run_sync(self.store.clear(all_models=all_models), self._strict_execute)

    async def aclear(self, *, all_models: bool = False) -> int:
        """Async :meth:`clear`."""
        return await run_async(self.store.clear(all_models=all_models), self._astrict_execute)

    def count(self, *, all_models: bool = False) -> int:
        """Vectors stored for this model (a full ``SCAN``; raises on failure)."""
        return run_sync(self.store.count(all_models=all_models), self._strict_execute)

    def stats(self) -> EmbeddingStatsSnapshot:
        """Hits (memory and Redis), misses, texts embedded, batches sent, errors: a
        frozen :class:`EmbeddingStatsSnapshot`, read by attribute or like a dict."""
        snapshot = self.stats_counter.snapshot()
        snapshot["namespace"] = self.settings.namespace
        snapshot["breaker_open"] = self._redis.breaker_open
        if self.store.memory is not None:
            snapshot["memory_entries"] = len(self.store.memory)
            snapshot["memory_bytes"] = self.store.memory.nbytes
        return EmbeddingStatsSnapshot.from_mapping(snapshot)

    def close(self) -> None:
        """Close the sync Redis client this object created."""
        self._redis.connector.close()

    async def aclose(self) -> None:
        """Close the asyncio Redis client this object created for the running loop."""
        await self._redis.connector.aclose()

    # clear and count never fail open: a failure is counted like any other and
    # raises BackendError (also while the breaker is open).
    def _strict_execute(self, request: Request) -> Any:
        return self._redis.execute(request, during=f"{_DURING} clear/count", fail_open=False)

    async def _astrict_execute(self, request: Request) -> Any:
        return await self._redis.aexecute(request, during=f"{_DURING} clear/count", fail_open=False)
