"""A timed-out command does not make the cluster clients re-read the slot table;
a master that keeps timing out still gets replaced in the clients' view.

redis-py re-reads the slot table (``CLUSTER SLOTS``; the asyncio client also
``COMMAND``) after every timeout. The connector's clients keep it after a
timeout, and re-read it when the same node keeps timing out (a stuck master,
which its replica may have replaced). Counted on the real cluster with
``INFO commandstats``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from redis.exceptions import TimeoutError

from redis_llm_cache.config import ConnectionSettings
from redis_llm_cache.core.ops import Call
from redis_llm_cache.redis.connection import RedisConnector
from redis_llm_cache.redis.embedded import EmbeddedCluster, EmbeddedRedis

#: Commands a slot-table rebuild sends (the asyncio client re-reads ``COMMAND`` too).
REBUILD = ("cluster|slots", "cluster|shards", "cluster|nodes", "command")
#: Redis round-trip budget of the connector under test. Any finite timeout shows
#: redis-py's rebuild-after-timeout; three times the library default, so the healthy
#: commands around the pause have room on a loaded CI machine.
TIMEOUT_S = 0.15
#: A ``CLIENT PAUSE`` three timeouts long: the command sent during it must time out.
#: Kept short: this test is about one timeout, not a node stuck for long (that is
#: ``test_stuck_master_is_replaced``).
PAUSE_MS = round(3 * TIMEOUT_S * 1000)
#: Bound on waiting for a stuck master's replica to be promoted and seen.
RECOVERY_S = 60.0


def rebuild_calls(nodes: list[EmbeddedRedis]) -> int:
    """Slot-table commands ``nodes`` have served so far, summed."""
    total = 0
    for node in nodes:
        client = redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=5.0)
        try:
            stats = client.info("commandstats")
        finally:
            client.close()
        total += sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in REBUILD)
    return total


def one_key_per_master(cluster: EmbeddedCluster) -> list[tuple[str, EmbeddedRedis]]:
    found: dict[int | None, tuple[str, EmbeddedRedis]] = {}
    i = 0
    while len(found) < cluster.masters:
        key = f"timeout-probe:{i}"
        master = cluster.master_of(key)
        found.setdefault(master.port, (key, master))
        i += 1
    return list(found.values())


def client_pause(node: EmbeddedRedis, millis: int) -> None:
    client = redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=5.0)
    try:
        client.execute_command("CLIENT", "PAUSE", millis, "ALL")  # type: ignore[no-untyped-call]
    finally:
        client.close()


class Runner:
    """Runs connector requests with ``execute`` or, on one event loop, ``aexecute``."""

    def __init__(self, mode: str, connector: RedisConnector) -> None:
        self.connector = connector
        self.loop = asyncio.new_event_loop() if mode == "async" else None

    def __call__(self, *command: Any) -> Any:
        if self.loop is None:
            return self.connector.execute(Call(command))
        return self.loop.run_until_complete(self.connector.aexecute(Call(command)))

    def close(self) -> None:
        if self.loop is not None:
            self.loop.run_until_complete(self.connector.aclose())
            self.loop.close()
        self.connector.close()


@pytest.fixture(params=["sync", "async"])
def runner_for(request: pytest.FixtureRequest) -> Iterator[Callable[[EmbeddedCluster], Runner]]:
    made: list[Runner] = []

    def make(cluster: EmbeddedCluster) -> Runner:
        settings = ConnectionSettings(cluster=True, timeout=TIMEOUT_S, connect_timeout=TIMEOUT_S)
        connector = RedisConnector(url=cluster.url, settings=settings)
        made.append(Runner(request.param, connector))
        return made[-1]

    yield make
    for runner in made:
        runner.close()


def test_timeout_does_not_rebuild_slot_table(
    redis_cluster: EmbeddedCluster, runner_for: Callable[[EmbeddedCluster], Runner]
) -> None:
    run = runner_for(redis_cluster)
    probes = one_key_per_master(redis_cluster)
    for key, _ in probes:
        run("SET", key, b"v")
    victim_key, victim = probes[0]
    before = rebuild_calls(redis_cluster.nodes)

    client_pause(victim, PAUSE_MS)
    with pytest.raises(TimeoutError):
        run("GET", victim_key)
    # The pause is timed by the server from before the timeout above: over after this.
    time.sleep(PAUSE_MS / 1000 + 0.1)
    for _ in range(3):  # the asyncio client would rebuild at its next command
        assert [run("GET", key) for key, _ in probes] == [b"v"] * len(probes)

    assert rebuild_calls(redis_cluster.nodes) == before


@pytest.mark.disruptive
def test_stuck_master_is_replaced(
    make_cluster: Callable[..., EmbeddedCluster], runner_for: Callable[[EmbeddedCluster], Runner]
) -> None:
    cluster = make_cluster(node_timeout_ms=1000)
    run = runner_for(cluster)
    key, victim = one_key_per_master(cluster)[1]
    run("SET", key, b"kept")
    assert victim.port is not None
    writer = redis.Redis(host="127.0.0.1", port=victim.port, socket_timeout=5.0)
    assert writer.execute_command("WAIT", 1, 5000) == 1  # type: ignore[no-untyped-call]
    writer.close()
    others = [node for node in cluster.nodes if node is not victim]
    before = rebuild_calls(others)

    victim.pause()  # SIGSTOP: its connections hang; only timeouts tell the client
    try:
        deadline = time.monotonic() + RECOVERY_S
        reply = None
        while reply is None:
            assert time.monotonic() < deadline, "the promoted replica was never used"
            try:
                reply = run("GET", key)
            except TimeoutError:
                time.sleep(0.05)
        assert reply == b"kept"  # served by the replica that took over
        assert rebuild_calls(others) > before  # the slot table was re-read

    finally:
        victim.resume()
