"""Second-stage check of semantic candidates: is the stored question really the same?

A bi-encoder puts "how do I reset my password" and "how do I reset my router", or
"深圳到上海要多久" and "上海到深圳要多久", almost on top of each other: one cosine
threshold cannot tell them apart. After the vector search (and its cosine gate),
the semantic tier asks a :class:`Verifier` about each candidate and serves the best
one it accepts.

:class:`PairVerifier` (the default) is pure CPU and takes tens of microseconds: it
computes features of the *pair* that the embedding misses -- numbers that differ,
negation on one side only, shared words in another order (swapped roles:
"A到B" / "B到A"), words or characters present on one side only, the length ratio,
plus the cosine -- and combines them with a small logistic model whose weights ship
with the package (``verifier_weights.json``). The weights were fit only on the
PAWS-X Chinese pairs (licence: free for any use, (c) Google LLC) and on pairs the
project generates itself (``bench/verifier/fit.py``), with the sign of every weight
fixed in advance; in the shipped fit the overlap, length and substituted-word
features end at weight 0 (they carried no signal with the right sign), so the
score is the cosine plus penalties for reordering, swapped direction, numbers and
negation. In effect it serves a pair at cosine >= ~0.986 that none of those flags.
How right the result is on other labelled sets is measured in
``bench/verifier/correctness.py``.

Stronger checks a user may have -- a cross-encoder, or an LLM asked "same
question?" -- plug in as a :class:`Judge`, consulted only for *borderline*
candidates (verifier score within a band around its decision threshold), see
:class:`JudgedVerifier`.
"""

from __future__ import annotations

from ...ops import Judge as JudgeStep
from .base import CandidatePair as CandidatePair
from .base import Verdict as Verdict
from .base import Verifier as Verifier
from .features import FEATURES as FEATURES
from .features import pair_features as pair_features
from .judge import ChatModelJudge as ChatModelJudge
from .judge import Judge as Judge
from .judge import JudgedVerifier as JudgedVerifier
from .pair import PairModel as PairModel
from .pair import PairVerifier as PairVerifier
from .pair import resolve_verifier as resolve_verifier
from .pair import shipped_model as shipped_model

__all__ = [
    "FEATURES",
    "CandidatePair",
    "ChatModelJudge",
    "Judge",
    "JudgeStep",
    "JudgedVerifier",
    "PairModel",
    "PairVerifier",
    "Verdict",
    "Verifier",
    "pair_features",
    "resolve_verifier",
    "shipped_model",
]
