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
import threading

# The defaults and the validator are settings: defined in config, named here too.
from ...config import (
    CALIBRATED,
    CONSERVATIVE_DEFAULT,
    CalibratedThreshold,
    validate_threshold,
)
from ..embedding.embedder import EmbedderIdentity

logger = logging.getLogger(__name__)


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


__all__ = [
    "CALIBRATED",
    "CONSERVATIVE_DEFAULT",
    "CalibratedThreshold",
    "default_threshold",
    "validate_threshold",
]
