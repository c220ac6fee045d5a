"""Tables of ``verifier_correctness.py`` (kept apart so the embedding part stays short)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from redis_llm_cache.core.thresholds import CALIBRATED
from redis_llm_cache.core.verifier import PairVerifier
from verifier_correctness import MEAN_SETS

Embedded = Callable[[Path, str, int | None], tuple[list[dict[str, Any]], np.ndarray, np.ndarray]]
PEERS = {"RedisVL default (0.90)": 0.90, "langchain-redis default (0.80)": 0.80}


def rates(served: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(wrong-hit rate, paraphrase hit rate) of a boolean 'served' vector."""
    return float(served[labels == 0].mean()), float(served[labels == 1].mean())


def best_single_threshold(sims: np.ndarray, labels: np.ndarray, max_wrong: float) -> float:
    """Highest paraphrase hit rate of any one cosine threshold whose wrong-hit rate is
    at most ``max_wrong`` (every distinct similarity is tried as the threshold)."""
    best = 0.0
    for t in np.unique(sims):
        wrong, recall = rates(sims >= t, labels)
        if wrong <= max_wrong + 1e-12:
            best = max(best, recall)
    return best


def report(files: list[Path], args: argparse.Namespace, embedded: Embedded) -> int:
    gate = CALIBRATED[("local", "multilingual-e5-small")].similarity
    verifier = PairVerifier()
    limit = args.pairs if args.split == "test" else args.dev_pairs
    print(
        f"split {args.split}; gate (cosine) {gate}; verifier threshold {verifier.threshold}; "
        f"up to {limit} pairs per set\n"
    )
    print(
        "| set | pairs (pos/neg) | default: wrong-hit | default: paraphrase hit | "
        "best single threshold at same wrong-hit | ratio | cosine gate alone: wrong / hit |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    ratios: dict[str, float] = {}
    recalls: dict[str, tuple[float, float]] = {}
    peers: list[str] = []
    timings: list[float] = []
    for path in files:
        if args.split == "dev" and path.stem == "pawsx_zh":
            continue
        rows, va, vb = embedded(path, args.split, limit)
        labels = np.array([int(r["label"]) for r in rows])
        sims = np.einsum("ij,ij->i", va, vb)
        scores = np.empty(len(rows))
        for i, (row, sim) in enumerate(zip(rows, sims, strict=True)):
            started = time.perf_counter()
            scores[i] = verifier.score(row["a"], row["b"], float(sim))
            timings.append(time.perf_counter() - started)
        served = (sims >= gate) & (scores >= verifier.threshold)
        wrong, recall = rates(served, labels)
        single = best_single_threshold(sims, labels, wrong)
        ratio = recall / single if single > 0 else float("inf") if recall > 0 else float("nan")
        ratios[path.stem] = ratio
        recalls[path.stem] = (recall, single)
        gate_wrong, gate_recall = rates(sims >= gate, labels)
        print(
            f"| {path.stem} | {len(rows)} ({int(labels.sum())}/{int((labels == 0).sum())}) | "
            f"{wrong:.3f} | {recall:.3f} | {single:.3f} | {ratio:.2f} | "
            f"{gate_wrong:.3f} / {gate_recall:.3f} |"
        )
        for name, t in PEERS.items():
            peer_wrong, peer_recall = rates(sims >= t, labels)
            peers.append(f"| {path.stem} | {name} | {peer_wrong:.3f} | {peer_recall:.3f} |")
    chosen = [s for s in MEAN_SETS if s in ratios]
    if chosen:
        mean_recall = np.mean([recalls[s][0] for s in chosen])
        mean_single = np.mean([recalls[s][1] for s in chosen])
        finite = [ratios[s] for s in chosen if np.isfinite(ratios[s])]
        print(
            f"\nmean over {', '.join(chosen)}: paraphrase hit {mean_recall:.3f} vs best single "
            f"threshold {mean_single:.3f} (ratio of means {mean_recall / mean_single:.2f}; "
            f"mean of per-set ratios {np.mean(finite):.2f} over {len(finite)} finite)"
        )
    timings.sort()
    print(
        f"\nverifier latency per candidate: p50 {timings[len(timings) // 2] * 1e6:.0f} us, "
        f"p99 {timings[int(len(timings) * 0.99)] * 1e6:.0f} us ({len(timings)} pairs)\n"
    )
    print("| set | peer rule (cosine only) | wrong-hit | paraphrase hit |")
    print("|---|---|---:|---:|")
    print("\n".join(peers))
    return 0
