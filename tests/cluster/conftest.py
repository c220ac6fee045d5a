"""A real Redis Cluster for the tests in this directory: 3 masters + 3 replicas.

Started once per session (:class:`~redis_llm_cache.redis.embedded.EmbeddedCluster`,
the bundled Redis 8.2 with ``--cluster-enabled yes`` on free loopback ports) and
stopped at the end. ``redis_url`` and ``redis_client`` are overridden here, so
contract tests written for a single Redis, imported into this directory, run
unchanged against the cluster: the cache finds out by itself that it talks to
a cluster (``INFO cluster``). Tests that kill a master start a cluster of their
own (``make_cluster``), so this one stays whole.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis.cluster

from redis_llm_cache.redis.embedded import EmbeddedCluster

# The contract suites live beside other test directories; they are imported by
# module name, as pytest itself imports them (rootdir-relative "prepend" mode).
TESTS = Path(__file__).resolve().parent.parent
for folder in (TESTS, TESTS / "semantic", TESTS / "embeddings"):
    if str(folder) not in sys.path:
        sys.path.append(str(folder))


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[EmbeddedCluster]:
    with EmbeddedCluster(masters=3, replicas=1) as cluster:
        yield cluster


@pytest.fixture
def redis_url(redis_cluster: EmbeddedCluster) -> str:
    return redis_cluster.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.cluster.RedisCluster]:
    client = redis.cluster.RedisCluster.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def make_cluster() -> Iterator[Callable[..., EmbeddedCluster]]:
    """Clusters of the test's own (to kill nodes in), stopped afterwards."""
    made: list[EmbeddedCluster] = []

    def make(**kwargs: object) -> EmbeddedCluster:
        cluster = EmbeddedCluster(**kwargs).start()  # type: ignore[arg-type]
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop()
