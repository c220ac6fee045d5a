"""Verifiers that ask a judge (an LLM or any callable) about a pair."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator
from typing import Any

from ....errors import ConfigurationError
from ...drivers import run_local
from ...ops import Embed
from ...ops import Judge as JudgeStep
from .base import CandidatePair, Verdict
from .pair import PairVerifier

#: A judge answers "same question?" for a pair: ``True``/``False``, or a score in
#: [0, 1] (accepted at >= 0.5). A cross-encoder's ``predict`` wrapped in a
#: function, or :class:`ChatModelJudge` around an LLM.
Judge = Callable[[str, str], "bool | float"]


_JUDGE_PROMPT = (
    "Do these two user questions ask for the same thing, so that one answer serves both? "
    "Details matter: different numbers, places, people, negation or direction mean "
    "different questions.\nQuestion 1: {a}\nQuestion 2: {b}\nAnswer only YES or NO."
)


class ChatModelJudge:
    """An LLM as judge: any object with LangChain's chat-model ``invoke`` (a local
    Ollama model via ``langchain_ollama.ChatOllama``, for example). An answer that
    does not start with "yes" counts as NO (the candidate is not served).

    Example:
        >>> from langchain_ollama import ChatOllama
        >>> judge = ChatModelJudge(ChatOllama(model="qwen2.5:3b"))
        >>> cache = RedisLLMCache(embedder=LocalEmbedder(),
        ...     semantic=SemanticSettings(verifier=JudgedVerifier(judge=judge)))
    """

    def __init__(self, model: Any, *, prompt: str = _JUDGE_PROMPT) -> None:
        if not callable(getattr(model, "invoke", None)):
            raise ConfigurationError("ChatModelJudge needs a model with .invoke (a chat model)")
        self.model = model
        self.prompt = prompt

    def __call__(self, query: str, candidate: str) -> bool:
        return _says_yes(self.model.invoke(self.prompt.format(a=query, b=candidate)))

    async def ajudge(self, query: str, candidate: str) -> bool:
        """Async :meth:`__call__` with the model's ``ainvoke`` (what the async
        lookup awaits; a model without ``ainvoke`` is called in a worker thread)."""
        prompt = self.prompt.format(a=query, b=candidate)
        ainvoke = getattr(self.model, "ainvoke", None)
        if ainvoke is None:
            return _says_yes(await asyncio.to_thread(self.model.invoke, prompt))
        return _says_yes(await ainvoke(prompt))


def _says_yes(reply: Any) -> bool:
    content = getattr(reply, "content", reply)
    text = content if isinstance(content, str) else str(content)
    return text.strip().lstrip("*\"' ").lower().startswith(("yes", "是"))


class JudgedVerifier:
    """A verifier whose borderline verdicts are decided by a :class:`Judge`.

    The base verifier scores every candidate; when the score lies within ``band``
    of the base threshold (``|score - threshold| <= band``) the judge decides
    instead, and its latency is recorded. Clear accepts and clear rejects never
    reach the judge. With the shipped weights, a candidate that passes the cosine
    gate and raises no flag scores within ~0.03 of the threshold, so the default
    band hands all of those to the judge and refuses the flagged ones without it
    (how many that is on labelled sets: ``bench/verifier/correctness.py``). A judge
    that raises rejects the candidate (a wrong answer is worse than a miss).

    Note: the judge runs inside the lookup, as a :class:`~.ops.Judge` step: the
    async lookup awaits it (a judge's ``ajudge``, else its call in a worker thread)
    without blocking the event loop, but a slow judge still delays the lookup by
    its latency (see ``stats()["semantic"]["judge"]``).

    Args:
        judge: The stronger check.
        base: The first verifier (default :class:`PairVerifier`); needs a ``threshold``.
        band: Half-width of the borderline band around the base threshold.
    """

    def __init__(self, *, judge: Judge, base: PairVerifier | None = None, band: float = 0.1):
        if not callable(judge):
            raise ConfigurationError("judge must be callable (query, candidate) -> bool | float")
        if not (isinstance(band, (int, float)) and 0.0 <= band <= 1.0):
            raise ConfigurationError(f"band must be in [0, 1], got {band!r}")
        self.judge = judge
        self.base = base if base is not None else PairVerifier()
        self.band = float(band)

    def verify(self, pair: CandidatePair) -> Verdict:
        """The verdict, asking the judge with a blocking call when borderline."""
        return run_local(self._judged(pair, self.base.verify(pair)))

    def verdict_op(self, pair: CandidatePair) -> Generator[Embed | JudgeStep, Any, Verdict]:
        """The verdict as an operation: the base verifier's steps (an ``Embed`` of
        differing segments), then one ``Judge`` step for a borderline pair."""
        verdict = yield from self.base.verdict_op(pair)
        return (yield from self._judged(pair, verdict))

    def _judged(self, pair: CandidatePair, verdict: Verdict) -> Generator[JudgeStep, Any, Verdict]:
        # A vetoed pair the model would have served is borderline too: the judge
        # may overrule the veto (it reads the texts, not the lexicon).
        distance = self.base.threshold - verdict.score if verdict.veto else None
        borderline = abs(verdict.score - self.base.threshold) <= self.band
        if not borderline and not (distance is not None and distance <= self.band):
            return verdict
        started = time.perf_counter()
        judged_by = "judge"
        try:
            answer = yield JudgeStep(self.judge, pair.query, pair.candidate)
            accept = bool(answer) if isinstance(answer, bool) else float(answer) >= 0.5
        except Exception:
            accept, judged_by = False, "judge_error"
        elapsed = (time.perf_counter() - started) * 1000
        return Verdict(
            accept=accept,
            score=verdict.score,
            judged_by=judged_by,
            judge_ms=elapsed,
            veto=verdict.veto,
        )
