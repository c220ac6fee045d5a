"""The pair verifier's features and model, and the bypass rules (pure logic, no Redis).

Similarities passed in are what the bundled model gives these pairs (measured),
or a value above the default cosine gate (0.96) where the point is that only the
verifier can tell the pair apart.
"""

from __future__ import annotations

import pytest

from redis_llm_cache.core.semantic.eligibility import (
    bypass_reason,
    personal,
    resolve_rules,
    time_sensitive,
    tool_calling,
)
from redis_llm_cache.core.semantic.tier import SemanticSettings
from redis_llm_cache.core.semantic.verify import (
    FEATURES,
    CandidatePair,
    JudgedVerifier,
    PairModel,
    PairVerifier,
    Verdict,
    pair_features,
    resolve_verifier,
    shipped_model,
)
from redis_llm_cache.errors import ConfigurationError


def feature(a: str, b: str, name: str, similarity: float = 0.98) -> float:
    return pair_features(a, b, similarity)[FEATURES.index(name)]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("推荐三本书", "推荐五本书", 1.0),
        ("what is 2 plus 3", "what is 3 plus 3", 1.0),
        ("top 10 movies of 1999", "top 10 movies of 1999?", 0.0),
        ("give me five ideas", "give me two ideas", 1.0),
        ("看一下这本书", "看这本书", 0.0),  # "一下" is no number
    ],
)
def test_number_conflict(a: str, b: str, expected: float) -> None:
    assert feature(a, b, "number_conflict") == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("什么是大模型？", "大模型不是什么？", 1.0),
        ("花呗可以用吗", "花呗没法用吗", 1.0),
        ("花呗能不能用", "花呗可以用吗", 0.0),  # 能不能: a yes/no question, no negation
        ("is it possible to cancel", "is it not possible to cancel", 1.0),
        ("why can't I log in", "why can I log in", 1.0),
        ("why can't I log in", "why cannot I log in", 0.0),
    ],
)
def test_negation_mismatch(a: str, b: str, expected: float) -> None:
    assert feature(a, b, "negation_mismatch") == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("深圳到上海要多久", "上海到深圳要多久"),
        ("从北京去广州坐什么车", "从广州去北京坐什么车"),
        (
            "how long is the train from london to paris",
            "how long is the train from paris to london",
        ),
    ],
)
def test_direction_swap(a: str, b: str) -> None:
    assert feature(a, b, "direction_swapped") == 1.0
    assert feature(a, b, "same_words_reordered") == 1.0
    assert feature(a, b, "shared_words_reordered") == 1.0
    assert feature(a, a, "direction_swapped") == 0.0
    assert feature(a, a, "shared_words_reordered") == 0.0


def test_key_word_substitution_and_overlap() -> None:
    assert feature("how do I reset my password", "how do I reset my router", "key_mismatch") > 0
    # Function words only: a rewording, not another topic.
    assert feature("how do I reset my password", "how can I reset my password", "key_mismatch") == 0
    assert feature("怎么重置密码", "如何重置密码", "key_mismatch") == 0
    assert feature("怎么重置密码", "怎么重置网络", "key_mismatch") > 0
    assert feature("abc", "abc", "token_overlap") == 1.0
    assert feature("same words here", "entirely other text", "token_overlap") == 0.0


def test_features_are_bounded_on_odd_input() -> None:
    for a, b in [("", ""), ("", "x"), ("？？？", "!!!"), ("🙂" * 50, "a" * 3000), ("\x00", "1")]:
        values = pair_features(a, b, 0.97)
        assert len(values) == len(FEATURES)
        assert all(-25.0 <= v <= 25.0 for v in values)


def test_shipped_model_rejects_near_misses_and_accepts_paraphrases() -> None:
    verifier = PairVerifier()
    near_misses = [
        ("深圳到上海要多久", "上海到深圳要多久", 0.9995),
        ("什么是大模型？", "大模型不是什么？", 0.982),
        ("推荐三本书", "推荐五本书", 0.97),
        ("how long is the train from london to paris",
         "how long is the train from paris to london", 0.9992),
    ]  # fmt: skip
    paraphrases = [
        ("怎么重置密码", "如何重置密码", 0.9992),
        ("How do I reset my password?", "How can I reset my password?", 0.9981),
    ]
    for a, b, sim in near_misses:
        assert not verifier.verify(CandidatePair(a, b, sim)).accept, (a, b)
    for a, b, sim in paraphrases:
        verdict = verifier.verify(CandidatePair(a, b, sim))
        assert verdict.accept and verdict.score >= verifier.threshold, (a, b)


