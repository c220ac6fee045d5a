"""The Redis kinds a test runs on, read from its ``redis_kinds`` marker.

* ``stack``: Redis 8.2 with RediSearch + RedisJSON;
* ``plain``: the same binary without modules;
* ``cluster``: Redis Cluster, 3 masters + 3 replicas, of the same binary (no
  RediSearch: an OSS cluster has no cross-shard search).

A test that uses ``redis_kind`` (through ``redis_url``, ``redis_client``,
``make_cache``...) runs once per kind its closest ``redis_kinds`` marker names
(function, then class, then module): the contract suites name all three; a test
with no marker runs on ``stack`` and ``plain``.
"""

from __future__ import annotations

import pytest

SINGLE_SERVER_KINDS = ("stack", "plain")
ALL_KINDS = (*SINGLE_SERVER_KINDS, "cluster")


def redis_kinds_of(node: pytest.Item) -> tuple[str, ...]:
    """The kinds ``node`` (a test, or its definition while it is being parametrized)
    runs on."""
    marker = node.get_closest_marker("redis_kinds")
    kinds = tuple(marker.args) if marker is not None else SINGLE_SERVER_KINDS
    unknown = [kind for kind in kinds if kind not in ALL_KINDS]
    if not kinds or unknown:
        raise pytest.UsageError(
            f"redis_kinds({', '.join(map(repr, kinds))}): kinds are {ALL_KINDS}"
        )
    return kinds
