"""The exact tier's contract suite, run unchanged on the Redis Cluster.

``redis_url`` / ``redis_client`` come from this directory's conftest, so every
test builds its caches from the cluster's URL (the cache detects cluster mode by
itself) and checks keys through a ``RedisCluster`` client.
"""

from __future__ import annotations

from test_exact_contract import *  # noqa: F403
