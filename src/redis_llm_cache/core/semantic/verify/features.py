"""The pair features the shipped verifier scores: how two questions differ in
words, numbers, negation, word order and direction (English and Chinese)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise

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


# Negation cues. Chinese "X不X" / "X没X" (是不是, 能不能, 有没有) and "是否",
# "能否", "可否" ask a yes/no question and are no negation: removed before counting.
_ZH_A_NOT_A = re.compile(rf"([{_CJK}])[不没]\1|[是能可与]否")


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


# Shared with the difference check (:mod:`.diff`): one tokenizer, one list of
# number words, one negation count.
CJK = _CJK
NUMBER = _NUMBER
EN_NUMBER_WORDS = _EN_NUMBER_WORDS
tokens = _tokens
negations = _negations
