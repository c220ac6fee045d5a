"""Similarity thresholds, tied to the embedding model they were calibrated for.

A threshold is a cosine similarity in [-1, 1]: a semantic hit needs at least
this similarity between the new question and a stored one. The same number
means different things for different models (multilingual-e5 similarities
crowd into 0.75-1.0; others spread wider), so a default only exists for a
model it was measured on, and anything else gets a conservative default and a
warning asking for calibration.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass

from ..errors import ConfigurationError
from .embedder import EmbedderIdentity

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CalibratedThreshold:
    """A default threshold and where it comes from."""

    similarity: float
    source: str


#: (provider, model) -> default. See bench/README.md ("Hit correctness") for how
#: each value was measured and what it costs in paraphrase recall.
CALIBRATED: dict[tuple[str, str], CalibratedThreshold] = {
    ("local", "multilingual-e5-small"): CalibratedThreshold(
        0.96,
        "bench/semantic_correctness.py on 1,000 labelled pairs per set: the lowest "
        "similarity at which the English sets (QQP, MRPC, STS-B) serve at most ~13% "
        "of their near-miss pairs; Chinese sets stay far worse at any single "
        "threshold (see bench/README.md)",
    ),
}

#: For models nobody calibrated: few hits, but few wrong answers.
CONSERVATIVE_DEFAULT = 0.97


def validate_threshold(value: float) -> float:
    """A cosine similarity threshold: a finite number in [-1, 1] (0 is valid)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"threshold must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or not -1.0 <= value <= 1.0:
        raise ConfigurationError(
            f"threshold is a cosine similarity in [-1, 1], got {value!r} "
            "(a distance would be 1 - similarity)"
        )
    return float(value)


_warned_lock = threading.Lock()
#: Models already warned about: once per process, however many caches use them
#: (each cache counts its own searches under the fallback in ``stats()``).
_warned: set[tuple[str, str]] = set()


def default_threshold(identity: EmbedderIdentity) -> tuple[float, bool]:
    """``(threshold, calibrated)`` for ``identity``; warns (once per process and
    model) when not calibrated."""
    model = (identity.provider, identity.model)
    calibrated = CALIBRATED.get(model)
    if calibrated is not None:
        return calibrated.similarity, True
    with _warned_lock:
        first = model not in _warned
        _warned.add(model)
    if not first:
        return CONSERVATIVE_DEFAULT, False
    logger.warning(
        "redis-llm-cache: no calibrated similarity threshold for embedder %s/%s; "
        "using the conservative %.2f. Calibrate one on your own labelled pairs "
        "and pass semantic_threshold=...",
        identity.provider,
        identity.model,
        CONSERVATIVE_DEFAULT,
    )
    return CONSERVATIVE_DEFAULT, False
