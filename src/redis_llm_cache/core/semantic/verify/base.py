"""What every verifier takes and returns, and the protocol it implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ...embedding.embedder import Matrix


@dataclass(frozen=True, slots=True)
class CandidatePair:
    """What a verifier sees: the incoming question and one stored question.

    Attributes:
        query: Text of the incoming question (what was embedded).
        candidate: Text of the stored question whose answer would be served.
        similarity: Their cosine similarity.
        query_vector: The incoming question's normalized vector (``None`` if unknown).
        candidate_vector: The stored question's vector, when the index returns it
            (``None`` otherwise).
    """

    query: str
    candidate: str
    similarity: float
    query_vector: Matrix | None = None
    candidate_vector: Matrix | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """A verifier's answer for one candidate.

    Attributes:
        accept: Serve this candidate's answer.
        score: Probability-like score in [0, 1] (higher: more surely the same question).
        judged_by: ``"verifier"``; ``"judge"`` when a :class:`Judge` decided;
            ``"judge_error"`` when the judge raised (the candidate is rejected).
        judge_ms: Time the judge took (``None`` when none was asked).
        veto: Why the pair is surely not the same question (``None`` when nothing
            rules it out): a difference that changes the question, such as a
            negation, an operator, a number or an opposite. A vetoed candidate is
            never served unless a judge says the two questions are the same.
    """

    accept: bool
    score: float
    judged_by: str = "verifier"
    judge_ms: float | None = None
    veto: str | None = None


@runtime_checkable
class Verifier(Protocol):
    """Decides whether a candidate is the same question (pure CPU, no I/O).

    Called from the sync and the async lookup alike, so it must not block on I/O
    for long; an exception is counted and the candidate is *not* served. A
    verifier that needs I/O (an LLM judge) also offers ``verdict_op(pair)``, an
    operation that yields a :class:`~.ops.Judge` step (see :class:`JudgedVerifier`):
    the caches use it, so the async lookup awaits the judge instead of blocking.
    """

    def verify(self, pair: CandidatePair) -> Verdict:
        """The verdict for ``pair``."""
        ...