def test_model_validation_and_threshold_override() -> None:
    model = shipped_model()
    assert set(model.weights) == set(FEATURES) and 0 < model.threshold < 1
    with pytest.raises(ConfigurationError, match="missing"):
        PairModel(weights={"similarity": 1.0}, bias=0.0, threshold=0.5)
    with pytest.raises(ConfigurationError):
        PairModel.from_json(
            {"weights": dict.fromkeys(FEATURES, 1.0), "bias": "x", "threshold": 0.5}
        )
    with pytest.raises(ConfigurationError):
        PairVerifier(threshold=1.5)
    pair = CandidatePair("怎么重置密码", "如何重置密码", 0.9992)
    assert not PairVerifier(threshold=1.0).verify(pair).accept
    assert PairVerifier(threshold=0.0).verify(pair).accept


def test_judge_decides_only_borderline_candidates() -> None:
    calls: list[tuple[str, str]] = []

    def judge(a: str, b: str) -> bool:
        calls.append((a, b))
        return True

    base = PairVerifier()
    clear_reject = CandidatePair("深圳到上海要多久", "上海到深圳要多久", 0.9995)
    score = base.verify(clear_reject).score
    narrow = JudgedVerifier(judge=judge, base=base, band=max(0.0, abs(score - base.threshold) / 2))
    assert narrow.verify(clear_reject) == Verdict(accept=False, score=score)
    assert calls == []
    wide = JudgedVerifier(judge=judge, base=base, band=1.0)
    verdict = wide.verify(clear_reject)
    assert verdict.accept and verdict.judged_by == "judge" and verdict.judge_ms is not None
    assert calls == [(clear_reject.query, clear_reject.candidate)]

    def broken(a: str, b: str) -> bool:
        raise RuntimeError("judge down")

    failed = JudgedVerifier(judge=broken, band=1.0).verify(clear_reject)
    assert not failed.accept and failed.judged_by == "judge_error"


def test_resolve_verifier() -> None:
    assert resolve_verifier(None) is None
    assert isinstance(resolve_verifier("default"), PairVerifier)
    custom = PairVerifier(threshold=0.9)
    assert resolve_verifier(custom) is custom
    with pytest.raises(ConfigurationError):
        resolve_verifier("strict")
    with pytest.raises(ConfigurationError):
        SemanticSettings(verifier=42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "rule", "expected"),
    [
        ("where is my order", personal, True),
        ("我的快递到哪了", personal, True),
        ("what's my account balance", personal, True),
        ("how do I reset my password", personal, False),
        ("How do I cancel my order?", personal, False),
        ("如何取消我的订单", personal, False),
        ("where can I see my order status", personal, True),
        ("怎么重置密码", personal, False),
        ("what's the weather today", time_sensitive, True),
        ("最新的iPhone是哪款", time_sensitive, True),
        ("现在几点", time_sensitive, True),
        ("what is photosynthesis", time_sensitive, False),
    ],
)
def test_builtin_bypass_rules(text: str, rule: object, expected: bool) -> None:
    assert rule(text, "") is expected  # type: ignore[operator]


def test_tool_calling_and_custom_rules() -> None:
    assert tool_calling("", "[('stop', None), ('tools', [{'type': 'function'}])]")
    assert tool_calling("", '{"tools": [{"type": "function"}]}')
    assert not tool_calling("", '{"tools": []}')
    assert not tool_calling("", "[('tools', None)]")
    rules = resolve_rules(("personal", lambda text, llm: "secret" in text))
    assert bypass_reason(rules, "where is my order", "") == "personal"
    assert bypass_reason(rules, "a secret question", "") == "<lambda>"
    assert bypass_reason(rules, "what is a vector", "") is None
    with pytest.raises(ConfigurationError, match="unknown bypass rule"):
        SemanticSettings(bypass=("weather",))
    with pytest.raises(ConfigurationError):
        SemanticSettings(bypass="personal")  # type: ignore[arg-type]
