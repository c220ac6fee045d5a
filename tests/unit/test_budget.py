"""The error budget's pure parts: observations, the belief fit, the decision, the account."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redis_llm_cache.config import SemanticSettings
from redis_llm_cache.core.semantic.budget import (
    AUDIT_SERVED,
    Account,
    BudgetKeys,
    Observation,
    bounds,
    decide,
    fit,
    prior,
)
from redis_llm_cache.core.semantic.verify import Verdict
from redis_llm_cache.errors import ConfigurationError


def synthetic(
    boundary: float, count: int, seed: int, steepness: float = 200.0
) -> list[Observation]:
    """Observations whose P(same) is a logistic curve with its middle at ``boundary``."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        s = rng.uniform(0.85, 1.0)
        p = 1.0 / (1.0 + np.exp(-steepness * (s - boundary)))
        out.append(Observation(s, rng.random() < p))
    return out


@given(
    similarity=st.floats(-1.0, 1.0),
    same=st.booleans(),
    score=st.none() | st.floats(0.0, 1.0),
    veto=st.booleans(),
)
def test_observation_round_trips(
    similarity: float, same: bool, score: float | None, veto: bool
) -> None:
    decoded = Observation.decode(Observation(similarity, same, score, veto).encode().encode())
    assert decoded is not None
    assert decoded.same == same and decoded.veto == veto
    assert abs(decoded.similarity - similarity) < 1e-5
    assert (decoded.score is None) == (score is None)


@pytest.mark.parametrize(
    "raw", [b"", b"x", b"0.9,,0,2", b"nan,,0,1", b"2.0,,0,1", b"0.9,abc,0,1", b"\xff\xfe", 7]
)
def test_malformed_observations_are_skipped(raw: object) -> None:
    assert Observation.decode(raw) is None


@settings(max_examples=25, deadline=None)
@given(boundary=st.floats(0.88, 0.99), seed=st.integers(0, 10_000))
def test_fit_finds_the_boundary(boundary: float, seed: int) -> None:
    belief = fit(synthetic(boundary, 400, seed), prior())
    assert belief.boundary is not None
    assert abs(belief.boundary - boundary) < 0.015
    assert belief.observations == 400


def test_separable_observations_keep_a_finite_belief() -> None:
    observations = [Observation(0.9, False)] * 20 + [Observation(0.97, True)] * 20
    belief = fit(observations, prior())
    assert np.all(np.isfinite(belief.mean)) and np.all(np.isfinite(belief.cov))
    assert belief.boundary is not None and 0.9 < belief.boundary < 0.97


def test_the_prior_vouches_for_nothing() -> None:
    """An embedder nobody calibrated: every similarity is uncertain or a miss."""
    for similarity in (0.85, 0.9, 0.95, 0.99, 1.0):
        lower, _, _ = bounds(prior(), similarity)
        assert lower < 0.5


def test_evidence_narrows_the_bounds() -> None:
    few = fit(synthetic(0.95, 20, 1), prior())
    many = fit(synthetic(0.95, 400, 1), prior())
    for similarity in (0.93, 0.95, 0.97):
        assert bounds(many, similarity)[2] < bounds(few, similarity)[2]


def test_lower_bound_rises_with_similarity() -> None:
    belief = fit(synthetic(0.95, 200, 3), prior())
    lows = [bounds(belief, s)[0] for s in np.linspace(0.85, 1.0, 16)]
    assert lows == sorted(lows)


def decision(similarity: float, *, verdict: Verdict | None = None, **kwargs: object) -> str:
    belief = fit(synthetic(0.93, 400, 5), prior())
    arguments: dict[str, object] = {
        "bar": 0.9,
        "affordable": 1.0,
        "has_judge": True,
        "draw": 0.5,
    }
    arguments.update(kwargs)
    return decide(belief, similarity, verdict, **arguments).action  # type: ignore[arg-type]


def test_decide_serves_clear_paraphrases_and_misses_clear_others() -> None:
    assert decision(0.99) == "serve"
    assert decision(0.86) == "miss"
    assert decision(0.86, draw=0.001) == "explore"  # a small share is still learned from
    # At the boundary the judge is asked -- less often the more is known there.
    assert decision(0.93, draw=0.0) == "explore"
    assert decision(0.93, draw=0.999) == "miss"


def test_a_share_of_serves_is_audited_by_the_judge() -> None:
    belief = fit(synthetic(0.93, 400, 5), prior())
    common: dict[str, Any] = {"bar": 0.9, "affordable": 1.0}
    audited = decide(belief, 0.99, None, has_judge=True, draw=AUDIT_SERVED / 2, **common)
    assert audited.action == "serve" and audited.audit
    plain = decide(belief, 0.99, None, has_judge=True, draw=AUDIT_SERVED * 2, **common)
    assert plain.action == "serve" and not plain.audit
    no_judge = decide(belief, 0.99, None, has_judge=False, draw=0.0, **common)
    assert no_judge.action == "serve" and not no_judge.audit


def test_a_veto_is_a_miss_without_a_judge_call() -> None:
    veto = Verdict(accept=False, score=0.1, veto="negation")
    assert decision(0.99, verdict=veto) == "miss"
    assert decision(0.99, verdict=veto, draw=0.0) == "miss"


def test_without_a_judge_only_what_the_belief_vouches_for_is_served() -> None:
    assert decision(0.99, has_judge=False) == "serve"
    assert decision(0.93, has_judge=False, draw=0.0) == "miss"


def test_a_spent_account_refuses_to_serve() -> None:
    assert decision(0.99, affordable=0.0) == "miss"


def test_account_keeps_expected_wrong_answers_within_the_budget() -> None:
    """Candidates of every quality arrive; the bar spends the budget on the best."""
    delta = 0.02
    account = Account(delta)
    rng = random.Random(11)
    served = 0
    for _ in range(20_000):
        account.begin()
        lower = rng.random()
        if lower >= account.bar and 1 - lower <= account.affordable():
            account.charge(1 - lower)
            served += 1
    assert account.spent <= delta * account.lookups + 1.0
    assert account.spent >= 0.5 * delta * account.lookups  # the budget is used, not hoarded
    assert served > 0


def test_keys_separate_embedders_and_levels() -> None:
    a, b = BudgetKeys("ns", "local/model-a/384"), BudgetKeys("ns", "ollama/bge-m3/1024")
    exact = "ns:llm:v1:" + "0" * 16 + ":" + "1" * 16 + ":" + "a" * 64
    assert a.entry(exact) != b.entry(exact)
    assert len({a.entry(exact), a.partition("p"), a.all}) == 3
    assert a.entry(exact).endswith("a" * 64)


@pytest.mark.parametrize("bad", [0, 1, -0.1, 1.5, float("nan"), True, "0.02"])
def test_error_budget_is_validated(bad: object) -> None:
    with pytest.raises(ConfigurationError):
        SemanticSettings(error_budget=bad)  # type: ignore[arg-type]


def test_default_settings_have_no_budget() -> None:
    assert SemanticSettings().error_budget is None
    assert SemanticSettings(error_budget=0.02).error_budget == 0.02
    with pytest.raises(ConfigurationError):
        SemanticSettings(error_budget=0.02, judge="not callable")  # type: ignore[arg-type]
