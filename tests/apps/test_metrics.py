"""Prometheus metrics and their JSON twin, read from real caches on real Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from prometheus_client.parser import text_string_to_metric_families

from redis_llm_cache.core.stats import CacheStats, ProviderUsage
from redis_llm_cache.errors import ConfigurationError
from redis_llm_cache.langchain import CachedEmbeddings, RedisLLMCache
from redis_llm_cache.langchain.callbacks import ProviderCacheCallback
from redis_llm_cache.metrics import CacheMetrics, ModelPrice, estimate_savings, metrics_json

PRICES = {
    "gpt-4o-mini": ModelPrice(
        input_per_million=0.15, output_per_million=0.60, cached_input_per_million=0.075
    )
}


def answer(text: str) -> AIMessage:
    return AIMessage(
        content=text,
        usage_metadata={
            "input_tokens": 1000,
            "output_tokens": 500,
            "total_tokens": 1500,
            "input_token_details": {"cache_read": 800},
        },
        response_metadata={"model_name": "gpt-4o-mini"},
    )


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(scrape: dict[Any, float], name: str, **labels: str) -> float:
    matches = [v for (n, ls), v in scrape.items() if n == name and set(labels.items()) <= set(ls)]
    assert len(matches) == 1, (name, labels, matches)
    return matches[0]


@pytest.fixture
def used_cache(make_cache: Callable[..., RedisLLMCache]) -> RedisLLMCache:
    """Two misses (one model call each) and three exact hits."""
    cache = make_cache()
    callback = ProviderCacheCallback(cache)
    chat = GenericFakeChatModel(
        messages=iter([answer("A1"), answer("A2")]), cache=cache, callbacks=[callback]
    )
    for question in ("q1", "q2", "q1", "q1", "q2"):
        chat.invoke(question)
    return cache


def test_prometheus_text_reflects_stats(used_cache: RedisLLMCache) -> None:
    metrics = CacheMetrics(prices=PRICES)
    metrics.register(used_cache, name="chat")
    scrape = samples(metrics.prometheus_text())
    ns = used_cache.settings.namespace
    assert value(scrape, "redis_llm_cache_hits_total", tier="exact", namespace=ns) == 3
    assert value(scrape, "redis_llm_cache_hits_total", tier="semantic") == 0
    assert value(scrape, "redis_llm_cache_misses_total", cache="chat") == 2
    assert value(scrape, "redis_llm_cache_writes_total") == 2
    assert value(scrape, "redis_llm_cache_lookup_seconds_count", outcome="exact") == 3
    assert value(scrape, "redis_llm_cache_lookup_seconds_count", outcome="miss") == 2
    assert value(scrape, "redis_llm_cache_lookup_seconds_bucket", outcome="miss", le="+Inf") == 2
    assert value(scrape, "redis_llm_cache_lookup_seconds_sum", outcome="exact") > 0
    tokens = "redis_llm_cache_tokens_saved_total"
    assert value(scrape, tokens, direction="input", model="gpt-4o-mini") == 3000
    assert value(scrape, tokens, direction="output", model="gpt-4o-mini") == 1500
    assert value(scrape, "redis_llm_cache_provider_cache_read_tokens_total") == 1600
    cost = "redis_llm_cache_estimated_cost_saved_usd_total"
    # Each hit saves a call whose prompt the provider had mostly cached: 200 of its
    # 1000 prompt tokens at the input price, 800 at the cached-input price.
    assert value(scrape, cost, source="llm_cache") == pytest.approx(
        (600 * 0.15 + 2400 * 0.075 + 1500 * 0.60) / 1e6
    )
    assert value(scrape, cost, source="provider_cache") == pytest.approx(1600 * 0.075 / 1e6)
    assert value(scrape, "redis_llm_cache_breaker_open") == 0


def test_json_twin_has_the_same_numbers_and_no_prompt_text(used_cache: RedisLLMCache) -> None:
    data = metrics_json(used_cache, prices=PRICES)
    chat = data["caches"][used_cache.settings.namespace]
    assert (chat["hits_exact"], chat["misses"]) == (3, 2)
    assert chat["estimated_savings_usd"]["total_usd"] == pytest.approx(
        (600 * 0.15 + 2400 * 0.075 + 1500 * 0.60 + 1600 * 0.075) / 1e6
    )
    assert chat["estimated_savings_usd"]["unpriced_models"] == []


def test_without_prices_models_are_listed_not_guessed(used_cache: RedisLLMCache) -> None:
    savings = estimate_savings(used_cache.stats(), {})
    assert savings["total_usd"] == 0
    assert savings["unpriced_models"] == ["gpt-4o-mini"]


def test_each_token_is_priced_once_at_what_the_provider_would_bill() -> None:
    """Two misses, three hits of one answer whose 1000-token prompt the provider had
    cached 800 tokens of: the hits save 3 x (200 full + 800 cached + 500 output);
    the provider cache saved its discount on the two real calls only."""
    price = ModelPrice(input_per_million=2.0, output_per_million=8.0, cached_input_per_million=0.5)
    stats = CacheStats()
    for _ in range(3):
        stats.record_lookup(0.001, "exact", ("gpt-4.1", 1000, 500, 800))
    for _ in range(2):
        stats.record_lookup(0.5, None)
        stats.record_provider_usage(ProviderUsage("gpt-4.1", 1000, 800, 0))
    savings = estimate_savings(stats.snapshot(), {"gpt-4.1": price})
    hits_usd = 3 * (200 * 2.0 + 800 * 0.5 + 500 * 8.0) / 1e6  # 0.0144
    provider_usd = 2 * 800 * (2.0 - 0.5) / 1e6  # 0.0024
    assert savings["llm_cache_usd"] == pytest.approx(hits_usd)
    assert savings["provider_cache_usd"] == pytest.approx(provider_usd)
    assert savings["total_usd"] == pytest.approx(0.0168)
    # Said another way: the hits avoided three calls billed like the real ones, and
    # the provider cache took its discount off the two real calls.
    real_call = (200 * 2.0 + 800 * 0.5 + 500 * 8.0) / 1e6
    uncached_call = (1000 * 2.0 + 500 * 8.0) / 1e6
    assert savings["total_usd"] == pytest.approx(3 * real_call + 2 * (uncached_call - real_call))
    assert savings["unpriced_models"] == []


def test_cached_prompt_tokens_without_a_cached_price_are_not_guessed() -> None:
    stats = CacheStats()
    stats.record_lookup(0.001, "exact", ("gpt-4.1", 1000, 500, 800))
    price = ModelPrice(input_per_million=2.0, output_per_million=8.0)
    savings = estimate_savings(stats.snapshot(), {"gpt-4.1": price})
    assert savings["llm_cache_usd"] == pytest.approx((200 * 2.0 + 500 * 8.0) / 1e6)
    assert savings["unpriced_models"] == ["gpt-4.1"]


def test_embedding_cache_and_failing_cache(redis_url: str, namespace: str) -> None:
    embeddings = CachedEmbeddings(
        DeterministicFakeEmbedding(size=8), redis_url=redis_url, namespace=namespace,
        model_id="fake-8", timeout=2.0, connect_timeout=2.0,  # counts must not meet a timeout
    )  # fmt: skip
    try:
        embeddings.embed_documents(["a", "b", "a"])
        embeddings.embed_documents(["a", "c"])

        class Broken:
            def stats(self) -> dict[str, Any]:
                raise RuntimeError("boom")

        metrics = CacheMetrics()
        metrics.register(embeddings, name="emb")
        metrics.register(Broken(), name="broken")
        scrape = samples(metrics.prometheus_text())
        assert value(scrape, "redis_llm_cache_embedding_hits_total", tier="redis") == 1
        assert value(scrape, "redis_llm_cache_embedding_texts_embedded_total") == 3
        assert value(scrape, "redis_llm_cache_scrape_errors_total") == 1
    finally:
        embeddings.clear()


def test_other_counters_are_exported_as_events() -> None:
    class WithVerifier:
        """What a cache with a verifying second stage might report."""

        def stats(self) -> dict[str, Any]:
            return {
                "namespace": "n",
                "hits_exact": 1,
                "verifier_rejections": 3,
                "semantic": {"threshold": 0.9, "strategy": "search", "rejected": 2},
            }

    metrics = CacheMetrics()
    metrics.register(WithVerifier(), name="v")
    scrape = samples(metrics.prometheus_text())
    assert value(scrape, "redis_llm_cache_events_total", event="verifier_rejections") == 3
    assert value(scrape, "redis_llm_cache_semantic_events_total", event="rejected") == 2
    assert value(scrape, "redis_llm_cache_semantic_threshold", strategy="search") == 0.9


def test_error_budget_is_exported() -> None:
    class WithBudget:
        """What a cache with an error budget reports (shape of ``stats()``)."""

        def stats(self) -> dict[str, Any]:
            return {
                "namespace": "n",
                "semantic": {
                    "threshold": 0.85,
                    "strategy": "vectorset",
                    "budget": {
                        "delta": 0.02,
                        "judge_calls": 7,
                        "observations": 6,
                        "served": 4,
                        "missed": {"veto": 1, "clear": 9},
                        "estimated_wrong_hit_rate": 0.004,
                        "boundary_by_partition": {"p1": 0.97, "p2": None},
                    },
                },
            }

    metrics = CacheMetrics()
    metrics.register(WithBudget(), name="b")
    scrape = samples(metrics.prometheus_text())
    assert value(scrape, "redis_llm_cache_budget_judge_calls_total") == 7
    assert value(scrape, "redis_llm_cache_budget_observations_total") == 6
    assert value(scrape, "redis_llm_cache_budget_missed_total", reason="clear") == 9
    assert value(scrape, "redis_llm_cache_budget_delta") == 0.02
    assert value(scrape, "redis_llm_cache_budget_estimated_wrong_hit_rate") == 0.004
    assert value(scrape, "redis_llm_cache_budget_boundary", partition="p1") == 0.97
    boundaries = [labels for name, labels in scrape if name == "redis_llm_cache_budget_boundary"]
    assert len(boundaries) == 1  # a partition without a learned boundary has no sample


def test_registration_and_prices_are_validated(used_cache: RedisLLMCache) -> None:
    metrics = CacheMetrics()
    metrics.register(used_cache, name="x")
    metrics.register(used_cache, name="x")  # the same object again is fine
    with pytest.raises(ValueError, match="already registered"):
        metrics.register(ProviderCacheCallback(), name="x")
    with pytest.raises(TypeError, match="no stats"):
        metrics.register(object())
    with pytest.raises(ConfigurationError):
        ModelPrice(input_per_million=-1, output_per_million=0)
    with pytest.raises(ConfigurationError):
        CacheMetrics(prices={"m": 1.0})  # type: ignore[dict-item]


# -- stats() is a typed snapshot, still readable like a dict ------------------------------


def test_stats_is_a_frozen_snapshot_read_by_attribute_or_key(used_cache: RedisLLMCache) -> None:
    import dataclasses
    import json
    import pickle

    from redis_llm_cache import LookupLatency, StatsSnapshot

    stats = used_cache.stats()
    assert isinstance(stats, StatsSnapshot)
    assert (stats.hits, stats.hits_exact, stats.misses, stats.writes) == (3, 3, 2, 2)
    assert stats["hits"] == stats.hits and stats.get("misses") == 2
    assert stats.hit_rate == pytest.approx(0.6)
    assert isinstance(stats.lookup_ms, LookupLatency)
    assert stats.lookup_ms.count == stats["lookup_ms"]["count"] == 5
    assert stats.namespace == stats["namespace"] == used_cache.settings.namespace
    # Without an embedder there is no semantic section, as with the dict before.
    assert stats.semantic is None and "semantic" not in stats and stats.get("semantic") is None
    with pytest.raises(KeyError):
        stats["semantic"]
    with pytest.raises(KeyError):
        stats["no_such_counter"]
    assert stats.tokens_saved["by_model"]["gpt-4o-mini"]["hits"] == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.hits = 0  # type: ignore[misc]
    plain = stats.as_dict()
    assert plain == dict(stats) and stats == plain  # a Mapping: equal to its dict
    assert plain["lookup_ms"] == {
        key: getattr(stats.lookup_ms, key) for key in ("count", "p50", "p99", "mean", "max")
    }
    assert json.loads(json.dumps(stats)) == json.loads(json.dumps(plain))  # JSON as before
    with pytest.raises(TypeError, match="read-only"):
        stats["hits"] = 0
    again = pickle.loads(pickle.dumps(stats))
    assert again == stats and again.lookup_ms == stats.lookup_ms
    # A later snapshot moves on; this one does not.
    used_cache.lookup("q1", "no-such-llm-string")
    assert used_cache.stats().misses == 3 and stats.misses == 2


def test_embedding_and_provider_stats_are_snapshots_too(
    used_cache: RedisLLMCache, redis_url: str, namespace: str
) -> None:
    from redis_llm_cache import EmbeddingStatsSnapshot, ProviderCacheSnapshot

    embeddings = CachedEmbeddings(
        DeterministicFakeEmbedding(size=8), redis_url=redis_url, namespace=namespace,
        model_id="fake-8", memory_max_entries=10,
    )  # fmt: skip
    try:
        embeddings.embed_documents(["a", "b", "a"])
        embeddings.embed_documents(["a", "c"])
        stats = embeddings.stats()
        assert isinstance(stats, EmbeddingStatsSnapshot)
        assert (stats.hits, stats.texts_embedded, stats.duplicates) == (1, 3, 1)
        assert stats.hits == stats.hits_memory + stats.hits_redis == stats["hits"]
        assert stats.memory_entries == stats["memory_entries"] == 3
    finally:
        embeddings.clear()
    callback = ProviderCacheCallback(used_cache)
    provider = callback.stats()
    assert isinstance(provider, ProviderCacheSnapshot)
    assert provider.responses == provider["responses"] == 2
    assert provider.by_model["gpt-4o-mini"]["cache_read_tokens"] == 1600


def test_a_dict_from_another_stats_reads_as_a_snapshot() -> None:
    from redis_llm_cache.core.stats import StatsSnapshot, as_snapshot

    snapshot = as_snapshot(
        {"hits_exact": 2, "custom": 5, "semantic": {"threshold": 0.9, "rejected": 1}}
    )
    assert isinstance(snapshot, StatsSnapshot)
    assert snapshot.hits_exact == 2 and snapshot.misses == 0
    assert snapshot.counters() == {"custom": 5} and snapshot["custom"] == 5
    assert snapshot.semantic is not None and snapshot.semantic.threshold == 0.9
    assert snapshot.semantic.counters()["rejected"] == 1
