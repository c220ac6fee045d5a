"""The shipped pair model (weights in ``verifier_weights.json``) and
:class:`PairVerifier`, which applies it."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ....errors import ConfigurationError
from .base import CandidatePair, Verdict, Verifier
from .features import FEATURES, pair_features


@dataclass(frozen=True, kw_only=True)
class PairModel:
    """Weights of the logistic model over :data:`FEATURES`, and its decision threshold.

    Attributes:
        weights: One weight per feature name (all of :data:`FEATURES`).
        bias: Intercept.
        threshold: Accept when the score (probability) is at least this.
        source: Where the weights come from (reported in stats).
    """

    weights: dict[str, float]
    bias: float
    threshold: float
    source: str = ""
    _vector: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        missing = set(FEATURES) - set(self.weights)
        unknown = set(self.weights) - set(FEATURES)
        if missing or unknown:
            raise ConfigurationError(
                f"verifier weights must name exactly {FEATURES}; "
                f"missing {sorted(missing)}, unknown {sorted(unknown)}"
            )
        values = [*self.weights.values(), self.bias, self.threshold]
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise ConfigurationError("verifier weights, bias and threshold must be finite numbers")
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigurationError(f"verifier threshold must be in [0, 1], got {self.threshold}")
        object.__setattr__(self, "_vector", tuple(float(self.weights[f]) for f in FEATURES))

    def score(self, features: Sequence[float]) -> float:
        z = self.bias + math.fsum(w * x for w, x in zip(self._vector, features, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PairModel:
        try:
            return cls(
                weights={str(k): float(v) for k, v in data["weights"].items()},
                bias=float(data["bias"]),
                threshold=float(data["threshold"]),
                source=str(data.get("source", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigurationError(f"malformed verifier weights: {exc!r}") from exc


_SHIPPED: PairModel | None = None


def shipped_model() -> PairModel:
    """The model shipped in the package (``verifier_weights.json``)."""
    global _SHIPPED
    if _SHIPPED is None:
        text = resources.files(__package__).joinpath("verifier_weights.json").read_text("utf-8")
        _SHIPPED = PairModel.from_json(json.loads(text))
    return _SHIPPED


class PairVerifier:
    """The default verifier: pair features + the shipped logistic model; never raises
    on any text (an empty side simply scores low).

    Args:
        model: Weights and decision threshold (default: the shipped ones).
        threshold: Override the model's decision threshold (stricter: higher).

    Example:
        >>> from redis_llm_cache.core.semantic.verify import CandidatePair, PairVerifier
        >>> pair = CandidatePair("深圳到上海要多久", "上海到深圳要多久", similarity=0.99)
        >>> PairVerifier().verify(pair).accept
        False
    """

    def __init__(self, model: PairModel | None = None, *, threshold: float | None = None) -> None:
        self.model = model if model is not None else shipped_model()
        if threshold is not None and not (
            isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0
        ):
            raise ConfigurationError(f"verifier threshold must be in [0, 1], got {threshold!r}")
        self.threshold = float(threshold) if threshold is not None else self.model.threshold

    def score(self, query: str, candidate: str, similarity: float) -> float:
        """Probability-like score that the two texts ask the same thing."""
        return self.model.score(pair_features(query, candidate, similarity))

    def verify(self, pair: CandidatePair) -> Verdict:
        score = self.score(pair.query, pair.candidate, pair.similarity)
        return Verdict(accept=score >= self.threshold, score=score)


def resolve_verifier(spec: object) -> Verifier | None:
    """``"default"`` -> :class:`PairVerifier`, ``None`` -> no verifier, an object with
    ``verify`` -> itself; anything else is a ``ConfigurationError``."""
    if spec is None:
        return None
    if spec == "default":
        return PairVerifier()
    if isinstance(spec, Verifier):
        return spec
    raise ConfigurationError(
        f"verifier must be 'default', None or an object with verify(pair), got {spec!r}"
    )
