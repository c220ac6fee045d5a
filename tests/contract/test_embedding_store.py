"""The framework-free embedding cache (EmbeddingCache + core/embedding_store) on real Redis.

The inner model is a deterministic counting embedder: every test can tell exactly
which texts reached the model, in which batches, sync or async.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from redis_llm_cache import BackendError, ConfigurationError
from redis_llm_cache.core.embedding.embedder import Embedder, EmbedderIdentity, Role
from redis_llm_cache.core.embedding.store import (
    FORMAT_FLOAT32,
    HEADER_BYTES,
    EmbeddingSettings,
    encode_vector,
)
from redis_llm_cache.core.keys import EmbeddingKeys
from redis_llm_cache.embeddings import EmbeddingCache
from redis_llm_cache.redis.embedded import EmbeddedRedis

DIMS = 8


def vector_of(model: str, role: str, text: str, dims: int = DIMS) -> np.ndarray[Any, Any]:
    seed = int.from_bytes(hashlib.sha256(f"{model}\0{role}\0{text}".encode()).digest()[:8], "big")
    return np.random.default_rng(seed).normal(size=dims).astype(np.float32)


class CountingEmbedder:
    """A core Embedder whose vectors depend on (model, role, text); records calls."""

    def __init__(self, model: str = "fake-a", dims: int = DIMS) -> None:
        self.identity = EmbedderIdentity(provider="test", model=model, dimensions=dims)
        self.calls: list[tuple[Role, tuple[str, ...]]] = []
        self.acalls: list[tuple[Role, tuple[str, ...]]] = []
        self.poison: dict[str, float] = {}  # text -> value put in its vector
        self.wrong_dims = False

    def _matrix(self, texts: Sequence[str], role: Role) -> np.ndarray[Any, Any]:
        dims = self.identity.dimensions + (1 if self.wrong_dims else 0)
        rows = [vector_of(self.identity.model, role, t, dims) for t in texts]
        for i, text in enumerate(texts):
            if text in self.poison:
                rows[i][0] = self.poison[text]
        return np.stack(rows)

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> np.ndarray[Any, Any]:
        self.calls.append((role, tuple(texts)))
        return self._matrix(texts, role)

    async def aembed(
        self, texts: Sequence[str], *, role: Role = "document"
    ) -> np.ndarray[Any, Any]:
        self.acalls.append((role, tuple(texts)))
        return self._matrix(texts, role)

    def texts_embedded(self) -> list[str]:
        return [t for _, batch in self.calls + self.acalls for t in batch]


def expected(texts: Sequence[str], role: str = "document", model: str = "fake-a") -> Any:
    return np.stack([vector_of(model, role, t) for t in texts])


@pytest.fixture
def make(
    redis_url: str, build_cache: Callable[..., EmbeddingCache]
) -> Callable[..., EmbeddingCache]:
    def build(embedder: Any = None, **kwargs: Any) -> EmbeddingCache:
        kwargs.setdefault("redis_url", redis_url)
        inner = embedder if embedder is not None else CountingEmbedder()
        return build_cache(EmbeddingCache, inner, **kwargs)

    return build


def test_counting_embedder_is_an_embedder() -> None:
    assert isinstance(CountingEmbedder(), Embedder)


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_second_call_does_not_call_the_model(make: Callable[..., EmbeddingCache]) -> None:
    cache = make()
    texts = ["alpha", "beta", "gamma"]
    first = cache.embed(texts)
    assert first.dtype == np.float32 and first.shape == (3, DIMS)
    np.testing.assert_array_equal(first, expected(texts))
    model: CountingEmbedder = cache.embedder  # type: ignore[assignment]
    model.calls.clear()

    again = cache.embed(texts)
    assert model.calls == []
    np.testing.assert_array_equal(again, first)
    stats = cache.stats()
    assert stats["hits"] == stats["hits_redis"] == 3
    assert stats["misses"] == 3 and stats["texts_embedded"] == 3 and stats["writes"] == 3
    # A new object (another process, say) finds them in Redis too.
    other = make(CountingEmbedder())
    np.testing.assert_array_equal(other.embed(texts), first)
    assert other.embedder.calls == []  # type: ignore[attr-defined]


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_half_warm_batch_sends_only_misses_in_batches(make: Callable[..., EmbeddingCache]) -> None:
    model = CountingEmbedder()
    cache = make(model, batch_size=3)
    texts = [f"text {i}" for i in range(10)]
    cache.embed(texts[::2])  # warm the even half
    model.calls.clear()

    result = cache.embed(texts)
    np.testing.assert_array_equal(result, expected(texts))
    assert [batch for _, batch in model.calls] == [
        ("text 1", "text 3", "text 5"),
        ("text 7", "text 9"),
    ]
    assert cache.stats()["batches_sent"] == 2 + 2  # 5 warm-up texts were 2 batches too


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_duplicates_are_embedded_once(make: Callable[..., EmbeddingCache]) -> None:
    model = CountingEmbedder()
    cache = make(model)
    texts = ["x", "y", "x", "x", "z", "y"]
    result = cache.embed(texts)
    assert model.texts_embedded() == ["x", "y", "z"]
    np.testing.assert_array_equal(result, expected(texts))
    assert cache.stats()["duplicates"] == 3
    assert cache.count() == 3


def test_empty_batch(make: Callable[..., EmbeddingCache]) -> None:
    cache = make()
    assert cache.embed([]).shape == (0, DIMS)
    assert cache.embedder.calls == []  # type: ignore[attr-defined]


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_roles_are_kept_apart(make: Callable[..., EmbeddingCache]) -> None:
    model = CountingEmbedder()
    cache = make(model)
    document = cache.embed(["same text"], role="document")
    query = cache.embed(["same text"], role="query")
    assert model.calls == [("document", ("same text",)), ("query", ("same text",))]
    assert not np.array_equal(document, query)
    model.calls.clear()
    np.testing.assert_array_equal(cache.embed(["same text"], role="query"), query)
    np.testing.assert_array_equal(cache.embed(["same text"], role="document"), document)
    assert model.calls == []
    with pytest.raises(ValueError, match="role"):
        cache.embed(["x"], role="passage")  # type: ignore[arg-type]


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_models_are_kept_apart(make: Callable[..., EmbeddingCache]) -> None:
    a, b = CountingEmbedder("model-a"), CountingEmbedder("model-b")
    cache_a, cache_b = make(a), make(b)
    va = cache_a.embed(["shared"])
    vb = cache_b.embed(["shared"])
    assert len(b.calls) == 1, "model-b must not be served model-a's vector"
    np.testing.assert_array_equal(vb, expected(["shared"], model="model-b"))
    assert not np.array_equal(va, vb)
    # Same name, other dimensions: another identity too.
    c = CountingEmbedder("model-a", dims=4)
    make(c).embed(["shared"])
    assert len(c.calls) == 1
    # clear() of one model leaves the other's vectors.
    assert cache_a.clear() == 1
    assert cache_b.count() == 1


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_ttl_is_set_with_the_value(
    make: Callable[..., EmbeddingCache], redis_client: redis.Redis
) -> None:
    cache = make(ttl=30)
    cache.embed(["ephemeral"])
    key = cache.store.keys.key("document", "ephemeral")
    assert 25_000 < redis_client.pttl(key) <= 30_000
    untimed = make(CountingEmbedder("no-ttl"))
    untimed.embed(["forever"])
    assert redis_client.pttl(untimed.store.keys.key("document", "forever")) == -1


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_keys_carry_no_text_and_stay_in_namespace(make: Callable[..., EmbeddingCache]) -> None:
    cache = make()
    key = cache.store.keys.key("document", "my secret text")
    assert "secret" not in key
    assert key.startswith(f"{cache.settings.namespace}:emb:v1:")


@given(
    st.tuples(
        st.text(max_size=20),
        st.text(max_size=20),
        st.sampled_from(["query", "document"]),
        st.text(max_size=20),
    )
)
def test_embedding_keys_are_injective(parts: tuple[str, str, str, str]) -> None:
    namespace, identity, role, text = parts
    key = EmbeddingKeys(namespace or "n", identity).key(role, text)
    for other in [
        (namespace or "n", identity + "x", role, text),
        (namespace or "n", identity, "query" if role == "document" else "document", text),
        (namespace or "n", identity, role, text + "\0"),
        (namespace or "n", identity[:-1], role, identity[-1:] + text),
    ]:
        if other != (namespace or "n", identity, role, text):
            assert EmbeddingKeys(other[0], other[1]).key(other[2], other[3]) != key


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_float16_round_trip(make: Callable[..., EmbeddingCache], redis_client: redis.Redis) -> None:
    model = CountingEmbedder()
    cache = make(model, dtype="float16")
    texts = ["half", "precision"]
    miss = cache.embed(texts)
    exact = expected(texts)
    np.testing.assert_allclose(miss, exact, rtol=2e-3, atol=2e-3)
    raw = redis_client.get(cache.store.keys.key("document", "half"))
    assert raw is not None and len(raw) == HEADER_BYTES + 2 * DIMS
    model.calls.clear()
    hit = cache.embed(texts)
    assert model.calls == []
    np.testing.assert_array_equal(hit, miss)  # a miss returns what later hits return
    assert hit.dtype == np.float32
    # A float32 cache of the same namespace still reads float16 values.
    reader = make(CountingEmbedder())
    np.testing.assert_array_equal(reader.embed(texts), miss)
    assert reader.embedder.calls == []  # type: ignore[attr-defined]


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_corrupt_values_are_counted_replaced_and_recomputed(
    make: Callable[..., EmbeddingCache], redis_client: redis.Redis
) -> None:
    model = CountingEmbedder()
    cache = make(model)
    keys = cache.store.keys
    nan_vector = vector_of("fake-a", "document", "nan")
    nan_vector[2] = np.nan
    planted = {
        "garbage": b"not a vector at all",
        "wrong dims": encode_vector(np.ones(DIMS + 3, dtype=np.float32), FORMAT_FLOAT32),
        "truncated": encode_vector(np.ones(DIMS, dtype=np.float32), FORMAT_FLOAT32)[:-2],
        "nan": encode_vector(nan_vector, FORMAT_FLOAT32),
    }
    for text, value in planted.items():
        redis_client.set(keys.key("document", text), value)
    redis_client.hset(keys.key("document", "wrong type"), "f", "v")
    texts = [*planted, "wrong type", "fresh"]

    result = cache.embed(texts)
    np.testing.assert_array_equal(result, expected(texts))
    assert sorted(model.texts_embedded()) == sorted(texts)
    assert cache.stats()["corrupt_removed"] == 5
    for text in texts:
        raw = redis_client.get(keys.key("document", text))
        assert raw is not None and raw.startswith(b"rlv") and len(raw) == HEADER_BYTES + 4 * DIMS
    model.calls.clear()
    np.testing.assert_array_equal(cache.embed(texts), result)
    assert model.calls == []


def test_bad_vectors_from_the_model_raise_and_are_not_cached(
    make: Callable[..., EmbeddingCache],
) -> None:
    model = CountingEmbedder()
    cache = make(model)
    model.poison["bad"] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        cache.embed(["good", "bad"])
    assert cache.count() == 0  # not even the good vector of the bad batch

    model.poison["bad"] = float("inf")
    with pytest.raises(ValueError, match="NaN or Inf"):
        cache.embed(["bad"])
    del model.poison["bad"]

    model.wrong_dims = True  # identity says 8, the model returns 9
    with pytest.raises(ValueError, match="dimensions"):
        cache.embed(["good"])
    assert cache.count() == 0
    model.wrong_dims = False
    cache.embed(["good", "bad"])
    assert cache.count() == 2


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_earlier_good_batches_stay_cached(make: Callable[..., EmbeddingCache]) -> None:
    model = CountingEmbedder()
    cache = make(model, batch_size=2)
    model.poison["t3"] = float("nan")
    with pytest.raises(ValueError):
        cache.embed(["t0", "t1", "t2", "t3"])
    assert cache.count() == 2  # the first batch was good and is kept


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_memory_tier_bounded_by_entries_and_bytes(
    make: Callable[..., EmbeddingCache], redis_client: redis.Redis
) -> None:
    model = CountingEmbedder()
    cache = make(model, memory_max_entries=3)
    texts = ["m1", "m2", "m3"]
    cache.embed(texts)
    for text in texts:  # gone from Redis: only the memory tier can answer now
        redis_client.delete(cache.store.keys.key("document", text))
    model.calls.clear()
    np.testing.assert_array_equal(cache.embed(texts), expected(texts))
    assert model.calls == []
    assert cache.stats()["hits_memory"] == 3
    cache.embed(["m4", "m5"])
    assert cache.stats()["memory_entries"] == 3

    small = make(CountingEmbedder("small"), memory_max_entries=100, memory_max_bytes=2 * 4 * DIMS)
    small.embed(["a", "b", "c", "d"])
    assert small.stats()["memory_entries"] == 2
    assert small.stats()["memory_bytes"] <= 2 * 4 * DIMS


def test_invalid_settings_and_inputs() -> None:
    with pytest.raises(ConfigurationError):
        EmbeddingSettings(batch_size=0)
    with pytest.raises(ConfigurationError):
        EmbeddingSettings(dtype="int8")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        EmbeddingSettings(ttl=-1)
    with pytest.raises(ConfigurationError):
        EmbeddingSettings(memory_max_entries=0)
    cache = EmbeddingCache(CountingEmbedder(), redis_url="redis://127.0.0.1:1/0")  # no I/O yet
    with pytest.raises(TypeError):
        cache.embed("one string")
    with pytest.raises(TypeError):
        cache.embed([b"bytes"])  # type: ignore[list-item]


@pytest.mark.redis_kinds("stack", "plain", "cluster")
async def test_async_uses_async_model_and_shares_entries(
    make: Callable[..., EmbeddingCache],
) -> None:
    model = CountingEmbedder()
    cache = make(model, batch_size=2)
    texts = ["a1", "a2", "a3", "a1"]
    result = await cache.aembed(texts)
    np.testing.assert_array_equal(result, expected(texts))
    assert model.calls == [] and [b for _, b in model.acalls] == [("a1", "a2"), ("a3",)]
    model.acalls.clear()
    np.testing.assert_array_equal(await cache.aembed(texts, role="document"), result)
    np.testing.assert_array_equal(cache.embed(texts), result)  # sync reads async writes
    assert model.acalls == [] and model.calls == []
    query = await cache.aembed(["a1"], role="query")
    np.testing.assert_array_equal(query, expected(["a1"], role="query"))
    assert await cache.aclear() == 4
    await cache.aclose()


@pytest.mark.disruptive
def test_redis_stopped_mid_run(private_redis: EmbeddedRedis) -> None:
    model = CountingEmbedder()
    # The embedding cache's default budget: generous enough for a healthy server on a
    # loaded machine; a stopped one refuses at once, so calls stay well inside the bound.
    timeout = 0.5
    # The breaker stays open for 2 s: the calls below must meet it open (skips are
    # asserted) even when a loaded machine stalls between them.
    cache = EmbeddingCache(
        model, redis_url=private_redis.url, namespace="fo", timeout=timeout, breaker_cooldown=2.0
    )
    cache.embed(["warm"])
    private_redis.shutdown()
    try:
        for i in range(6):
            texts = ["warm", f"new {i}"]
            started = time.perf_counter()
            np.testing.assert_array_equal(cache.embed(texts), expected(texts))
            assert time.perf_counter() - started < 10 * timeout  # bounded, not a speed test
        stats = cache.stats()
        assert stats["errors"] >= 1 and stats["breaker_opens"] >= 1
        assert stats["breaker_skips"] >= 1
        assert "warm" in model.texts_embedded()[1:]  # Redis gone: recomputed
    finally:
        private_redis.restart()
    deadline = time.monotonic() + 30
    while cache.stats()["breaker_open"] and time.monotonic() < deadline:
        time.sleep(0.05)
        cache.embed(["probe"])
    cache.embed(["after"])
    model.calls.clear()
    cache.embed(["after"])
    assert model.calls == [], "caching resumed after restart"
    with pytest.raises(BackendError):
        strict = EmbeddingCache(
            CountingEmbedder(), redis_url="redis://127.0.0.1:1/0", fail_open=False
        )
        strict.embed(["x"])
    cache.close()


async def test_clear_and_count_raise_and_are_counted_when_redis_is_down(
    private_redis: EmbeddedRedis,
) -> None:
    """clear/count never fail open (the app must know a clear did not happen), but
    their failures are counted like any other, and the open breaker refuses them."""
    cache = EmbeddingCache(
        CountingEmbedder(),
        redis_url=private_redis.url,
        namespace="strict",
        timeout=2.0,  # the healthy count must not time out (it would raise); stopped = refused
        breaker_failures=2,
        breaker_cooldown=30,
    )
    cache.embed(["kept"])
    assert cache.count() == 1
    private_redis.shutdown()
    try:
        with pytest.raises(BackendError, match="clear/count failed"):
            cache.count()
        with pytest.raises(BackendError, match="clear/count failed"):
            await cache.aclear()
        assert cache.stats()["errors"] == 2
        assert cache.stats()["breaker_open"]
        with pytest.raises(BackendError, match="circuit breaker open"):
            cache.clear()
    finally:
        private_redis.restart()
        cache.close()
        await cache.aclose()
