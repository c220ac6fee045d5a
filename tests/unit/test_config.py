from __future__ import annotations

import math

import pytest

from redis_llm_cache import CacheSettings, ConfigurationError


@pytest.mark.parametrize(
    "kwargs",
    [
        {"namespace": ""},
        {"namespace": 3},
        {"tenant": None},
        {"ttl": 0},
        {"ttl": -1},
        {"ttl": math.nan},
        {"ttl": math.inf},
        {"ttl": "60"},
        {"timeout": 0},
        {"timeout": None},
        {"sliding_ttl": True},
        {"max_entries": 0},
        {"max_entries": 1.5},
        {"max_entries": True},
        {"max_entry_bytes": 0},
        {"breaker_failures": 0},
    ],
)
def test_invalid_settings_fail_at_construction(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        CacheSettings(**kwargs)  # type: ignore[arg-type]


def test_settings_are_frozen_and_keyword_only() -> None:
    settings = CacheSettings(ttl=1.5)
    assert settings.ttl_ms == 1500
    with pytest.raises(AttributeError):
        settings.ttl = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        CacheSettings("ns")  # type: ignore[misc]


def test_tiny_ttl_rounds_up_to_one_millisecond() -> None:
    assert CacheSettings(ttl=0.0001).ttl_ms == 1


# -- every setting in config, with public validators --------------------------------------


def test_settings_classes_validate_at_construction() -> None:
    from redis_llm_cache import EmbeddingSettings, SemanticSettings

    for bad in ({"threshold": 1.5}, {"strategy": "faiss"}, {"dtype": "int8"}, {"candidates": 0}):
        with pytest.raises(ConfigurationError):
            SemanticSettings(**bad)  # type: ignore[arg-type]
    for bad in ({"dtype": "float64"}, {"batch_size": 0}, {"namespace": ""}, {"ttl": -1}):
        with pytest.raises(ConfigurationError):
            EmbeddingSettings(**bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        SemanticSettings(0.9)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("validator", "good", "bad"),
    [
        ("validate_threshold", 0.0, 1.01),
        ("validate_strategy", "vectorset", "faiss"),
        ("validate_dtype", "float16", "float64"),
        ("validate_namespace", "ns", ""),
        ("validate_redis_url", "redis://localhost:6379/0", "http://localhost"),
    ],
)
def test_public_validators(validator: str, good: object, bad: object) -> None:
    from redis_llm_cache import config

    check = getattr(config, validator)
    check(good)
    with pytest.raises(ConfigurationError):
        check(bad)


def test_count_and_positive_validators_name_the_setting() -> None:
    from redis_llm_cache.config import validate_count, validate_positive

    validate_count("batch_size", 1)
    validate_positive("ttl", None)
    with pytest.raises(ConfigurationError, match="batch_size"):
        validate_count("batch_size", 0)
    with pytest.raises(ConfigurationError, match="ttl"):
        validate_positive("ttl", math.inf)
    with pytest.raises(ConfigurationError, match="ttl must be set"):
        validate_positive("ttl", None, allow_none=False)


def test_strategy_dtype_defaults_live_in_config() -> None:
    from redis_llm_cache.config import DEFAULT_DTYPES, STRATEGIES

    assert set(DEFAULT_DTYPES) == set(STRATEGIES) - {"auto"}


# -- a prepared settings object and individual settings are never mixed -------------------


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"settings": CacheSettings(namespace="a"), "ttl": 60}, "ttl="),
        ({"settings": CacheSettings(), "namespace": "b", "stampede_lease": 3.0}, "namespace="),
        ({"settings": CacheSettings(), "stampede_lease": 3.0}, "stampede_lease="),
        ({"semantic_threshold": 0.9, "semantic": None}, None),
        ({"semantic_threshold": 0.9, "semantic": "prepared"}, "semantic_threshold="),
        ({"semantic_strategy": "client", "semantic": "prepared"}, "semantic_strategy="),
        ({"semantic_verifier": None, "semantic": "prepared"}, "semantic_verifier="),
    ],
)
def test_llm_cache_refuses_settings_next_to_a_prepared_object(
    kwargs: dict[str, object], named: str | None
) -> None:
    from redis_llm_cache import SemanticSettings
    from redis_llm_cache.langchain import RedisLLMCache

    if kwargs.get("semantic") == "prepared":
        kwargs["semantic"] = SemanticSettings(threshold=0.95)
    if named is None:  # no prepared object: individual settings are the way
        RedisLLMCache(redis_url="redis://127.0.0.1:9", **kwargs)  # type: ignore[arg-type]
        return
    with pytest.raises(ConfigurationError, match=named):
        RedisLLMCache(redis_url="redis://127.0.0.1:9", **kwargs)  # type: ignore[arg-type]


def test_llm_cache_accepts_defaults_next_to_a_prepared_object() -> None:
    from redis_llm_cache import SemanticSettings
    from redis_llm_cache.config import DEFAULT_NAMESPACE
    from redis_llm_cache.langchain import RedisLLMCache

    cache = RedisLLMCache(
        redis_url="redis://127.0.0.1:9",
        settings=CacheSettings(namespace="prepared", ttl=5),
        namespace=DEFAULT_NAMESPACE,  # the default: not a conflicting value
        semantic=SemanticSettings(threshold=0.9),
        semantic_strategy="auto",
        semantic_context="system",  # not a SemanticSettings field: always allowed
    )
    assert cache.settings.namespace == "prepared"
    assert cache.core.semantic_settings.threshold == 0.9


def test_embedding_caches_refuse_settings_next_to_a_prepared_object() -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from redis_llm_cache import EmbeddingCache, EmbeddingSettings
    from redis_llm_cache.langchain import CachedEmbeddings

    inner = DeterministicFakeEmbedding(size=4)
    with pytest.raises(ConfigurationError, match="batch_size=, ttl="):
        CachedEmbeddings(
            inner,
            model_id="fake",
            redis_url="redis://127.0.0.1:9",
            settings=EmbeddingSettings(),
            ttl=60,
            batch_size=8,
        )
    with pytest.raises(ConfigurationError, match="namespace="):
        EmbeddingCache(
            inner,  # type: ignore[arg-type]
            identity_key="fake",
            redis_url="redis://127.0.0.1:9",
            settings=EmbeddingSettings(),
            namespace="x",
        )
