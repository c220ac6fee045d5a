"""The shipped pair model (weights in ``verifier_weights.json``) and
:class:`PairVerifier`, which applies it."""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from ....errors import ConfigurationError
from ...embedding.embedder import Matrix, check_vectors
from ...ops import Embed
from .base import CandidatePair, Verdict, Verifier
from .diff import Difference, compare
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


#: The embedder whose similarities the shipped weights were fit on, and its
#: calibrated cosine gate. Another embedder's similarities are mapped onto this
#: scale through its own gate (see :class:`PairVerifier`, ``gate``).
FIT_EMBEDDER = ("local", "multilingual-e5-small")
FIT_GATE = 0.96


class PairVerifier:
    """The default verifier: the difference check (:mod:`.diff`), then pair features
    + the shipped logistic model; never raises on any text (an empty side simply
    scores low).

    What it decides on, in order:

    1. texts that differ only in case, width, spacing or prose punctuation: same;
    2. a difference that changes the question (an operator, a number or unit, a
       negation, an opposite, any token inside code, differences in two places of
       a template): *veto* (``Verdict.veto``), not served;
    3. otherwise the model's score, on the *differing segments* when the two texts
       share segments (a template's instructions or retrieved context), else on
       the whole texts. The shared text lifts the similarity of the whole texts,
       so the differing segments are embedded again (:meth:`verdict_op` yields an
       ``Embed`` step, answered by the cache's embedder). :meth:`verify` alone has
       no embedder: it rejects such a pair. An instance remembers the vectors of
       recent segments: give caches with different embedders instances of their own.

    The model's similarity term was fit on one embedder's similarities
    (:data:`FIT_EMBEDDER`). For any other embedder the cache passes that embedder's
    cosine gate -- calibrated, given as ``semantic_threshold`` (e.g. from
    ``redis-llm-cache calibrate``), or the conservative default for an embedder
    nobody calibrated -- and similarities are mapped linearly so that the gate
    lands on :data:`FIT_GATE` and 1 stays 1: the verifier then asks of the other
    embedder as much above *its* gate as of the fit embedder above its own.

    Args:
        model: Weights and decision threshold (default: the shipped ones).
        threshold: Override the model's decision threshold (stricter: higher).
        gate: The cosine gate of an embedder other than :data:`FIT_EMBEDDER`
            (``None``: similarities are used as they are).

    Example:
        >>> from redis_llm_cache.core.semantic.verify import CandidatePair, PairVerifier
        >>> pair = CandidatePair("深圳到上海要多久", "上海到深圳要多久", similarity=0.99)
        >>> PairVerifier().verify(pair).accept
        False
        >>> PairVerifier().verify(CandidatePair("age > 18?", "age < 18?", 0.999)).veto
        'operator'
    """

    def __init__(
        self,
        model: PairModel | None = None,
        *,
        threshold: float | None = None,
        gate: float | None = None,
    ) -> None:
        self.model = model if model is not None else shipped_model()
        if gate is not None and not (isinstance(gate, (int, float)) and -1.0 <= gate < 1.0):
            raise ConfigurationError(f"verifier gate must be in [-1, 1), got {gate!r}")
        self.gate = None if gate is None else float(gate)
        if threshold is not None and not (
            isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0
        ):
            raise ConfigurationError(f"verifier threshold must be in [0, 1], got {threshold!r}")
        self.threshold = float(threshold) if threshold is not None else self.model.threshold
        self._parts = _PartVectors()

    def score(self, query: str, candidate: str, similarity: float) -> float:
        """The model's probability-like score that the two texts ask the same thing
        (the features alone: no difference check, no narrowing)."""
        return self.model.score(pair_features(query, candidate, similarity))

    def verify(self, pair: CandidatePair) -> Verdict:
        difference = compare(pair.query, pair.candidate)
        return self._verdict(pair, difference, None if difference.narrowed else pair.similarity)

    def verdict_op(self, pair: CandidatePair) -> Generator[Embed, Any, Verdict]:
        """The verdict as an operation: when only segments of the two texts differ,
        one ``Embed`` step of those segments (skipped for segments seen recently)."""
        difference = compare(pair.query, pair.candidate)
        similarity: float | None = pair.similarity
        if difference.narrowed and _decided_by_score(difference):
            similarity = yield from self._parts.similarity(
                difference.query_part, difference.candidate_part
            )
        return self._verdict(pair, difference, similarity)

    def _verdict(
        self, pair: CandidatePair, difference: Difference, similarity: float | None
    ) -> Verdict:
        if difference.equal:
            return Verdict(accept=True, score=1.0)
        if not (difference.query_part and difference.candidate_part):
            # One side only adds or drops whole segments: another request.
            return Verdict(accept=False, score=0.0, veto=difference.veto)
        raw = pair.similarity if similarity is None else similarity
        score = self.model.score(
            pair_features(difference.query_part, difference.candidate_part, self._scaled(raw))
        )
        if difference.veto is not None:
            return Verdict(accept=False, score=score, veto=difference.veto)
        # Without the segments' own similarity the shared text's lift is unknown.
        return Verdict(accept=similarity is not None and score >= self.threshold, score=score)

    def _scaled(self, similarity: float) -> float:
        """``similarity`` on the fit embedder's scale (see the class docstring)."""
        if self.gate is None:
            return similarity
        return FIT_GATE + (similarity - self.gate) * (1.0 - FIT_GATE) / (1.0 - self.gate)


def _decided_by_score(difference: Difference) -> bool:
    return (
        not difference.equal
        and difference.veto is None
        and bool(difference.query_part)
        and bool(difference.candidate_part)
    )


class _PartVectors:
    """Vectors of recently compared segments (a template's question is compared
    against several candidates, and comes back)."""

    def __init__(self, capacity: int = 256) -> None:
        self._capacity = capacity
        self._items: OrderedDict[str, Matrix] = OrderedDict()
        self._lock = threading.Lock()

    def similarity(self, a: str, b: str) -> Generator[Embed, Any, float]:
        with self._lock:
            known = {t: self._items[t] for t in (a, b) if t in self._items}
        missing = tuple(dict.fromkeys(t for t in (a, b) if t not in known))
        if missing:
            reply = yield Embed(missing, "query")
            vectors = check_vectors(reply, count=len(missing), dimensions=None)
            with self._lock:
                for text, vector in zip(missing, vectors, strict=True):
                    known[text] = vector
                    self._items[text] = vector
                    self._items.move_to_end(text)
                while len(self._items) > self._capacity:
                    self._items.popitem(last=False)
        return float(np.dot(known[a], known[b]))


def resolve_verifier(
    spec: object, *, embedder: tuple[str, str] | None = None, gate: float | None = None
) -> Verifier | None:
    """``"default"`` -> :class:`PairVerifier`, ``None`` -> no verifier, an object with
    ``verify`` -> itself; anything else is a ``ConfigurationError``.

    ``embedder`` (provider, model) and its cosine ``gate``: the default verifier
    maps the similarities of an embedder other than :data:`FIT_EMBEDDER` through
    that gate."""
    if spec is None:
        return None
    if spec == "default":
        mapped = embedder not in (None, FIT_EMBEDDER) and gate is not None and gate < 1.0
        return PairVerifier(gate=gate if mapped else None)
    if isinstance(spec, Verifier):
        return spec
    raise ConfigurationError(
        f"verifier must be 'default', None or an object with verify(pair), got {spec!r}"
    )
