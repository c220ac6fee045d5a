"""What differs between two questions, read in context: the alignment behind the
verifier's vetoes and the part of a templated prompt that is compared.

A prompt template (instructions, a retrieved context, then the question) makes
two prompts share most of their text, and the embedding of the whole text then
says "same" for any two questions put into it. So the decision rests on what
*differs*:

* both texts are split into tokens that keep symbols, operators, numbers and
  single CJK characters (the bag of words of the pair features drops symbols),
  and aligned (``difflib``); the differing spans are checked for changes that
  make another question -- an operator, a number or unit, a negation, an
  opposite (a general lexicon, :mod:`.lexicon`, plus negating prefixes such as
  ``un-``/``dis-``), any token inside code -- which *veto* the pair;
* both texts are split into segments (lines, sentences); when some segments are
  shared, only the differing ones are compared (:attr:`Difference.query_part`),
  and differences in two places apart (a retrieved context *and* the question)
  veto the pair as ``"context"``.

Pure CPU, microseconds for a short question, well under a millisecond for a
prompt of a few thousand characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from .features import CJK, EN_NUMBER_WORDS, NUMBER, negations, tokens
from .lexicon import EN_OPPOSITES, NEGATING_PREFIXES, OPERATORS, UNITS, ZH_OPPOSITES

_WORD_CHAR = rf"[^\W{CJK}]"
_OPERATOR_ALTERNATIVES = "|".join(
    re.escape(op) for op in sorted((o for o in OPERATORS if len(o) > 1), key=len, reverse=True)
)
#: CJK characters one by one; words (with inner apostrophes, hyphens between
#: letters, decimals); multi-character operators; any other symbol alone.
_TOKEN = re.compile(
    rf"[{CJK}]"
    rf"|{_WORD_CHAR}+(?:'[^\W\d{CJK}]+|-[^\W\d{CJK}]+|\.\d+)*"
    rf"|{_OPERATOR_ALTERNATIVES}"
    r"|[^\w\s]"
)
#: Punctuation of prose (after NFKC, which turns full-width ?!;:, into ASCII):
#: ignored outside code (a question mark more or less does
#: not change a question).
_PROSE_PUNCTUATION = frozenset(
    ".,?!;:'\"`()[]{}\u2026\u2018\u2019\u201c\u201d\u00ab\u00bb\u3002\u3001\u3010\u3011\u300a\u300b\u300c\u300d\u300e\u300f\u00b7\u2014\u2013~"
)
#: Spelled-out forms of symbols of prose, compared as the word.
_SYMBOL_WORDS = {"&": "and", "+": "plus", "@": "at"}
#: A dash added or dropped is prose ("civil war - Red Cross", "Wal- Mart");
#: against another operator it is a minus.
_DASHES = frozenset({"-"})
#: Segment ends: a line break, or sentence punctuation followed by a space or a
#: CJK character (full-width punctuation is ASCII after NFKC), or "。".
_SEGMENT_END = re.compile(rf"\n+|(?<=[.?!;:])(?:\s+|(?=[{CJK}]))|(?<=\u3002)")
_FENCE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_CODE_LINE = re.compile(
    r"^[ \t]*(?:(?:def|class|import|from|return|elif|else|for|while|try|except|function|const|"
    r"let|var|public|private|static|#include|select|insert|update|delete|print|console\.log)\b"
    r".*|.*[;{}][ \t]*|[ \t]*[\w.\[\]]+[ \t]*[-+*/%]?=[^=].*)$",
    re.MULTILINE | re.IGNORECASE,
)
_TRAILING = "".join(sorted(_PROSE_PUNCTUATION)) + " \t\n\r"


def normalized(text: str) -> str:
    """The text after NFKC, case folding, whitespace collapse and trailing
    punctuation strip: two prompts equal here ask the same."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.split()).rstrip(_TRAILING).lstrip()


