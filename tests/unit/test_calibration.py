"""Threshold calibration from labelled pairs: the pure logic, and the bundled model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from redis_llm_cache.core.semantic.calibration import (
    LabelledPair,
    calibrate,
    evaluate,
    format_table,
    load_pairs,
    pair_similarities,
)
from redis_llm_cache.embedders import LocalEmbedder

# Similarities and labels (True: paraphrase) of eight made-up pairs.
SIMS = [0.99, 0.97, 0.95, 0.93, 0.96, 0.94, 0.90, 0.85]
LABELS = [True, True, True, True, False, False, False, False]


def test_evaluate_counts_hits_precision_recall_and_wrong_hits() -> None:
    row = evaluate(np.array(SIMS), np.array(LABELS), 0.94)
    # Hits: 0.99 0.97 0.95 (right), 0.96 0.94 (wrong).
    assert (row.hits, row.precision, row.recall, row.wrong_hit_rate) == (5, 0.6, 0.75, 0.5)


@pytest.mark.parametrize(
    ("target", "threshold"),
    [
        (0.0, 0.97),  # above the worst near-miss (0.96)
        (0.25, 0.95),  # one near-miss of four may hit: above 0.94
        (0.5, 0.93),  # two may hit: above 0.90
        (1.0, 0.85),  # anything goes: the lowest similarity
    ],
)
def test_lowest_threshold_meeting_the_target(target: float, threshold: float) -> None:
    result = calibrate(SIMS, LABELS, target_wrong_hit_rate=target)
    assert result.threshold == threshold
    assert result.chosen is not None
    assert result.chosen.wrong_hit_rate <= target
    # One step lower would break the target.
    lower = [s for s in SIMS if s < threshold]
    if lower:
        assert evaluate(np.array(SIMS), np.array(LABELS), max(lower)).wrong_hit_rate > target
    assert result.chosen in result.rows


def test_no_threshold_when_a_near_miss_is_the_most_similar_pair() -> None:
    result = calibrate([0.9, 0.99], [True, False], target_wrong_hit_rate=0.0)
    assert result.threshold is None
    assert "no threshold meets the target" in format_table(result)


@pytest.mark.parametrize(
    ("sims", "labels", "target", "message"),
    [
        ([0.9], [True], 0.01, "no near-miss pairs"),
        ([0.9, 0.8], [True], 0.01, "equally long"),
        ([0.9, 0.8], [True, False], 1.5, r"in \[0, 1\]"),
        ([float("nan"), 0.8], [True, False], 0.1, "finite"),
    ],
)
def test_bad_input_is_refused(
    sims: list[float], labels: list[bool], target: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        calibrate(sims, labels, target_wrong_hit_rate=target)


def test_load_pairs_names_the_bad_line(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text('{"a": "x", "b": "y", "label": 1}\n\n{"a": "x", "b": "z", "label": false}\n')
    assert [p.label for p in load_pairs(good)] == [True, False]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": "x", "b": "y", "label": 1}\n{"a": "x", "b": "y", "label": "yes"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: 'label'"):
        load_pairs(bad)


def test_similarities_from_the_bundled_model() -> None:
    pairs = [
        LabelledPair("How do I reset my password?", "How can I reset my password?", True),
        LabelledPair("How do I reset my password?", "What is the capital of France?", False),
    ]
    sims = pair_similarities(LocalEmbedder(), pairs)
    assert sims.shape == (2,)
    assert sims[0] > sims[1]
    assert sims.min() >= -1.0 and sims.max() <= 1.0
