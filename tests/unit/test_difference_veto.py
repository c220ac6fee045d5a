"""The difference check behind the verifier's vetoes and the templated-prompt
narrowing (pure logic, no Redis, no model): English, Chinese, operators,
numbers, units, code, opposites, negation, and the normalization of the exact step.
"""

from __future__ import annotations

import pytest

from redis_llm_cache.core.drivers import run_sync
from redis_llm_cache.core.ops import Embed
from redis_llm_cache.core.semantic.verify import CandidatePair, PairVerifier
from redis_llm_cache.core.semantic.verify.diff import compare, normalized

TEMPLATE = (
    "You are a support assistant for an online shop. Answer briefly and politely, and "
    "never invent order numbers.\n\nQuestion: {}"
)
RAG = (
    "Use the context to answer.\n\nContext:\nThe shop opens at 9am and closes at 6pm. "
    "Returns are accepted within 30 days.\n\nQuestion: {}"
)
FENCE = "```python\n{}\n```\nWhat does this print?"


@pytest.mark.parametrize(
    ("a", "b", "veto"),
    [
        # operators and symbols (a bag of words drops them)
        ("filter rows where age > 18", "filter rows where age < 18", "operator"),
        ("what does 10 // 3 give in python", "what does 10 / 3 give in python", "operator"),
        ("is a == b here", "is a != b here", "operator"),
        ("what is 2 ** 8", "what is 2 * 8", "operator"),
        # numbers and units
        ("推荐三本书", "推荐五本书", "number"),
        ("give me 3 ideas for a party", "give me 7 ideas for a party", "number"),
        ("how much is 5 mg per day", "how much is 5 ml per day", "number"),
        ("跑5公里要多久", "跑5毫米要多久", "number"),
        # negation on one side
        ("why can I log in", "why can't I log in", "negation"),
        ("我想退款", "我不想退款", "negation"),
        # opposites from the lexicon, English and Chinese, with inflections
        ("how do I enable two-factor login", "how do I disable two-factor login", "opposite"),
        ("should I sell my shares now", "should I buy my shares now", "opposite"),
        ("dose for children", "dose for adults", "opposite"),
        ("you may submit it late", "you must submit it late", "opposite"),
        ("can we postpone the call", "can we bring forward the call", "opposite"),
        ("sort the table in ascending order", "sort the table in descending order", "opposite"),
        ("how do I turn on the heater", "how do I turn off the heater", "opposite"),
        ("如何开启蓝牙", "如何关闭蓝牙", "opposite"),
        ("按升序排列", "按降序排列", "opposite"),
        ("成人票多少钱", "儿童票多少钱", "opposite"),
        # a negating prefix makes the opposite of any word
        ("how do I lock the door remotely", "how do I unlock the door remotely", "opposite"),
        ("is this certificate valid", "is this certificate invalid", "opposite"),
        # code: any change inside a fenced block or inline code
        (FENCE.format("print(sorted(xs))"), FENCE.format("print(sorted(ys))"), "code"),
        ("what does `xs[1:]` return", "what does `xs[:1]` return", "code"),
    ],
)
def test_a_difference_that_changes_the_question_is_vetoed(a: str, b: str, veto: str) -> None:
    assert compare(a, b).veto == veto
    # Inside a template the same difference is vetoed the same way.
    assert compare(TEMPLATE.format(a), TEMPLATE.format(b)).veto == veto
    verdict = PairVerifier().verify(CandidatePair(a, b, similarity=0.999))
    assert verdict.veto == veto and not verdict.accept


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("how do i cancel my order", "How do I cancel my order?"),
        (
            "\uff37\uff28\uff21\uff34\u3000\uff29\uff33\u3000\uff32\uff21\uff27\uff1f",
            "what is rag",
        ),  # full-width, case, trailing punctuation
        ("能不能退款", "能不能退款？"),
        ("what is 2+2", "what is 2 + 2"),
    ],
)
def test_texts_equal_but_for_case_width_spacing_and_punctuation_are_the_same(
    a: str, b: str
) -> None:
    assert compare(a, b).equal
    assert compare(TEMPLATE.format(a), TEMPLATE.format(b)).equal
    verdict = PairVerifier().verify(CandidatePair(a, b, similarity=0.9))
    assert verdict.accept and verdict.veto is None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("how do I reset my password", "how can I reset my password"),
        ("What are your opening hours?", "When are you open?"),
        ("能不能退款", "可以退款吗"),  # 能不能: a yes/no question, not a negation
        ("是否可以退款", "可以退款吗"),
        ("what are the pros & cons of remote work", "what are the pros and cons of remote work"),
        ("Wal-Mart sales in May", "Wal- Mart sales in May"),  # a dash is prose
        ("the plan: simple and cheap", "the plan - simple and cheap"),
        ("who is older, Ann or Bob, from 9am to 6pm", "who is older, Ann or Bob, from 9am to 6pm?"),
    ],
)
def test_rewordings_are_not_vetoed(a: str, b: str) -> None:
    assert compare(a, b).veto is None


def test_a_shared_text_naming_both_opposites_does_not_hide_a_swap() -> None:
    context = "上午9点到下午6点营业。"
    assert compare(context + "上午几点开门", context + "下午几点开门").veto == "opposite"
    assert (
        compare(
            RAG.format("when does it open on Sunday"), RAG.format("when does it close on Sunday")
        ).veto
        == "opposite"
    )


