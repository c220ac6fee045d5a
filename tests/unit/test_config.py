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
