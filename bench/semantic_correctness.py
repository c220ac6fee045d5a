"""Semantic-hit correctness of a single cosine threshold, on labelled pairs.

For each labelled file (``{"a", "b", "label"}`` per line; label 1 = paraphrase, a
hit would be right; label 0 = near-miss, a hit would be a wrong answer), both
sides are embedded with the bundled model (``LocalEmbedder``, the query role for
both, as the semantic tier does) and their cosine similarity computed. At a
threshold ``t`` a pair "hits" when similarity >= t:

* paraphrase hit rate (recall) = share of label-1 pairs that hit;
* wrong-hit rate = share of label-0 pairs that hit (answers served for a different
  question);
* precision = right hits / all hits (on these balanced sets).

Reported at our default threshold and at the peers' defaults: RedisVL
``SemanticCache`` (distance 0.1, i.e. similarity 0.90) and langchain-redis
``RedisSemanticCache`` (distance 0.2, similarity 0.80) -- same embeddings for all,
so only the decision rule differs.

Data: the labelled sets are read at run time from a directory given with
``--data`` (not shipped with this project). Run:
``.venv/bin/python bench/semantic_correctness.py --data <dir> [--pairs 1000]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from redis_llm_cache.core.semantic.calibration import served_rates
from redis_llm_cache.core.semantic.thresholds import CALIBRATED
from redis_llm_cache.embedders import LocalEmbedder

PEERS = {"RedisVL default (sim 0.90)": 0.90, "langchain-redis default (sim 0.80)": 0.80}


def similarities(embedder: LocalEmbedder, path: Path, limit: int) -> tuple[np.ndarray, np.ndarray]:
    a, b, labels = [], [], []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            a.append(row["a"])
            b.append(row["b"])
            labels.append(int(row["label"]))
            if len(labels) >= limit:
                break
    va = embedder.embed(a, role="query")
    vb = embedder.embed(b, role="query")
    return np.einsum("ij,ij->i", va, vb), np.asarray(labels)


def rates(sims: np.ndarray, labels: np.ndarray, t: float) -> tuple[float, float, float]:
    """(precision, recall, wrong-hit rate) of threshold ``t``; ``nan`` where undefined."""
    served = served_rates(sims >= t, labels)
    return served.precision, served.recall, served.wrong_hit_rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=1000, help="first N pairs of each file")
    parser.add_argument("--sweep", action="store_true", help="also print a threshold sweep")
    args = parser.parse_args()
    embedder = LocalEmbedder()
    ours = CALIBRATED[(embedder.identity.provider, embedder.identity.model)].similarity
    rules = {f"redis-llm-cache default (sim {ours:.2f})": ours, **PEERS}
    files = sorted(args.data.glob("*.jsonl"))
    if not files:
        raise SystemExit(f"no *.jsonl files in {args.data}")
    results = {}
    started = time.perf_counter()
    for path in files:
        results[path.stem] = similarities(embedder, path, args.pairs)
    print(f"\nEmbedded in {time.perf_counter() - started:.0f} s; {args.pairs} pairs per file\n")
    print("| set | rule | precision | paraphrase hit rate | wrong-hit rate |")
    print("|---|---|---:|---:|---:|")
    for name, (sims, labels) in results.items():
        for rule, t in rules.items():
            precision, recall, wrong = rates(sims, labels, t)
            print(f"| {name} | {rule} | {precision:.2f} | {recall:.2f} | {wrong:.2f} |")
    if args.sweep:
        print("\n| threshold | " + " | ".join(results) + " |  (wrong-hit / paraphrase hit)")
        print("|---:|" + "---|" * len(results))
        for t in np.arange(0.80, 1.0001, 0.01):
            cells = []
            for sims, labels in results.values():
                _, recall, wrong = rates(sims, labels, float(t))
                cells.append(f"{wrong:.2f} / {recall:.2f}")
            print(f"| {t:.2f} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
