"""What the verifier benchmarks share: the labelled sets, their DEV/TEST/FIT split,
and the disk cache of their vectors (embedding is the slow part).

Used by ``correctness.py``, ``report.py``, ``fit.py`` and ``ceiling.py`` in this
folder; none of them imports another script, only this module (and ``pairs.py``).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

CACHE_DIR = Path.home() / ".cache" / "redis-llm-cache-bench"
PAWSX = "pawsx_zh"
#: The sets whose mean the results report.
MEAN_SETS = ("lcqmc_test_zh", "bq_test_zh", "oppo_xiaobu_dev_zh", "qqp_gptcache_en", "stsb_zh")


def pair_hash(name: str, a: str, b: str) -> float:
    """Deterministic number in [0, 1) for a pair of a set (the split key)."""
    digest = hashlib.sha256(json.dumps([name, a, b], ensure_ascii=False).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(name: str, a: str, b: str) -> str:
    h = pair_hash(name, a, b)
    if name == PAWSX:
        return "fit" if h < 0.5 else "test"
    return "dev" if h < 0.25 else "test"


def load_pairs(path: Path, split: str, limit: int | None) -> list[dict[str, Any]]:
    """The pairs of ``path`` in ``split``, in file order, at most ``limit``."""
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if split_of(path.stem, row["a"], row["b"]) != split:
                continue
            rows.append(row)
            if limit is not None and len(rows) >= limit:
                break
    return rows


def embed_cached(name: str, texts: list[str]) -> np.ndarray:
    """Vectors of ``texts`` (query role), from the disk cache or embedded now."""
    tag = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]
    cache = CACHE_DIR / f"{name}.{tag}.npz"
    if cache.exists():
        return np.load(cache)["v"]
    from redis_llm_cache.embedders import LocalEmbedder

    started = time.perf_counter()
    vectors = LocalEmbedder().embed(texts, role="query")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.savez(cache, v=vectors)
    seconds = time.perf_counter() - started
    print(f"embedded {name}: {len(texts)} texts in {seconds:.0f} s", file=sys.stderr, flush=True)
    return vectors


_EMBEDDER: Any = None


def verdict_of(verifier: Any, a: str, b: str, similarity: float) -> Any:
    """The cache's verdict on a pair: ``verifier.verdict_op`` driven like the cache
    drives it, its ``Embed`` steps (segments of templated prompts) answered by the
    bundled model."""
    global _EMBEDDER
    from redis_llm_cache.core.drivers import run_sync
    from redis_llm_cache.core.ops import Embed
    from redis_llm_cache.core.semantic.verify import CandidatePair

    def execute(step: object) -> Any:
        global _EMBEDDER
        if not isinstance(step, Embed):
            raise TypeError(f"unexpected step {step!r}")
        if _EMBEDDER is None:
            from redis_llm_cache.embedders import LocalEmbedder

            _EMBEDDER = LocalEmbedder()
        return _EMBEDDER.embed(list(step.texts), role=step.role)

    return run_sync(verifier.verdict_op(CandidatePair(a, b, similarity)), execute)


def embedded(
    path: Path, split: str, limit: int | None
) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
    """Pairs of ``path`` in ``split`` and their two vector matrices (disk-cached)."""
    rows = load_pairs(path, split, limit)
    vectors = embed_cached(
        f"{path.stem}.{split}.{len(rows)}", [r["a"] for r in rows] + [r["b"] for r in rows]
    )
    return rows, vectors[: len(rows)], vectors[len(rows) :]


def set_files(data: Path) -> list[Path]:
    files = [p for p in sorted(data.glob("*.jsonl")) if p.stem != "gptcache_mock_en"]
    if not files:
        raise SystemExit(f"no labelled *.jsonl files in {data}")
    return files