@dataclass(frozen=True, slots=True)
class Difference:
    """How two texts differ.

    Attributes:
        equal: Same tokens in the same order, prose punctuation, case, width and
            spacing aside.
        veto: Why the difference surely makes another question (``None``: nothing
            does): ``"code"``, ``"operator"``, ``"number"``, ``"negation"``,
            ``"opposite"`` or ``"context"``.
        query_part: What of the query to compare: the whole text, or -- when some
            segments are shared -- only its differing segments.
        candidate_part: The same for the candidate.
        narrowed: The parts leave shared segments out (their similarity is not
            the whole texts' similarity).
    """

    equal: bool
    veto: str | None
    query_part: str
    candidate_part: str
    narrowed: bool


@dataclass(frozen=True, slots=True)
class _Side:
    text: str  # NFKC
    lowered: str
    keys: list[str]  # token keys compared
    spans: list[tuple[int, int]]  # of each key in ``text``
    in_code: list[bool]


def _code_ranges(text: str) -> list[tuple[int, int]]:
    ranges = [m.span() for m in _FENCE.finditer(text)]
    ranges += [m.span() for m in _INLINE_CODE.finditer(text)]
    ranges += [m.span() for m in _CODE_LINE.finditer(text) if m.group().strip()]
    return ranges


def _inside(span: tuple[int, int], ranges: list[tuple[int, int]]) -> bool:
    return any(start <= span[0] and span[1] <= end for start, end in ranges)


@lru_cache(maxsize=1024)
def _side(text: str) -> _Side:
    nfkc = unicodedata.normalize("NFKC", text).replace("\u2019", "'")
    code = _code_ranges(nfkc) if ("`" in nfkc or "\n" in nfkc or ";" in nfkc or "=" in nfkc) else []
    keys: list[str] = []
    spans: list[tuple[int, int]] = []
    in_code: list[bool] = []
    for match in _TOKEN.finditer(nfkc):
        token = match.group().casefold()
        coded = bool(code) and _inside(match.span(), code)
        if (token in _PROSE_PUNCTUATION or token == "`") and not coded:
            continue
        if token == "`":
            continue
        if not coded and token in ("&",):
            token = _SYMBOL_WORDS[token]
        keys.append(token)
        spans.append(match.span())
        in_code.append(coded)
    return _Side(nfkc, nfkc.lower(), keys, spans, in_code)


def _changed(side: _Side, start: int, end: int) -> tuple[int, int] | None:
    if start >= end:
        return None
    return side.spans[start][0], side.spans[end - 1][1]


def _overlaps(span: tuple[int, int], ranges: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in ranges)


def _operator_changed(
    a: _Side, b: _Side, differing: Sequence[tuple[str, int, int, int, int]]
) -> bool:
    for _, i1, i2, j1, j2 in differing:
        ours = {k for k in a.keys[i1:i2] if k in OPERATORS}
        theirs = {k for k in b.keys[j1:j2] if k in OPERATORS}
        if (ours | theirs) - _DASHES or (ours and theirs and ours != theirs):
            return True
    return False


