"""Redis clients for one cache: a sync client and one asyncio client per event loop.

Clients are created lazily at first use: building a cache object does no I/O.
Clients we create get finite socket timeouts and no automatic retries, so a
stopped or paused Redis costs a bounded time per call; the circuit breaker in
the core stops even that while Redis stays down.

**Redis Cluster.** With ``cluster=True`` (or ``None``, the default, and a server
whose ``INFO cluster`` says ``cluster_enabled:1``) the clients are redis-py's
``RedisCluster``; a caller-supplied ``RedisCluster`` is used as is. Operations
stay cluster-agnostic; three things are adapted here, in one place:

* multi-key commands whose keys live in different hash slots (``UNLINK``,
  ``DEL``, ``EXISTS``, ``TOUCH``: replies are counts) are split into one command
  per slot and their counts added -- a cluster refuses them with ``CROSSSLOT``;
* ``SCAN`` walks every master in turn (sorted by name); the cursor the
  operation sees is opaque (``0`` still means "done") and carries a fingerprint
  of the masters, so a walk that finds them changed under it (a failover) fails
  rather than silently skipping a node;
* pipelines are never transactions; redis-py's cluster pipeline sends each
  command to the master of its key's slot.

**Timeouts and the slot table.** redis-py re-reads the whole slot table
(``CLUSTER SLOTS`` on some node; the asyncio client also re-reads ``COMMAND``)
after *every* ``TimeoutError`` or ``ConnectionError`` of a command, whatever
``reinitialize_steps`` or the retry policy say. With a tight timeout on a
loaded machine that turns each timeout into more work for the cluster. The
clients made here (:class:`_SyncCluster`, :class:`_AsyncCluster`) keep the
slot table after a timeout; it is still re-read after a ``MOVED`` redirection
(redis-py's ``reinitialize_steps``), a refused or lost connection (a master
that died, as in a failover) and when one node keeps timing out: a timeout
from a node that also timed out at least :data:`TIMEOUT_REFRESH_AFTER_S`
earlier, with no pause longer than :data:`TIMEOUT_STREAK_GAP_S` between its
timeouts (a stuck master that its replica may have replaced).
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any, NamedTuple, TypeAlias

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import RedisClusterException, ResponseError, TimeoutError
from redis.retry import Retry

from .._per_loop import PerLoopClient
from ..config import ConnectionSettings, validate_redis_url
from ..core.drivers import run_async, run_sync
from ..core.ops import Call, Command, Pipeline, Request
from ..errors import ConfigurationError
from .capabilities import cluster_enabled

DEFAULT_URL = "redis://localhost:6379/0"

#: A sync client the cache can use: a single Redis or a Redis Cluster.
SyncClient: TypeAlias = redis.Redis | redis.cluster.RedisCluster
#: An asyncio client the cache can use.
AsyncClient: TypeAlias = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster

#: Commands whose arguments are all keys and whose reply is a count: on a cluster
#: they are split by hash slot and the counts added.
_SPLITTABLE = frozenset({"UNLINK", "DEL", "EXISTS", "TOUCH"})


def resolve_url(url: str | None) -> str:
    """The URL to use: the argument, else ``$REDIS_URL``, else local default;
    raises ``ConfigurationError`` if it is not a Redis URL (no I/O)."""
    if url:
        return validate_redis_url(url)
    from_env = os.environ.get("REDIS_URL")
    if from_env:
        return validate_redis_url(from_env, name="$REDIS_URL")
    return DEFAULT_URL


def _name(command: Command) -> str:
    name = command[0]
    return (name.decode() if isinstance(name, bytes) else str(name)).upper()


def _slot(key: Any) -> int:
    return key_slot(key if isinstance(key, bytes) else str(key).encode())


def split_by_slot(command: Command) -> list[Command] | None:
    """``command`` as one command per hash slot, or ``None`` if it need not be split."""
    if len(command) < 3 or _name(command) not in _SPLITTABLE:
        return None
    groups: dict[int, list[Any]] = {}
    for key in command[1:]:
        groups.setdefault(_slot(key), []).append(key)
    if len(groups) == 1:
        return None
    return [(command[0], *keys) for keys in groups.values()]


class _ClusterPlan:
    """Commands of a request as the cluster gets them, and how to fold the
    replies back into one reply per original command."""

    def __init__(self, commands: Sequence[Command]) -> None:
        self.commands: list[Command] = []
        self.spans: list[tuple[int, int, bool]] = []  # (start, count, was split)
        for command in commands:
            parts = split_by_slot(command)
            start = len(self.commands)
            self.commands.extend(parts or [command])
            self.spans.append((start, len(parts or [command]), parts is not None))

    def fold(self, replies: Sequence[Any]) -> list[Any]:
        out = []
        for start, count, was_split in self.spans:
            part = replies[start : start + count]
            if not was_split:
                out.append(part[0])
                continue
            failed = next((r for r in part if isinstance(r, Exception)), None)
            out.append(failed if failed is not None else sum(int(r) for r in part))
        return out


def _is_scan(command: Command) -> bool:
    return _name(command) == "SCAN"


def _masters_tag(nodes: list[Any]) -> str:
    """Short fingerprint of the set of masters a cluster ``SCAN`` walks."""
    names = "\n".join(node.name for node in nodes).encode()
    return hashlib.blake2b(names, digest_size=6).hexdigest()


def _scan_position(cursor: Any, nodes: list[Any]) -> tuple[int, int]:
    """(index of the master, that master's cursor) of an opaque cluster cursor
    ``"<masters tag>:<index>:<cursor>"``; ``0`` starts at the first master."""
    if cursor in (0, "0", b"0"):
        return 0, 0
    raw = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
    tag, index, node_cursor = raw.split(":")
    if tag != _masters_tag(nodes):
        raise RedisClusterException(
            "the cluster's masters changed during SCAN (failover?): run the clear again"
        )
    return int(index), int(node_cursor)


def _scan_next(nodes: list[Any], index: int, reply: Any) -> tuple[Any, list[Any]]:
    """The opaque cursor after master ``index`` answered ``reply``, and its keys."""
    # A targeted SCAN comes back in redis-py's cluster shape: ({node: cursor}, keys).
    cursors, keys = reply
    node_cursor = int(next(iter(cursors.values())) if isinstance(cursors, dict) else cursors)
    if node_cursor == 0:
        index, node_cursor = index + 1, 0
        if index == len(nodes):
            return 0, list(keys)
    return f"{_masters_tag(nodes)}:{index}:{node_cursor}", list(keys)


class _Direct(NamedTuple):
    """One command, to the node of its key (``target`` ``None``) or to ``target``."""

    command: Command
    target: Any


class _Batch(NamedTuple):
    """A non-transactional cluster pipeline; replies in order, errors in place."""

    commands: tuple[Command, ...]


_ClusterStep = _Direct | _Batch


def _cluster_flow(
    primaries: Callable[[], list[Any]], request: Request
) -> Generator[_ClusterStep, Any, Any]:
    """The reply to ``request`` on a cluster (see module docstring)."""
    if isinstance(request, Pipeline):
        plan = _ClusterPlan(request.commands)
        return plan.fold((yield _Batch(tuple(plan.commands))))
    command = request.command
    if _is_scan(command):
        nodes = sorted(primaries(), key=lambda node: node.name)
        index, node_cursor = _scan_position(command[1], nodes)
        reply = yield _Direct(("SCAN", node_cursor, *command[2:]), nodes[index])
        return _scan_next(nodes, index, reply)
    if split_by_slot(command) is None:
        return (yield _Direct(command, None))
    plan = _ClusterPlan((command,))
    folded = plan.fold((yield _Batch(tuple(plan.commands))))[0]
    if isinstance(folded, Exception):
        raise folded
    return folded


async def _initialized(
    client: redis.asyncio.cluster.RedisCluster,
) -> redis.asyncio.cluster.RedisCluster:
    """``client`` after topology discovery. Discovery is done before any command:
    the first commands of many concurrent tasks on an undiscovered asyncio
    cluster client can fail inside redis-py (a connection used before it opened)."""
    try:
        return await client.initialize()
    except BaseException:
        await client.aclose()
        raise


#: A cluster node that has kept timing out for this long gets the slot table re-read.
TIMEOUT_REFRESH_AFTER_S = 1.0
#: A pause this long between a node's timeouts ends its run of timeouts.
TIMEOUT_STREAK_GAP_S = 5.0


class _TimeoutRuns:
    """Per cluster node, the current run of timeouts: when it began and when the
    latest one was. Decides whether a timeout should re-read the slot table."""

    def __init__(self) -> None:
        self._runs: dict[str, tuple[float, float]] = {}  # node name -> (first, last)

    def refresh_due(self, node_name: str) -> bool:
        now = time.monotonic()
        first, last = self._runs.get(node_name, (now, now))
        if now - last > TIMEOUT_STREAK_GAP_S:
            first = now
        due = now - first >= TIMEOUT_REFRESH_AFTER_S
        self._runs[node_name] = (now if due else first, now)
        return due


class _SyncCluster(redis.cluster.RedisCluster):
    """redis-py's sync cluster client, except that a timeout re-reads the slot
    table only as :class:`_TimeoutRuns` says (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        runs = _TimeoutRuns()
        manager = self.nodes_manager
        rebuild = manager.initialize

        def initialize(*args: Any, **kwargs: Any) -> Any:
            # redis-py names the failed node only from its handler of a command's
            # ConnectionError / TimeoutError, so the error being handled is that one.
            failed_node = kwargs.get("last_failed_node_name")
            if (
                failed_node is not None
                and isinstance(sys.exc_info()[1], TimeoutError)
                and not runs.refresh_due(failed_node)
            ):
                return None
            return rebuild(*args, **kwargs)

        manager.initialize = initialize  # type: ignore[method-assign]


class _AsyncCluster(redis.asyncio.cluster.RedisCluster):
    """redis-py's asyncio cluster client, with the sync one's timeout rule."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timeout_runs = _TimeoutRuns()

    async def _execute_command(self, target_node: Any, *args: Any, **kwargs: Any) -> Any:
        # redis-py flags the client for a rebuild (done by the next command) when a
        # command fails with ConnectionError / TimeoutError; a timeout's flag is taken
        # back unless the node keeps timing out.
        discovered = not self._initialize
        try:
            return await super()._execute_command(target_node, *args, **kwargs)
        except TimeoutError:
            if discovered and not self._timeout_runs.refresh_due(target_node.name):
                self._initialize = False
            raise


class RedisConnector:
    """Owns the clients and executes :mod:`redis_llm_cache.core.ops` requests.

    Pass ``client`` / ``async_client`` to reuse clients you configured yourself
    (then their timeouts and retries are yours; a ``RedisCluster`` makes this a
    cluster connector); otherwise clients are built from ``url`` with the
    timeouts in ``settings``, as cluster clients if ``settings.cluster`` says so
    or, when it is ``None``, if the server reports cluster mode.
    """

    def __init__(
        self,
        *,
        url: str | None,
        settings: ConnectionSettings,
        client: SyncClient | None = None,
        async_client: AsyncClient | None = None,
    ) -> None:
        self.url = resolve_url(url) if client is None or async_client is None else url
        self._settings = settings
        self._client = client
        self._own_client = client is None
        self._async_client = async_client
        self._async_clients = self._new_async_clients()
        self._lock = threading.Lock()
        self._cluster: bool | None = settings.cluster
        for given in (client, async_client):
            if given is not None:
                self._cluster = isinstance(
                    given, (redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster)
                )
        if self._cluster and self.url and self.url.lower().startswith("unix://"):
            raise ConfigurationError(
                "cluster=True needs a redis:// or rediss:// URL: redis-py's RedisCluster "
                "does not connect over unix sockets"
            )

    @property
    def is_cluster(self) -> bool | None:
        """Whether Redis is a Redis Cluster; ``None`` until found out (first use)."""
        return self._cluster

    def _client_options(self, *, asyncio_client: bool = False) -> dict[str, Any]:
        # No retries: a failing Redis is the circuit breaker's business. The asyncio
        # clients need redis-py's asyncio Retry type: a sync Retry still works there
        # but redis-py >= 8.2 warns about it, and under ``-W error`` that warning
        # would fail every async call open.
        retry = AsyncRetry(NoBackoff(), 0) if asyncio_client else Retry(NoBackoff(), 0)
        return {
            "socket_timeout": self._settings.timeout,
            "socket_connect_timeout": self._settings.connect_timeout,
            "retry": retry,
            "retry_on_error": [],
            "decode_responses": False,
        }

    def _cluster_options(self, *, asyncio_client: bool = False) -> dict[str, Any]:
        options = self._client_options(asyncio_client=asyncio_client)
        # The cluster client takes its retry policy itself, not per connection.
        # No retries: a failing master is the circuit breaker's business. MOVED /
        # ASK redirections (resharding, after a failover) are still followed.
        del options["retry_on_error"]
        return options

    # -- clients -------------------------------------------------------------------

    @property
    def sync_client(self) -> SyncClient:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._new_sync_client()
        return self._client

    def _new_sync_client(self) -> SyncClient:
        assert self.url is not None
        if self._cluster:
            return _SyncCluster.from_url(self.url, **self._cluster_options())
        client = redis.Redis.from_url(self.url, **self._client_options())
        if self._cluster is None:
            try:
                cluster = cluster_enabled(client.info("cluster"))
            except ResponseError:  # INFO refused (ACL): a single Redis is assumed
                cluster = False
            except BaseException:
                client.close()
                raise
            self._cluster = cluster
            if cluster:
                client.close()
                return _SyncCluster.from_url(self.url, **self._cluster_options())
        return client

    async def _new_async_client(self) -> AsyncClient:
        assert self.url is not None
        if self._cluster:
            return await _initialized(
                _AsyncCluster.from_url(self.url, **self._cluster_options(asyncio_client=True))
            )
        client = redis.asyncio.Redis.from_url(self.url, **self._client_options(asyncio_client=True))
        if self._cluster is None:
            try:
                cluster = cluster_enabled(await client.info("cluster"))
            except ResponseError:
                cluster = False
            except BaseException:
                await client.aclose()
                raise
            self._cluster = cluster
            if cluster:
                await client.aclose()
                return await _initialized(
                    _AsyncCluster.from_url(self.url, **self._cluster_options(asyncio_client=True))
                )
        return client

    def _new_async_clients(self) -> PerLoopClient[AsyncClient]:
        """redis.asyncio connections belong to the loop that opened them; Jupyter,
        pytest and ``asyncio.run`` in a loop all create new loops, so there is one
        client per loop (closed when its loop shuts down) instead of failing with
        "attached to a different loop"."""
        return PerLoopClient(self._new_async_client, _aclose_client)

    # -- executing requests ------------------------------------------------------------

    def execute(self, request: Request) -> Any:
        client = self.sync_client
        if isinstance(client, redis.cluster.RedisCluster):
            return self._execute_on_cluster(client, request)
        if isinstance(request, Call):
            return client.execute_command(*request.command)  # type: ignore[no-untyped-call]
        pipe = client.pipeline(transaction=False)
        for command in request.commands:
            pipe.execute_command(*command)  # type: ignore[no-untyped-call]
        return pipe.execute(raise_on_error=False)

    async def aexecute(self, request: Request) -> Any:
        # Hot path: the loop's client exists; only its first request awaits making it.
        client = self._async_client
        if client is None:
            client = self._async_clients.current()
            if client is None:
                client = await self._async_clients.get()
        if isinstance(client, redis.asyncio.cluster.RedisCluster):
            await client.initialize()  # no-op once discovered (see _initialized)
            return await self._aexecute_on_cluster(client, request)
        if isinstance(request, Call):
            return await client.execute_command(*request.command)  # type: ignore[no-untyped-call]
        assert isinstance(request, Pipeline)
        pipe = client.pipeline(transaction=False)
        for command in request.commands:
            pipe.execute_command(*command)
        return await pipe.execute(raise_on_error=False)

    # One cluster executor for sync and async: a flow of client steps (see below).

    def _execute_on_cluster(self, client: redis.cluster.RedisCluster, request: Request) -> Any:
        def step(item: _ClusterStep) -> Any:
            if isinstance(item, _Batch):
                pipe = client.pipeline(transaction=False)  # type: ignore[no-untyped-call]
                for command in item.commands:
                    pipe.execute_command(*command)
                return pipe.execute(raise_on_error=False)
            if item.target is None:
                return client.execute_command(*item.command)  # type: ignore[no-untyped-call]
            return client.execute_command(  # type: ignore[no-untyped-call]
                *item.command, target_nodes=item.target
            )

        return run_sync(_cluster_flow(client.get_primaries, request), step)

    async def _aexecute_on_cluster(
        self, client: redis.asyncio.cluster.RedisCluster, request: Request
    ) -> Any:
        async def step(item: _ClusterStep) -> Any:
            if isinstance(item, _Batch):
                pipe = client.pipeline(transaction=False)
                for command in item.commands:
                    pipe.execute_command(*command)
                return await pipe.execute(raise_on_error=False)
            if item.target is None:
                return await client.execute_command(*item.command)
            return await client.execute_command(*item.command, target_nodes=item.target)

        return await run_async(_cluster_flow(client.get_primaries, request), step)

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync client if we created it (async clients: :meth:`aclose`)."""
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the asyncio client of the running loop if we created it (a
        client of a loop that shut down was closed with it)."""
        await self._async_clients.aclose()

    def __getstate__(self) -> dict[str, Any]:
        # Clients hold sockets and locks: a pickled cache rebuilds its own.
        if not self._own_client or self._async_client is not None:
            raise TypeError(
                "a cache built with a caller-supplied Redis client cannot be pickled; "
                "build it with redis_url=... instead"
            )
        state = self.__dict__.copy()
        state["_client"] = None
        state["_async_clients"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._async_clients = self._new_async_clients()
        self._lock = threading.Lock()


async def _aclose_client(client: AsyncClient) -> None:
    await client.aclose()
