"""A short run of ``bench/load.py`` on the cluster and on a single Redis.

Asserts what must hold at any speed -- no error reaches the application, no
error is counted, no wrong answer, the Python heap does not grow with the
number of operations -- and nothing about timings (those go in bench/README.md).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from redis_llm_cache.redis.embedded import EmbeddedCluster

#: Heap growth allowed between the end of the warm-up and the end of the run. A
#: client that kept a fraction of each ~1 KB operation would exceed it within the
#: few thousand operations of the run.
MAX_HEAP_GROWTH_MB = 2.0


def load_module() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "load.py"
    spec = importlib.util.spec_from_file_location("bench_load", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", ["cluster", "single"])
def test_short_load_run(
    kind: str, redis_cluster: EmbeddedCluster, redis_servers: dict[str, str], namespace: str
) -> None:
    load = load_module()
    url = redis_cluster.url if kind == "cluster" else redis_servers["plain"]
    result = load.run_load(
        url,
        threads=4,
        seconds=4.0,
        cache_options={"timeout": 2.0, "connect_timeout": 2.0},
        trace_memory=True,
        namespace=namespace,
    )
    assert result["app_errors"] == 0, result["first_app_error"]
    assert result["cache_errors"] == 0, result["cache_errors_by_kind"]
    assert result["wrong_answers"] == 0 and result["hits_missed"] == 0
    assert all(lat["count"] > 0 for lat in result["latency_ms"].values())
    growth = result["heap_mb"]["end"] - result["heap_mb"]["warm"]
    assert growth < MAX_HEAP_GROWTH_MB, (result["ops"], result["heap_mb"])
