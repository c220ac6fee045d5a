"""``PerLoopClient``: one asyncio client per event loop, closed with its loop.

Against a real Redis through ``RedisConnector`` (its sockets must be closed when
``asyncio.run`` ends, not leaked), and with a small recording client for what
Redis cannot show (bare ``loop.close()``, concurrent first use).
"""

from __future__ import annotations

import asyncio
import gc

import redis.asyncio

from redis_llm_cache._per_loop import PerLoopClient
from redis_llm_cache.config import CacheSettings
from redis_llm_cache.core.ops import Call
from redis_llm_cache.redis.connection import RedisConnector


class Recorder:
    """A client that only records being made and closed."""

    made: list[Recorder]

    def __init__(self, made: list[Recorder]) -> None:
        self.closed = 0
        made.append(self)


def recording_clients() -> tuple[PerLoopClient[Recorder], list[Recorder]]:
    made: list[Recorder] = []

    async def factory() -> Recorder:
        await asyncio.sleep(0)  # a factory that awaits, as Redis's does
        return Recorder(made)

    async def close(client: Recorder) -> None:
        client.closed += 1

    return PerLoopClient(factory, close), made


def test_redis_client_is_closed_when_its_loop_shuts_down(redis_url: str) -> None:
    connector = RedisConnector(url=redis_url, settings=CacheSettings(timeout=2.0))
    seen: list[redis.asyncio.Redis] = []

    async def ping() -> object:
        reply = await connector.aexecute(Call(("PING",)))
        client = connector._async_clients.current()
        assert isinstance(client, redis.asyncio.Redis)
        seen.append(client)
        return reply

    assert asyncio.run(ping()) is True
    assert asyncio.run(ping()) is True
    assert seen[0] is not seen[1]  # a new loop, a new client
    assert connector._async_clients.loops() == 0  # both closed with their loop
    for client in seen:
        pool = client.connection_pool
        assert pool._available_connections  # it did connect ...
        assert not any(c.is_connected for c in pool._available_connections)  # ... and closed
    seen.clear()
    gc.collect()  # a leaked socket would surface here as an unraisable ResourceWarning
    connector.close()


async def test_aclose_closes_the_running_loops_redis_client(redis_url: str) -> None:
    connector = RedisConnector(url=redis_url, settings=CacheSettings(timeout=2.0))
    assert await connector.aexecute(Call(("PING",))) is True
    client = connector._async_clients.current()
    assert client is not None
    await connector.aclose()
    assert connector._async_clients.current() is None
    assert not any(c.is_connected for c in client.connection_pool._available_connections)
    # Usable again afterwards, with a new client.
    assert await connector.aexecute(Call(("PING",))) is True
    assert connector._async_clients.current() is not client
    await connector.aclose()


def test_each_loop_gets_its_client_closed_at_shutdown() -> None:
    clients, made = recording_clients()

    async def use() -> Recorder:
        first = await clients.get()
        assert await clients.get() is first
        assert first.closed == 0
        return first

    one, two = asyncio.run(use()), asyncio.run(use())
    assert one is not two
    assert [client.closed for client in made] == [1, 1]
    assert clients.loops() == 0


def test_concurrent_first_use_makes_one_client() -> None:
    clients, made = recording_clients()

    async def many() -> set[int]:
        got = await asyncio.gather(*(clients.get() for _ in range(20)))
        return {id(client) for client in got}

    assert len(asyncio.run(many())) == 1
    assert len(made) == 1
    assert made[0].closed == 1


def test_aclose_then_shutdown_closes_once() -> None:
    clients, made = recording_clients()

    async def use() -> None:
        await clients.get()
        await clients.aclose()
        assert made[0].closed == 1
        await clients.get()  # a new one, closed by the shutdown

    asyncio.run(use())
    assert [client.closed for client in made] == [1, 1]


def test_loop_closed_without_shutdown_is_forgotten_without_errors() -> None:
    clients, made = recording_clients()
    loop = asyncio.new_event_loop()
    loop.run_until_complete(clients.get())
    loop.close()  # no shutdown_asyncgens: the close can no longer run
    assert clients.loops() == 1

    async def use() -> Recorder:
        return await clients.get()

    fresh = asyncio.run(use())  # sweeps the closed loop's client
    assert fresh is made[1]
    assert clients.loops() == 0
    assert made[1].closed == 1
    del loop
    gc.collect()  # its watcher is finished: no finalizer runs on the closed loop
