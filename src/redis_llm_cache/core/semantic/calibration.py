"""Pick a semantic threshold from labelled pairs, for a wrong-hit rate you accept.

A labelled pair is two questions and whether one's answer serves the other
(``label`` true: a paraphrase; false: a near-miss that must not hit). With the
cosine similarity of each pair (same embedder as the cache), a threshold ``t``
makes every pair with similarity ``>= t`` a hit. For each ``t``:

* ``recall``         -- share of paraphrases that hit (LLM calls saved),
* ``wrong_hit_rate`` -- share of near-misses that hit (wrong answers served),
* ``precision``      -- share of hits that are right.

:func:`calibrate` returns the lowest threshold whose wrong-hit rate is at most
the target (the most hits that target allows) and a table for a grid of
thresholds. A threshold belongs to the embedder it was measured with.

Example:
    >>> pairs = load_pairs("pairs.jsonl")                 # {"a": ..., "b": ..., "label": 1}
    >>> sims = pair_similarities(LocalEmbedder(), pairs)
    >>> result = calibrate(sims, [p.label for p in pairs], target_wrong_hit_rate=0.01)
    >>> RedisLLMCache(embedder=LocalEmbedder(), semantic_threshold=result.threshold)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from ..embedding.embedder import Embedder, check_vectors

#: Thresholds shown in the table when none are given.
DEFAULT_GRID = tuple(round(0.80 + 0.01 * i, 2) for i in range(20))


@dataclass(frozen=True, slots=True)
class LabelledPair:
    a: str
    b: str
    label: bool


@dataclass(frozen=True, slots=True)
class ThresholdRow:
    """What one threshold does on the pairs."""

    threshold: float
    hits: int
    precision: float
    recall: float
    wrong_hit_rate: float


@dataclass(frozen=True, slots=True)
class Calibration:
    """The chosen threshold (``None`` when no threshold meets the target short of
    never hitting), its row, and the table over the grid."""

    threshold: float | None
    chosen: ThresholdRow | None
    rows: tuple[ThresholdRow, ...]
    target_wrong_hit_rate: float
    positives: int
    negatives: int


def load_pairs(path: str | Path) -> list[LabelledPair]:
    """Labelled pairs from a JSONL file, one ``{"a", "b", "label"}`` object a line
    (``label``: true/false or 1/0; blank lines are skipped). Raises ``ValueError``
    naming the line of the first bad record."""
    pairs = []
    with open(path, "rb") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc})") from exc
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected an object with a, b, label")
            a, b, label = record.get("a"), record.get("b"), record.get("label")
            if not isinstance(a, str) or not isinstance(b, str):
                raise ValueError(f"{path}:{number}: 'a' and 'b' must be strings")
            if label not in (0, 1):  # True/False compare equal to 1/0
                raise ValueError(f"{path}:{number}: 'label' must be true/false or 1/0")
            pairs.append(LabelledPair(a, b, bool(label)))
    if not pairs:
        raise ValueError(f"{path}: no pairs")
    return pairs


def pair_similarities(
    embedder: Embedder, pairs: Sequence[LabelledPair], *, batch_size: int = 64
) -> np.ndarray:
    """Cosine similarity of each pair, embedded as the cache embeds questions
    (role ``"query"``); raises what the embedder raises."""
    texts = list(dict.fromkeys(text for pair in pairs for text in (pair.a, pair.b)))
    dimensions = embedder.identity.dimensions
    rows = []
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        rows.append(
            check_vectors(
                embedder.embed(batch, role="query"), count=len(batch), dimensions=dimensions
            )
        )
    matrix = np.vstack(rows)
    index = {text: i for i, text in enumerate(texts)}
    left = matrix[[index[pair.a] for pair in pairs]]
    right = matrix[[index[pair.b] for pair in pairs]]
    similarities: np.ndarray = np.clip(np.einsum("ij,ij->i", left, right), -1.0, 1.0)
    return similarities


@dataclass(frozen=True, slots=True)
class ServedRates:
    """What a decision did on labelled pairs; ``nan`` where a share has no base
    (no hits for ``precision``, no paraphrases for ``recall``, no near-misses for
    ``wrong_hit_rate``)."""

    hits: int
    precision: float
    recall: float
    wrong_hit_rate: float


def served_rates(served: np.ndarray, labels: np.ndarray) -> ServedRates:
    """Rates of any decision -- a threshold, or a threshold plus a verifier -- given
    as a boolean ``served`` per pair (``labels``: true/1 for a paraphrase).

    The one place these shares are computed: :func:`evaluate`, the CLI's
    ``calibrate`` and the correctness benchmarks all read them from here."""
    hit = np.asarray(served, dtype=bool)
    marks = np.asarray(labels, dtype=bool)
    positives = int(marks.sum())
    negatives = len(marks) - positives
    hits = int(hit.sum())
    right = int((hit & marks).sum())
    nan = float("nan")
    return ServedRates(
        hits=hits,
        precision=right / hits if hits else nan,
        recall=right / positives if positives else nan,
        wrong_hit_rate=(hits - right) / negatives if negatives else nan,
    )


def evaluate(similarities: np.ndarray, labels: np.ndarray, threshold: float) -> ThresholdRow:
    """What ``threshold`` does on the pairs (see module docstring). Shares with no
    base are reported as 1.0 precision (no hits: none wrong) and 0.0 recall /
    wrong-hit rate, so the table never shows ``nan``."""
    rates = served_rates(similarities >= threshold, labels)
    return ThresholdRow(
        threshold=float(threshold),
        hits=rates.hits,
        precision=1.0 if math.isnan(rates.precision) else rates.precision,
        recall=0.0 if math.isnan(rates.recall) else rates.recall,
        wrong_hit_rate=0.0 if math.isnan(rates.wrong_hit_rate) else rates.wrong_hit_rate,
    )


def calibrate(
    similarities: Sequence[float] | np.ndarray,
    labels: Sequence[bool] | np.ndarray,
    *,
    target_wrong_hit_rate: float,
    grid: Iterable[float] = DEFAULT_GRID,
) -> Calibration:
    """The lowest threshold with wrong-hit rate ``<= target_wrong_hit_rate`` over
    these pairs, and the table over ``grid`` (plus the chosen threshold).

    Every observed similarity is a candidate, so the choice is exact for the data;
    it is only as good as the pairs are like your traffic. Raises ``ValueError``
    for mismatched lengths, no near-miss pairs, or a target outside [0, 1].
    """
    sims = np.asarray(similarities, dtype=np.float64)
    marks = np.asarray(labels, dtype=bool)
    if sims.shape != marks.shape or sims.ndim != 1 or not len(sims):
        raise ValueError("similarities and labels must be equally long, non-empty sequences")
    if not np.all(np.isfinite(sims)):
        raise ValueError("similarities must be finite")
    if not 0.0 <= target_wrong_hit_rate <= 1.0 or math.isnan(target_wrong_hit_rate):
        raise ValueError(f"target_wrong_hit_rate must be in [0, 1], got {target_wrong_hit_rate}")
    negatives = int((~marks).sum())
    if negatives == 0:
        raise ValueError("no near-miss pairs (label false): the wrong-hit rate cannot be measured")
    # Wrong hits at threshold t = near-misses with similarity >= t. Walking the
    # near-misses' similarities from the top, the k-th one sets the lowest
    # threshold that still serves only k-1 of them.
    allowed = math.floor(target_wrong_hit_rate * negatives + 1e-9)
    wrong_sorted = np.sort(sims[~marks])[::-1]
    chosen_threshold: float | None = float(sims.min())
    if allowed < negatives:
        barrier = wrong_sorted[allowed]  # the first near-miss that must not hit
        above = sims[sims > barrier]
        chosen_threshold = float(above.min()) if len(above) else None
    grid_values = {float(t) for t in grid}
    chosen = None
    if chosen_threshold is not None:
        chosen = evaluate(sims, marks, chosen_threshold)
        grid_values.add(chosen_threshold)
    thresholds = sorted(grid_values)
    return Calibration(
        threshold=chosen_threshold,
        chosen=chosen,
        rows=tuple(evaluate(sims, marks, t) for t in thresholds),
        target_wrong_hit_rate=target_wrong_hit_rate,
        positives=int(marks.sum()),
        negatives=negatives,
    )


def format_table(result: Calibration) -> str:
    """The table as aligned text, the chosen row marked with ``*``."""
    lines = [
        f"{result.positives} paraphrase pairs, {result.negatives} near-miss pairs; "
        f"target wrong-hit rate <= {result.target_wrong_hit_rate:.2%}",
        f"  {'threshold':>9}  {'hits':>6}  {'precision':>9}  {'recall':>7}  {'wrong-hit':>9}",
    ]
    for row in result.rows:
        mark = "*" if result.chosen is not None and row.threshold == result.threshold else " "
        lines.append(
            f"{mark} {row.threshold:>9.4f}  {row.hits:>6}  {row.precision:>9.1%}  "
            f"{row.recall:>7.1%}  {row.wrong_hit_rate:>9.1%}"
        )
    if result.threshold is None:
        lines.append("no threshold meets the target: a near-miss is as similar as any pair")
    else:
        lines.append(f"chosen threshold: {result.threshold:.4f}")
    return "\n".join(lines)