def _numbers(keys: list[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    for key in keys:
        if key in EN_NUMBER_WORDS:
            found[key] += 1
        else:
            found.update(m.replace(",", "") for m in NUMBER.findall(key))
    return found


# -- opposites ---------------------------------------------------------------


def _term_index(
    pairs: list[tuple[tuple[str, ...], tuple[str, ...]]], first: int = 0
) -> dict[str, set[tuple[int, int]]]:
    """Term -> the (pair number, side) it names; pairs are numbered from ``first``."""
    index: dict[str, set[tuple[int, int]]] = {}
    for number, (left, right) in enumerate(pairs, start=first):
        for side, words in ((0, left), (1, right)):
            for word in words:
                index.setdefault(word, set()).add((number, side))
    return index


_EN_TERMS = _term_index(EN_OPPOSITES)
_ZH_TERMS = _term_index(ZH_OPPOSITES, first=len(EN_OPPOSITES))
_EN_FORMS: dict[str, str] = {}
for _term in _EN_TERMS:
    _EN_FORMS[_term] = _term
    if _term.endswith("e") and " " not in _term:
        _EN_FORMS[_term[:-1]] = _term  # "enabling"
_EN_WORD = re.compile(r"[a-z]+(?:[-'][a-z]+)*")
_ZH_LONGEST = max(len(term) for term in _ZH_TERMS)
#: Where a Chinese term may start: any CJK character.
_CJK_CHAR = re.compile(f"[{CJK}]")
_SUFFIXES = ("s", "es", "d", "ed", "ing")


def _en_terms(word: str) -> set[tuple[int, int]]:
    """Pair sides named by an English word or two-word phrase, inflections included."""
    found: set[tuple[int, int]] = set()
    for form in (word, *(word[: -len(x)] for x in _SUFFIXES if word.endswith(x))):
        term = _EN_FORMS.get(form)
        if term is not None:
            found |= _EN_TERMS[term]
    return found


#: Characters of context around a changed range in which an opposite is looked
#: for ("turn on" where only "on" changed, "升序" where only "升" changed).
_WINDOW = 12


def _named_in_changes(side: _Side, changed: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """The (pair number, side) of every lexicon term overlapping a changed range
    (looked up only in windows around the changes: a long shared text costs nothing)."""
    found: set[tuple[int, int]] = set()
    for start, end in changed:
        low = max(0, start - _WINDOW)
        window = side.lowered[low : end + _WINDOW]
        words = [(m.start() + low, m.end() + low, m.group()) for m in _EN_WORD.finditer(window)]
        for index, (first, last, word) in enumerate(words):
            spans = [((first, last), word)]
            if index + 1 < len(words):
                spans.append(((first, words[index + 1][1]), f"{word} {words[index + 1][2]}"))
            for span, text in spans:
                if _overlaps(span, changed):
                    found |= _en_terms(text)
        for cjk in _CJK_CHAR.finditer(window):
            offset = cjk.start()
            for length in range(1, _ZH_LONGEST + 1):
                piece = window[offset : offset + length]
                at = (low + offset, low + offset + length)
                if piece in _ZH_TERMS and _overlaps(at, changed):
                    found |= _ZH_TERMS[piece]
    return found


@lru_cache(maxsize=4096)
def _term_pattern(term: str) -> re.Pattern[str]:
    if re.match(f"[{CJK}]", term):
        return re.compile(re.escape(term))
    forms = [re.escape(term)] + ([re.escape(term[:-1])] if term.endswith("e") else [])
    return re.compile(rf"\b(?:{'|'.join(forms)})(?:s|es|d|ed|ing)?\b")


_PAIR_WORDS = [*EN_OPPOSITES, *ZH_OPPOSITES]


def _count(side: _Side, number: int, which: int) -> int:
    """How often ``side`` names a word of that side of opposite pair ``number``."""
    return sum(len(_term_pattern(w).findall(side.lowered)) for w in _PAIR_WORDS[number][which])


def _opposite(
    a: _Side, b: _Side, changed_a: list[tuple[int, int]], changed_b: list[tuple[int, int]]
) -> bool:
    """Whether a changed span of ``a`` names one side of an opposite pair and the
    aligned change of ``b`` the other, *more often* than the other text does (a
    shared text naming both, "from 9am to 6pm", "是否", does not hide a swap)."""
    inside_b = _named_in_changes(b, changed_b)
    for number, which in _named_in_changes(a, changed_a):
        if (number, 1 - which) in inside_b and (
            _count(a, number, which) > _count(b, number, which)
            and _count(b, number, 1 - which) > _count(a, number, 1 - which)
        ):
            return True
    return False


def _prefixed_opposite(words_a: set[str], words_b: set[str]) -> bool:
    for x, y in ((a, b) for a in words_a for b in words_b):
        longer, shorter = (x, y) if len(x) > len(y) else (y, x)
        prefix = longer[: len(longer) - len(shorter)]
        if len(shorter) >= 3 and longer.endswith(shorter) and prefix in NEGATING_PREFIXES:
            return True
    return False


# -- segments ----------------------------------------------------------------


def _segments(text: str) -> list[str]:
    nfkc = unicodedata.normalize("NFKC", text)
    return [s.strip() for s in _SEGMENT_END.split(nfkc) if s.strip()]


def _segment_key(segment: str) -> str:
    return normalized(segment)


def _narrow(query: str, candidate: str) -> tuple[str, str, bool, bool]:
    """``(query part, candidate part, narrowed, differences in several places)``."""
    seg_a, seg_b = _segments(query), _segments(candidate)
    if len(seg_a) < 2 and len(seg_b) < 2:
        return query, candidate, False, False
    keys_a = [_segment_key(s) for s in seg_a]
    keys_b = [_segment_key(s) for s in seg_b]
    opcodes = SequenceMatcher(None, keys_a, keys_b, autojunk=False).get_opcodes()
    if not any(tag == "equal" for tag, *_ in opcodes):
        return query, candidate, False, False
    differing = [op for op in opcodes if op[0] != "equal"]
    part_a = "\n".join(s for _, i1, i2, _, _ in differing for s in seg_a[i1:i2])
    part_b = "\n".join(s for _, _, _, j1, j2 in differing for s in seg_b[j1:j2])
    if not (part_a and part_b) and len(_side(part_a or part_b).keys) <= 1:
        # One word added as a segment of its own ("... rectifier? Request",
        # "Thanks."): the whole texts say more than one word alone.
        return query, candidate, False, False
    return part_a, part_b, True, len(differing) > 1


def compare(query: str, candidate: str) -> Difference:
    """How ``query`` and ``candidate`` differ (see :class:`Difference`)."""
    a, b = _side(query), _side(candidate)
    opcodes = SequenceMatcher(None, a.keys, b.keys, autojunk=False).get_opcodes()
    differing = [op for op in opcodes if op[0] != "equal"]
    if not differing:
        return Difference(True, None, query, candidate, False)
    part_a, part_b, narrowed, scattered = _narrow(query, candidate)
    changed_a = [r for _, i1, i2, _, _ in differing if (r := _changed(a, i1, i2))]
    changed_b = [r for _, _, _, j1, j2 in differing if (r := _changed(b, j1, j2))]
    keys_a = [k for _, i1, i2, _, _ in differing for k in a.keys[i1:i2]]
    keys_b = [k for _, _, _, j1, j2 in differing for k in b.keys[j1:j2]]
    veto: str | None = None
    if any(a.in_code[i] for _, i1, i2, _, _ in differing for i in range(i1, i2)) or any(
        b.in_code[j] for _, _, _, j1, j2 in differing for j in range(j1, j2)
    ):
        veto = "code"
    elif _operator_changed(a, b, differing):
        veto = "operator"
    elif _number_or_unit_differs(a, b, keys_a, keys_b, changed_a, changed_b):
        veto = "number"
    elif negations(a.text, tokens(a.text)) % 2 != negations(b.text, tokens(b.text)) % 2:
        veto = "negation"
    elif _opposite(a, b, changed_a, changed_b) or _prefixed_opposite(set(keys_a), set(keys_b)):
        veto = "opposite"
    elif scattered:
        veto = "context"
    return Difference(False, veto, part_a, part_b, narrowed)


_ZH_UNIT = re.compile(
    "|".join(sorted((u for u in UNITS if re.match(f"[{CJK}]", u)), key=len, reverse=True))
)


def _units(side: _Side, keys: list[str], changed: list[tuple[int, int]]) -> set[str]:
    found = {k for k in keys if k in UNITS}
    for start, end in changed:
        low = max(0, start - _WINDOW)
        for match in _ZH_UNIT.finditer(side.text, low, end + _WINDOW):
            if _overlaps(match.span(), changed):
                found.add(match.group())
    return found


def _number_or_unit_differs(
    a: _Side,
    b: _Side,
    keys_a: list[str],
    keys_b: list[str],
    changed_a: list[tuple[int, int]],
    changed_b: list[tuple[int, int]],
) -> bool:
    numbers_a, numbers_b = _numbers(keys_a), _numbers(keys_b)
    if numbers_a and numbers_b and numbers_a != numbers_b:
        return True
    units_a, units_b = _units(a, keys_a, changed_a), _units(b, keys_b, changed_b)
    return bool(units_a) and bool(units_b) and units_a != units_b
