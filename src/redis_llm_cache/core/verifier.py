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

import asyncio
import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from itertools import pairwise
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigurationError
from .drivers import run_local
from .embedder import Matrix
from .ops import Judge as JudgeStep


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
    """

    accept: bool
    score: float
    judged_by: str = "verifier"
    judge_ms: float | None = None


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


# -- features --------------------------------------------------------------------------------

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|[a-z0-9]+(?:'[a-z]+)?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*|[零〇两二三四五六七八九十百千万亿]+|一[十百千万亿]+")
_EN_NUMBER_WORDS = frozenset(
    [
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "twenty",
        "thirty",
        "forty",
        "fifty",
        "hundred",
        "thousand",
        "million",
        "billion",
    ]
)
# Negation cues. Chinese "X不X" / "X没X" (是不是, 能不能, 有没有) ask a yes/no
# question and are no negation: removed before counting.
_ZH_A_NOT_A = re.compile(rf"([{_CJK}])[不没]\1")
_ZH_NEGATION = re.compile(r"没有|不|没|非|别|无|未|勿|莫|否")
_EN_NEGATION = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nobody",
        "nothing",
        "neither",
        "nor",
        "without",
        "cannot",
        "cant",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "wont",
        "wouldnt",
        "shouldnt",
        "couldnt",
        "hasnt",
        "havent",
    ]
)
# "from A to B", "A到B" / "从A到B", "A去B", "A至B": an ordered pair of places/things.
_ZH_DIRECTION = re.compile(
    rf"([{_CJK}A-Za-z0-9]{{1,6}}?)(?:到|去|至|飞|开往|前往)([{_CJK}A-Za-z0-9]{{1,6}})"
)
_EN_DIRECTION = re.compile(r"from ([a-z0-9 ]{1,30}?) to ([a-z0-9]+(?: [a-z0-9]+)?)")


# Words and characters that carry little of a question's topic: a pair that
# differs only in these is usually a rewording; one that swaps another word is a
# candidate near-miss ("reset my password" / "reset my router").
_EN_FUNCTION = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "he",
        "she",
        "it",
        "its",
        "they",
        "them",
        "their",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "by",
        "with",
        "from",
        "about",
        "into",
        "as",
        "and",
        "or",
        "but",
        "if",
        "so",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "done",
        "doing",
        "have",
        "has",
        "had",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "that",
        "this",
        "these",
        "those",
        "there",
        "here",
        "any",
        "some",
        "all",
        "much",
        "many",
        "more",
        "most",
        "very",
        "just",
        "please",
        "tell",
        "know",
        "get",
        "way",
        "best",
        "good",
        "s",
        "t",
    ]
)
_ZH_FUNCTION = frozenset(
    "的了吗呢吧啊呀么嘛是在有和与及或就也都还很太要想能会可以怎样何如什为请问我你他她它们这那哪个些一下用"
)


def _content(tokens: Sequence[str]) -> set[str]:
    return {t for t in tokens if t not in _EN_FUNCTION and t not in _ZH_FUNCTION}


def _key_mismatch(a: Sequence[str], b: Sequence[str]) -> float:
    """Content words/characters each side has and the other lacks (a substitution),
    as a share of the shorter side's content."""
    ca, cb = _content(a), _content(b)
    if not ca or not cb:
        return 0.0
    return min(len(ca - cb), len(cb - ca)) / min(len(ca), len(cb))


def _tokens(text: str) -> list[str]:
    """Words for English (lowercase), single characters for Chinese, in order."""
    return _TOKEN.findall(text.lower().replace("\u2019", "'"))  # typographic apostrophe


def _numbers(text: str, tokens: Sequence[str]) -> Counter[str]:
    found = Counter(m.replace(",", "") for m in _NUMBER.findall(text))
    found.update(t for t in tokens if t in _EN_NUMBER_WORDS)
    return found


def _negations(text: str, tokens: Sequence[str]) -> int:
    zh = len(_ZH_NEGATION.findall(_ZH_A_NOT_A.sub("", text)))
    en = sum(1 for t in tokens if t.replace("'", "") in _EN_NEGATION or t.endswith("n't"))
    return zh + en