def test_a_template_is_narrowed_to_the_differing_segments() -> None:
    difference = compare(TEMPLATE.format("How do I pay?"), TEMPLATE.format("How can I pay?"))
    assert difference.narrowed and difference.veto is None
    assert difference.query_part == "How do I pay?"
    assert difference.candidate_part == "How can I pay?"
    # Chinese: full-width punctuation splits segments too.
    zh = compare("请简洁地回答下面的问题：快递几天到", "请简洁地回答下面的问题：快递要几天")
    assert zh.narrowed and (zh.query_part, zh.candidate_part) == ("快递几天到", "快递要几天")
    # A bare question is compared whole.
    assert not compare("How do I pay?", "How can I pay?").narrowed


def test_differences_in_two_places_of_a_template_veto_as_context() -> None:
    a = RAG.format("How do I return an item?")
    b = a.replace("The shop opens", "The office opens").replace(
        "return an item", "send an item back"
    )
    assert compare(a, b).veto == "context"


def _driven(
    verifier: PairVerifier, pair: CandidatePair, similarity: float
) -> tuple[bool, list[tuple[str, ...]]]:
    """Drive ``verdict_op`` answering its Embed steps with two vectors of the given
    cosine; returns (accepted, texts embedded)."""
    embedded: list[tuple[str, ...]] = []

    def execute(step: object) -> object:
        assert isinstance(step, Embed) and step.role == "query"
        embedded.append(step.texts)
        other = (similarity, (1 - similarity**2) ** 0.5)
        return [[1.0, 0.0], list(other)][: len(step.texts)]

    verdict = run_sync(verifier.verdict_op(pair), execute)
    return verdict.accept, embedded


def test_a_templated_pair_is_decided_on_its_differing_segments_embedded_again() -> None:
    a, b = TEMPLATE.format("How do I pay?"), TEMPLATE.format("Where do I pay?")
    pair = CandidatePair(a, b, similarity=0.999)  # the shared text lifts the whole texts
    # Without an embedder the lift is unknown: not served.
    assert not PairVerifier().verify(pair).accept
    accepted, embedded = _driven(PairVerifier(), pair, similarity=0.90)
    assert embedded == [("How do I pay?", "Where do I pay?")] and not accepted
    accepted, _ = _driven(PairVerifier(), CandidatePair(a + " ", b, 0.999), similarity=0.999)
    assert accepted
    # A bare pair needs no second embedding.
    accepted, embedded = _driven(
        PairVerifier(), CandidatePair("How do I pay?", "How can I pay?", 0.999), 0.0
    )
    assert embedded == [] and accepted


def test_normalized_text() -> None:
    assert normalized("  How  do I\tcancel my ORDER?? ") == "how do i cancel my order"
    assert normalized("快递几天到？") == normalized("快递几天到")
    assert normalized("Straße") == normalized("STRASSE")
    assert normalized("what is 2+2") != normalized("what is 2-2")


def test_the_similarity_term_is_tied_to_the_embedder() -> None:
    from redis_llm_cache.config import CALIBRATED, CONSERVATIVE_DEFAULT
    from redis_llm_cache.core.semantic.verify import resolve_verifier
    from redis_llm_cache.core.semantic.verify.pair import FIT_EMBEDDER, FIT_GATE

    assert CALIBRATED[FIT_EMBEDDER].similarity == FIT_GATE
    fit = resolve_verifier("default", embedder=FIT_EMBEDDER, gate=0.90)
    assert isinstance(fit, PairVerifier) and fit.gate is None  # its own scale
    # An embedder nobody calibrated: its conservative gate maps onto the fit gate,
    # so it needs more similarity than the fit embedder for the same verdict.
    other = resolve_verifier("default", embedder=("ollama", "bge-m3"), gate=CONSERVATIVE_DEFAULT)
    assert isinstance(other, PairVerifier) and other.gate == CONSERVATIVE_DEFAULT
    pair = CandidatePair("how do I pay by card", "how can I pay by card", similarity=0.987)
    assert fit.verify(pair).accept and not other.verify(pair).accept
    assert other.verify(CandidatePair(pair.query, pair.candidate, 0.999)).accept
    # A threshold from `calibrate` plugs straight in as the gate.
    calibrated = resolve_verifier("default", embedder=("ollama", "bge-m3"), gate=0.80)
    assert isinstance(calibrated, PairVerifier)
    assert calibrated.verify(CandidatePair(pair.query, pair.candidate, 0.95)).accept


def test_a_segment_added_on_one_side_is_not_a_paraphrase_unless_it_is_one_word() -> None:
    added = compare(TEMPLATE.format("How do I pay?"), TEMPLATE.format("How do I pay?\nIn French."))
    assert added.narrowed and added.candidate_part == "In French." and added.query_part == ""
    verdict = PairVerifier().verify(
        CandidatePair(
            TEMPLATE.format("How do I pay?"), TEMPLATE.format("How do I pay? In French."), 0.999
        )
    )
    assert not verdict.accept
    one_word = compare("Why use a rectifier? Request", "Why use a rectifier?")
    assert not one_word.narrowed and one_word.veto is None
