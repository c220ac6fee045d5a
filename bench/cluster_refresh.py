"""What one timed-out call costs a cluster connector in follow-up work.

Starts an embedded Redis Cluster (3 masters + 3 replicas), makes a
:class:`~redis_llm_cache.redis.connection.RedisConnector` with the project's
default settings (sync and asyncio), warms it up, then makes one ``GET`` time
out by pausing its master (``CLIENT PAUSE``) -- or, with ``--pipeline``, a
pipeline of that ``GET`` and one to another master -- and then more GETs on
every master. Printed: the commands the whole cluster served meanwhile (from
``INFO commandstats`` / ``INFO stats`` on every node, before vs after; the
script's own counting connections are opened before): slot-table reads (``CLUSTER SLOTS`` /
``SHARDS`` / ``NODES``), ``COMMAND`` (the asyncio client's command table) and
new connections (with their ``CLIENT SETINFO`` handshakes).

    .venv/bin/python bench/cluster_refresh.py [--rounds 5] [--timeout 0.05] \\
        [--pipeline] [--pause-ms 0]

Counts, not speed: this does not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter

import redis

from redis_llm_cache.config import ConnectionSettings
from redis_llm_cache.core.ops import Call, Pipeline, Request
from redis_llm_cache.redis.connection import RedisConnector
from redis_llm_cache.redis.embedded import EmbeddedCluster, EmbeddedRedis

#: Commands counted (``INFO commandstats`` names) and the connection counter.
WATCHED = ("cluster|slots", "cluster|shards", "cluster|nodes", "command", "client|setinfo")
CONNECTIONS = "connections"


def _raw(node: EmbeddedRedis) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=5.0)


def cluster_counts(clients: list[redis.Redis]) -> Counter[str]:
    """Watched command counts and connections received, summed over every node
    (``clients``: one per node, opened before the first count so that they are
    not counted)."""
    total: Counter[str] = Counter()
    for client in clients:
        stats = client.info("commandstats")
        total[CONNECTIONS] += int(client.info("stats")["total_connections_received"])
        for name in WATCHED:
            total[name] += int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))
    return total


def keys_per_master(cluster: EmbeddedCluster) -> dict[int, str]:
    """One key per master port."""
    found: dict[int, str] = {}
    i = 0
    while len(found) < cluster.masters:
        key = f"refresh-probe:{i}"
        port = cluster.master_of(key).port
        assert port is not None
        found.setdefault(port, key)
        i += 1
    return found


def pause(cluster: EmbeddedCluster, port: int, pause_ms: int) -> None:
    node = next(n for n in cluster.nodes if n.port == port)
    client = _raw(node)
    try:
        client.execute_command("CLIENT", "PAUSE", pause_ms, "ALL")  # type: ignore[no-untyped-call]
    finally:
        client.close()


def measure(
    cluster: EmbeddedCluster,
    mode: str,
    settings: ConnectionSettings,
    pause_ms: int,
    pipeline: bool,
) -> dict[str, object]:
    """Follow-up work of one timed-out GET: counts after minus counts before."""
    keys = keys_per_master(cluster)
    victim_port, victim_key = next(iter(keys.items()))
    connector = RedisConnector(url=cluster.url, settings=settings)
    runner = AsyncRunner() if mode == "async" else None
    run = runner or run_sync
    gets = [Call(("GET", key)) for key in keys.values()]
    run(connector, gets * 3)  # discovery and one connection per master
    counters = [_raw(node) for node in cluster.nodes]
    before = cluster_counts(counters)
    if pause_ms:
        pause(cluster, victim_port, pause_ms)
    other_key = list(keys.values())[1]
    timed = (
        Pipeline((("GET", victim_key), ("GET", other_key)))
        if pipeline
        else Call(("GET", victim_key))
    )
    outcome = run(connector, [timed])
    time.sleep(pause_ms / 1000 + 0.1)
    run(connector, gets * 3)
    after = cluster_counts(counters)
    for client in counters:
        client.close()
    if runner is not None:
        runner.close(connector)
    connector.close()
    counts: dict[str, object] = {
        name: after[name] - before[name] for name in (*WATCHED, CONNECTIONS)
    }
    failed = outcome[0] if isinstance(outcome[0], Exception) else None
    if isinstance(outcome[0], list):  # a pipeline's replies: errors in place
        failed = next((r for r in outcome[0] if isinstance(r, Exception)), None)
    counts["failed_with"] = type(failed).__name__ if failed is not None else "-"
    return counts


def run_sync(connector: RedisConnector, calls: list[Request]) -> list[object]:
    out: list[object] = []
    for call in calls:
        try:
            out.append(connector.execute(call))
        except Exception as exc:  # a timed-out call: its exception is the outcome
            out.append(exc)
    return out


class AsyncRunner:
    """Runs calls with ``aexecute`` on one event loop (so one asyncio client)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __call__(self, connector: RedisConnector, calls: list[Request]) -> list[object]:
        async def go() -> list[object]:
            out: list[object] = []
            for call in calls:
                try:
                    out.append(await connector.aexecute(call))
                except Exception as exc:
                    out.append(exc)
            return out

        return self.loop.run_until_complete(go())

    def close(self, connector: RedisConnector) -> None:
        self.loop.run_until_complete(connector.aclose())
        self.loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=ConnectionSettings().timeout)
    parser.add_argument(
        "--pause-ms", type=int, default=300, help="0: no pause (a control run: no timeout)"
    )
    parser.add_argument(
        "--pipeline", action="store_true", help="the timed-out request: a pipeline of two GETs"
    )
    args = parser.parse_args()
    pause_ms = args.pause_ms
    pipeline = args.pipeline
    settings = ConnectionSettings(timeout=args.timeout)
    with EmbeddedCluster(masters=3, replicas=1) as cluster:
        for name in ("sync", "async"):
            for _ in range(args.rounds):
                print(name, measure(cluster, name, settings, pause_ms, pipeline), flush=True)


if __name__ == "__main__":
    main()
