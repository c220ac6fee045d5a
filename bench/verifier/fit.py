"""Fit the shipped verifier weights (``src/redis_llm_cache/core/verifier_weights.json``).

Fitting data, and nothing else:

* the FIT half of ``pawsx_zh.jsonl`` (PAWS-X: "may be freely used for any purpose",
  (c) Google LLC; the split is the pair hash of ``correctness.py``), and
* the generated pairs of ``pairs.py`` (written for this project).

Model: logistic regression over :data:`redis_llm_cache.core.semantic.verify.FEATURES`, fit by
Newton's method with a small L2 penalty (no intercept penalty); generated pairs are
weighted so both sources count about equally. Only pairs that pass the cosine gate
(the model's calibrated threshold) are used, since only those ever reach the verifier.

Decision threshold: the lowest score threshold at which the gate + verifier serve at
most ``--target`` of the near-miss pairs of *each* fitting source (PAWS-X FIT,
generated), so the shipped default is chosen without any measurement set.

Run: ``.venv/bin/python bench/verifier/fit.py --data <dir> [--write]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from common import PAWSX, embed_cached, embedded
from pairs import generated_pairs
from redis_llm_cache.core.semantic.thresholds import CALIBRATED
from redis_llm_cache.core.semantic.verify import FEATURES, pair_features

WEIGHTS = Path(__file__).resolve().parents[2] / "src/redis_llm_cache/core/verifier_weights.json"


def features(a: list[str], b: list[str], sims: np.ndarray) -> np.ndarray:
    return np.array([pair_features(x, y, float(s)) for x, y, s in zip(a, b, sims, strict=True)])


#: The direction each feature may push the score (a prior, not learned): more
#: similarity or overlap never makes a pair *less* likely the same question, a
#: number conflict never more. PAWS-X alone would teach the opposite for overlap
#: (its near-misses are scrambles of the same words), which does not transfer.
SIGNS = {
    "similarity": 1, "token_overlap": 1, "bigram_overlap": 1, "shared_words_reordered": -1,
    "same_words_reordered": -1, "direction_swapped": -1, "number_conflict": -1,
    "number_one_side": -1, "negation_mismatch": -1, "length_ratio": 1, "key_mismatch": -1,
}  # fmt: skip


def fit_logistic(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, signs: np.ndarray | None, l2: float = 1.0
) -> np.ndarray:
    """Weighted L2 logistic regression with sign constraints; returns [bias, *weights].

    Newton's method on the free weights; a weight that ends with the wrong sign is
    fixed at 0 and the fit repeated (an active-set method; few features). ``signs``:
    +1 / -1 per feature, 0 to leave it out; ``None``: every weight free (no prior)."""
    if signs is None:
        signs = np.full(x.shape[1], 2)  # 2: used, either sign
    design = np.hstack([np.ones((len(x), 1)), x])
    free = np.concatenate([[True], signs != 0])  # sign 0: the feature is left out
    sign = np.concatenate([[0], signs])
    while True:
        beta = np.zeros(design.shape[1])
        cols = np.flatnonzero(free)
        penalty = np.where(cols == 0, 0.0, l2)
        sub = design[:, cols]
        b = np.zeros(len(cols))
        for _ in range(100):
            p = 1 / (1 + np.exp(-sub @ b))
            gradient = sub.T @ (w * (p - y)) + penalty * b
            hessian = (sub * (w * p * (1 - p))[:, None]).T @ sub + np.diag(penalty)
            step = np.linalg.solve(hessian, gradient)
            b -= step
            if np.abs(step).max() < 1e-9:
                break
        beta[cols] = b
        wrong = (np.abs(sign) == 1) & ((sign * beta) < 0)
        if not wrong.any():
            return beta
        free &= ~wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--target", type=float, default=0.03, help="wrong-hit rate to aim at")
    parser.add_argument("--write", action="store_true", help="write the package's weights file")
    parser.add_argument("--out", type=Path, default=WEIGHTS, help="where --write writes")
    parser.add_argument("--drop", nargs="*", default=(), help="features fixed at weight 0")
    parser.add_argument(
        "--generated-weight",
        type=float,
        default=1.0,
        help="weight of the generated pairs relative to PAWS-X FIT (each source sums to it)",
    )
    args = parser.parse_args()
    gate = CALIBRATED[("local", "multilingual-e5-small")].similarity

    sources: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    rows, va, vb = embedded(args.data / f"{PAWSX}.jsonl", "fit", None)
    sims = np.einsum("ij,ij->i", va, vb)
    labels = np.array([int(r["label"]) for r in rows])
    sources["pawsx_fit"] = (
        features([r["a"] for r in rows], [r["b"] for r in rows], sims),
        labels,
        sims,
    )
    pairs = generated_pairs()
    vectors = embed_cached("generated", [p[0] for p in pairs] + [p[1] for p in pairs])
    gsims = np.einsum("ij,ij->i", vectors[: len(pairs)], vectors[len(pairs) :])
    sources["generated"] = (
        features([p[0] for p in pairs], [p[1] for p in pairs], gsims),
        np.array([p[2] for p in pairs]),
        gsims,
    )

    xs, ys, ws = [], [], []
    for name, (x, y, s) in sources.items():
        keep = s >= gate
        print(f"{name}: {len(y)} pairs, {int(keep.sum())} pass the gate {gate}", file=sys.stderr)
        xs.append(x[keep])
        ys.append(y[keep])
        share = args.generated_weight if name == "generated" else 1.0
        ws.append(np.full(int(keep.sum()), share / max(1, int(keep.sum()))))
    signs = np.array([0 if f in args.drop else SIGNS[f] for f in FEATURES])
    beta = fit_logistic(np.vstack(xs), np.concatenate(ys), np.concatenate(ws) * 1000, signs)

    def scores(x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(beta[0] + x @ beta[1:])))

    threshold = 0.0
    for x, y, s in sources.values():
        served_neg = np.sort(scores(x)[(y == 0) & (s >= gate)])[::-1]
        allowed = int(np.floor(args.target * int((y == 0).sum())))
        # Strictly above the (allowed+1)-th highest near-miss score.
        if allowed < len(served_neg):
            threshold = max(threshold, float(served_neg[allowed]) + 1e-6)
    for name, (x, y, s) in sources.items():
        served = (s >= gate) & (scores(x) >= threshold)
        wrong, recall = served[y == 0].mean(), served[y == 1].mean()
        print(f"{name}: wrong-hit {wrong:.3f}, paraphrase hit {recall:.3f}", file=sys.stderr)
    model = {
        "features": list(FEATURES),
        "weights": {f: round(float(v), 4) for f, v in zip(FEATURES, beta[1:], strict=True)},
        "bias": round(float(beta[0]), 4),
        "threshold": round(threshold, 4),
        "source": (
            "bench/verifier/fit.py: logistic regression on PAWS-X zh (FIT half) and "
            f"generated pairs; threshold: wrong-hit <= {args.target} on each"
        ),
    }
    text = json.dumps(model, indent=2, ensure_ascii=False) + "\n"
    print(text)
    if args.write:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
