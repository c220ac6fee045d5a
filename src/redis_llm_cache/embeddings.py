"""``EmbeddingCache``: the framework-free embedding cache that adapters delegate to.

It runs :class:`~redis_llm_cache.core.embedding.store.EmbeddingStore` operations
through its :class:`~redis_llm_cache.runtime.Runtime`: the fail-open policy at
the ``"thrown"`` grain (a failed Redis request is thrown into the operation, which
embeds the texts anyway), :class:`Embed` steps to the inner model's ``embed``
(sync) or ``aembed`` (async). Every public ``x`` / ``ax`` pair is one line each.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .config import refuse_settings_mix
from .core.embedding.embedder import EmbedderIdentity, Matrix, Role
from .core.embedding.store import (
    EmbeddingSettings,
    EmbeddingStats,
    EmbeddingStore,
    SupportsEmbed,
)
from .core.stats import EmbeddingStatsSnapshot
from .errors import ConfigurationError
from .redis.connection import AsyncClient, RedisConnector, SyncClient
from .runtime import Runtime

logger = logging.getLogger(__name__)

_DURING = "embedding cache"
# clear and count never fail open: a failure is counted like any other and
# raises BackendError (also while the breaker is open).
_STRICT = f"{_DURING} clear/count"


class EmbeddingCache:
    """Embeds texts once per model and role; afterwards serves them from Redis.

    On a miss the text is embedded by ``embedder`` (only the misses, in batches of
    ``batch_size``) and stored; if Redis is down, slow or failing, every text is
    embedded by ``embedder`` and the failure is counted in :meth:`stats`
    (fail-open). A vector the model returns with NaN/Inf or the wrong length
    raises ``ValueError`` and is not stored. Results are ``float32`` matrices of
    shape ``(len(texts), dimensions)``, rows in input order.

    Args:
        embedder: A core :class:`~redis_llm_cache.core.embedding.embedder.Embedder`, or any
            object with ``embed(texts, *, role)`` / ``aembed(texts, *, role)``.
        identity_key: Identity of the model in keys. Default: the embedder's
            ``identity.canonical()``. Framework adapters pass
            :func:`~redis_llm_cache.core.embedding.store.model_key`.
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
        self.runtime = Runtime(
            connector, self.settings, self.stats_counter, embedder=self.embedder, failures="thrown"
        )

    # -- pickling: clients, locks and the memory tier are rebuilt -------------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "embedder": self.embedder,
            "connector": self.runtime.connector,  # raises for caller-supplied clients
            "identity_key": self.store.identity_key,
            "dimensions": self.store.dimensions,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.settings = state["settings"]
        self.embedder = state["embedder"]
        self._caller_clients = False
        self._init_runtime(state["connector"], state["identity_key"], state["dimensions"])

    # -- public API ------------------------------------------------------------------------------

    @property
    def dimensions(self) -> int | None:
        """Vector length, once given or learned."""
        return self.store.dimensions

    @property
    def redis_url(self) -> str | None:
        """The URL clients are built from (``None`` with caller-supplied clients)."""
        return self.runtime.connector.url

    @property
    def uses_caller_clients(self) -> bool:
        """Built with ``redis_client=`` / ``async_redis_client=`` (then not picklable)."""
        return self._caller_clients

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        """Vectors of ``texts``; misses (and everything, if Redis fails) come from the model."""
        return self.runtime.run(self.store.embed(texts, role), during=_DURING)

    async def aembed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        """Async :meth:`embed`: Redis on ``redis.asyncio``, the model's ``aembed``."""
        return await self.runtime.arun(self.store.embed(texts, role), during=_DURING)

    def clear(self, *, all_models: bool = False) -> int:
        """Remove this model's vectors (``all_models``: the whole namespace's).

        Raises ``BackendError`` if Redis fails: a clear must not silently not happen.
        """
        return self.runtime.run(
            self.store.clear(all_models=all_models), during=_STRICT, fallback=0, fail_open=False
        )

    async def aclear(self, *, all_models: bool = False) -> int:
        """Async :meth:`clear`."""
        op = self.store.clear(all_models=all_models)
        return await self.runtime.arun(op, during=_STRICT, fallback=0, fail_open=False)

    def count(self, *, all_models: bool = False) -> int:
        """Vectors stored for this model (a full ``SCAN``; raises on failure)."""
        op = self.store.count(all_models=all_models)
        return self.runtime.run(op, during=_STRICT, fallback=0, fail_open=False)

    async def acount(self, *, all_models: bool = False) -> int:
        """Async :meth:`count`."""
        op = self.store.count(all_models=all_models)
        return await self.runtime.arun(op, during=_STRICT, fallback=0, fail_open=False)

    def stats(self) -> EmbeddingStatsSnapshot:
        """Hits (memory and Redis), misses, texts embedded, batches sent, errors: a
        frozen :class:`EmbeddingStatsSnapshot`, read by attribute or like a dict."""
        snapshot = self.stats_counter.snapshot()
        snapshot["namespace"] = self.settings.namespace
        snapshot["breaker_open"] = self.runtime.breaker_open
        if self.store.memory is not None:
            snapshot["memory_entries"] = len(self.store.memory)
            snapshot["memory_bytes"] = self.store.memory.nbytes
        return EmbeddingStatsSnapshot.from_mapping(snapshot)

    def close(self) -> None:
        """Close the sync Redis client this object created."""
        self.runtime.connector.close()

    async def aclose(self) -> None:
        """Close the asyncio Redis client this object created for the running loop."""
        await self.runtime.connector.aclose()


class EmbeddingCacheAdapter:
    """What the LangChain and LlamaIndex embedding adapters pass as it is to the
    :class:`EmbeddingCache` they hold (as ``_cache``): a base class of both, listed
    before the framework's class so these methods are the ones called."""

    if TYPE_CHECKING:
        _cache: EmbeddingCache

    @property
    def core(self) -> EmbeddingCache:
        """The framework-free cache this adapter delegates to."""
        return self._cache

    def stats(self) -> EmbeddingStatsSnapshot:
        """Hits (memory / Redis), misses, texts embedded, batches sent, errors."""
        return self._cache.stats()

    def clear(self, *, all_models: bool = False) -> int:
        """Remove this model's cached vectors; raises ``BackendError`` if Redis fails."""
        return self._cache.clear(all_models=all_models)

    async def aclear(self, *, all_models: bool = False) -> int:
        """Async :meth:`clear`."""
        return await self._cache.aclear(all_models=all_models)

    def close(self) -> None:
        """Close the Redis clients' sync client (see :meth:`EmbeddingCache.close`)."""
        self._cache.close()

    async def aclose(self) -> None:
        """Async :meth:`close`: the running loop's client."""
        await self._cache.aclose()