def _bigrams(tokens: Sequence[str]) -> Counter[str]:
    return Counter(f"{a}\x1f{b}" for a, b in pairwise(tokens))


def _dice(a: Counter[str], b: Counter[str]) -> float:
    total = sum(a.values()) + sum(b.values())
    return 2.0 * sum((a & b).values()) / total if total else 1.0


def _shared_words_reordered(a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether two tokens both sides share (once each) come in the other order.

    A yes/no on purpose: a swap of roles ("A借B" / "B借A") moves only two of many
    words, so the *share* of reordered pairs is small exactly where it matters; the
    yes/no version kept more paraphrases at the same wrong-hit rate (bench/README.md,
    "Change of 2026-11-22")."""
    count_a, count_b = Counter(a), Counter(b)
    position = {t: i for i, t in enumerate(b) if count_b[t] == 1}
    order = [position[t] for t in a if count_a[t] == 1 and t in position]
    return any(x > y for x, y in pairwise(order))


def _directions(text: str) -> set[tuple[str, str]]:
    lowered = text.lower()
    found = {(m.group(1)[-2:], m.group(2)[:2]) for m in _ZH_DIRECTION.finditer(lowered)}
    found |= {
        (m.group(1).split()[-1], m.group(2).split()[0]) for m in _EN_DIRECTION.finditer(lowered)
    }
    return found


def _direction_swapped(a: str, b: str) -> bool:
    da, db = _directions(a), _directions(b)
    return any((y, x) in db and (x, y) not in db for x, y in da if x != y)


#: Feature names, in the order of :func:`pair_features` (and of the weights file).
FEATURES = (
    "similarity",
    "token_overlap",
    "bigram_overlap",
    "shared_words_reordered",
    "same_words_reordered",
    "direction_swapped",
    "number_conflict",
    "number_one_side",
    "negation_mismatch",
    "length_ratio",
    "key_mismatch",
)

#: Similarities of this model crowd into [0.8, 1]: centred and scaled so the
#: weight of the similarity is comparable to the others.
_SIM_CENTER, _SIM_SCALE = 0.95, 20.0


def pair_features(query: str, candidate: str, similarity: float) -> list[float]:
    """The pair's features, in the order of :data:`FEATURES` (all in about [-1, 1])."""
    ta, tb = _tokens(query), _tokens(candidate)
    ca, cb = Counter(ta), Counter(tb)
    na, nb = _numbers(query, ta), _numbers(candidate, tb)
    longer = max(len(query), len(candidate))
    return [
        (similarity - _SIM_CENTER) * _SIM_SCALE,
        _dice(ca, cb),
        _dice(_bigrams(ta), _bigrams(tb)),
        float(_shared_words_reordered(ta, tb)),
        float(ca == cb and ta != tb),
        float(_direction_swapped(query, candidate)),
        float(bool(na) and bool(nb) and na != nb),
        float(bool(na) != bool(nb)),
        float(_negations(query, ta) % 2 != _negations(candidate, tb) % 2),
        min(len(query), len(candidate)) / longer if longer else 1.0,
        _key_mismatch(ta, tb),
    ]


# -- the logistic model ----------------------------------------------------------------------


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
        >>> from redis_llm_cache.core.verifier import CandidatePair, PairVerifier
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


# -- stronger judges for borderline candidates -----------------------------------------------

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
        return run_local(self.verdict_op(pair))

    def verdict_op(self, pair: CandidatePair) -> Generator[JudgeStep, Any, Verdict]:
        """The verdict as an operation: a borderline pair yields one ``Judge`` step."""
        verdict = self.base.verify(pair)
        if abs(verdict.score - self.base.threshold) > self.band:
            return verdict
        started = time.perf_counter()
        judged_by = "judge"
        try:
            answer = yield JudgeStep(self.judge, pair.query, pair.candidate)
            accept = bool(answer) if isinstance(answer, bool) else float(answer) >= 0.5
        except Exception:
            accept, judged_by = False, "judge_error"
        elapsed = (time.perf_counter() - started) * 1000
        return Verdict(accept=accept, score=verdict.score, judged_by=judged_by, judge_ms=elapsed)


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
