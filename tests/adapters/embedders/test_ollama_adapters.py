"""OllamaEmbedder exposed to LangChain (``OllamaEmbeddings``) and LlamaIndex
(``OllamaEmbedding``), against Ollama's ``/api/embed`` contract.

By default the server is ``FakeOllama`` (``ollama_server.py``): a stand-in for
Ollama implementing its HTTP contract over the real multilingual-e5-small
(384-d). With ``OLLAMA_HOST`` set these run against that real Ollama; tests
that count requests or pickle into worker processes skip there.

About roles: Ollama's ``/api/embed`` has no query/document distinction, so
``OllamaEmbedder`` sends the same request for both (see its docstring). The
adapters' role mapping is therefore proven on an asymmetric model
(``LocalEmbedder``, e5 with ``query:`` / ``passage:``) through the generic
wrappers whose methods the Ollama adapters inherit unchanged.
"""

from __future__ import annotations

import inspect
import pickle
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.schema import TextNode

from redis_llm_cache.core.embedding.embedder import Embedder
from redis_llm_cache.embedders import LocalEmbedder, OllamaEmbedder
from redis_llm_cache.errors import ConfigurationError
from redis_llm_cache.langchain import CachedEmbeddings, EmbedderEmbeddings, OllamaEmbeddings
from redis_llm_cache.llama_index import CachedEmbedding, EmbedderEmbedding, OllamaEmbedding
from support.ollama_server import OllamaTarget

TEXTS = [
    "How do I reset my password?",
    "What is the capital of France?",
    "Comment réinitialiser mon mot de passe ?",
    "The cat sat on the mat.",
]


def settings_for(ollama: OllamaTarget) -> dict[str, Any]:
    """Keyword settings aiming an adapter at the test's Ollama (fast retries)."""
    return {
        "model": ollama.model,
        "host": ollama.host,
        "native_dimensions": ollama.native_dimensions,
        "timeout": 30.0,
        "retry_base_delay": 0.01,
        "retry_max_delay": 0.05,
    }


@pytest.fixture
def make_lc(ollama: OllamaTarget) -> Iterator[Callable[..., OllamaEmbeddings]]:
    made: list[OllamaEmbeddings] = []

    def make(**kwargs: Any) -> OllamaEmbeddings:
        embeddings = OllamaEmbeddings(**{**settings_for(ollama), **kwargs})
        made.append(embeddings)
        return embeddings

    yield make
    for embeddings in made:
        embeddings.close()


@pytest.fixture
def make_li(ollama: OllamaTarget) -> Iterator[Callable[..., OllamaEmbedding]]:
    made: list[OllamaEmbedding] = []

    def make(**kwargs: Any) -> OllamaEmbedding:
        embedding = OllamaEmbedding(**{**settings_for(ollama), **kwargs})
        made.append(embedding)
        return embedding

    yield make
    for embedding in made:
        embedding.close()


@pytest.fixture
def restore_settings() -> Iterator[None]:
    saved = Settings._embed_model
    yield
    Settings._embed_model = saved


# ---------------------------------------------------------------- langchain-tests, unmodified
class _StandardParams:
    """The test's Ollama, for ``embedding_model_params`` (read without fixtures)."""

    ollama_target: OllamaTarget

    @pytest.fixture(autouse=True)
    def _ollama_target(self, ollama: OllamaTarget) -> None:
        self.ollama_target = ollama

    @pytest.fixture(autouse=True)
    async def _close(self, _ollama_target: None, model: OllamaEmbeddings) -> AsyncIterator[None]:
        # The suite's own `model` fixture: close its clients on this test's loop.
        yield
        await model.aclose()
        model.close()

    @property
    def embeddings_class(self) -> type[OllamaEmbeddings]:
        return OllamaEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return settings_for(self.ollama_target)


class TestOllamaEmbeddingsUnit(_StandardParams, EmbeddingsUnitTests):
    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"OLLAMA_HOST": "http://10.0.0.5:11434"},
            {},
            {"host": "http://10.0.0.5:11434", "model": "bge-m3", "dimensions": 1024},
        )


class TestOllamaEmbeddingsIntegration(_StandardParams, EmbeddingsIntegrationTests):
    pass


# ---------------------------------------------------------------- LangChain adapter
def test_langchain_adapter_returns_the_embedders_vectors(
    make_lc: Callable[..., OllamaEmbeddings], make_ollama: Callable[..., OllamaEmbedder]
) -> None:
    embeddings = make_lc()
    embedder = make_ollama()
    assert isinstance(embeddings, Embeddings) and isinstance(embeddings.embedder, Embedder)
    documents = embeddings.embed_documents(TEXTS)
    query = embeddings.embed_query(TEXTS[0])
    assert all(type(x) is float for row in [*documents, query] for x in row)
    np.testing.assert_allclose(documents, embedder.embed(TEXTS, role="document"), atol=1e-6)
    np.testing.assert_allclose(query, embedder.embed(TEXTS[:1], role="query")[0], atol=1e-6)
    # Ollama's /api/embed has no roles: the query is the document's vector.
    np.testing.assert_allclose(query, embeddings.embed_documents(TEXTS[:1])[0], atol=1e-6)


async def test_langchain_async_equals_sync(make_lc: Callable[..., OllamaEmbeddings]) -> None:
    embeddings = make_lc()
    documents = await embeddings.aembed_documents(TEXTS)
    query = await embeddings.aembed_query(TEXTS[1])
    assert all(type(x) is float for row in [*documents, query] for x in row)
    np.testing.assert_allclose(documents, embeddings.embed_documents(TEXTS), atol=1e-6)
    np.testing.assert_allclose(query, embeddings.embed_query(TEXTS[1]), atol=1e-6)
    await embeddings.aclose()


async def test_async_goes_to_the_server_natively(
    make_lc: Callable[..., OllamaEmbeddings], ollama: OllamaTarget
) -> None:
    fake = ollama.require_fake()
    embeddings = make_lc()
    await embeddings.aembed_documents(TEXTS[:2])
    assert embeddings.embedder._async_client is not None  # ollama.AsyncClient was used
    assert embeddings.embedder._client is None  # not the sync client in a thread
    assert [r["input"] for r in fake.requests] == [TEXTS[:2]]
    await embeddings.aclose()


def test_langchain_settings_reach_ollama(
    make_lc: Callable[..., OllamaEmbeddings], ollama: OllamaTarget
) -> None:
    fake = ollama.require_fake()
    embeddings = make_lc(num_ctx=2048, keep_alive="10m", dimensions=128, max_batch_size=2)
    assert embeddings.dimensions == 128 and embeddings.model == ollama.model
    rows = embeddings.embed_documents(TEXTS[:3])
    assert [len(row) for row in rows] == [128] * 3
    # Batching is the embedder's: 3 texts, max_batch_size=2 -> two requests.
    assert [r["input"] for r in fake.requests] == [TEXTS[:2], TEXTS[2:3]]
    assert all(
        r["options"] == {"num_ctx": 2048} and r["keep_alive"] == "10m" and r["dimensions"] == 128
        for r in fake.requests
    )


def test_langchain_construction_is_checked_without_io() -> None:
    nowhere = "http://127.0.0.1:9"  # nothing listens there
    assert OllamaEmbeddings(base_url=nowhere).host == nowhere
    assert OllamaEmbeddings(base_url=nowhere).base_url == nowhere
    with pytest.raises(ConfigurationError, match="disagree"):
        OllamaEmbeddings(host=nowhere, base_url="http://127.0.0.1:8")
    with pytest.raises(ConfigurationError, match="native_dimensions"):
        OllamaEmbeddings(model="some-custom-embedder", host=nowhere)
    with pytest.raises(TypeError):
        OllamaEmbeddings(no_such_setting=1)


# ---------------------------------------------------------------- roles, on an asymmetric model
def test_generic_wrappers_map_roles_on_an_asymmetric_model() -> None:
    local = LocalEmbedder()
    text = TEXTS[0]
    as_query = local.embed([text], role="query")[0]
    as_document = local.embed([text], role="document")[0]
    assert not np.allclose(as_query, as_document, atol=1e-3)  # e5 is asymmetric

    langchain = EmbedderEmbeddings(local)
    np.testing.assert_allclose(langchain.embed_query(text), as_query, atol=1e-6)
    np.testing.assert_allclose(langchain.embed_documents([text])[0], as_document, atol=1e-6)
    llama = EmbedderEmbedding(local)
    assert llama.model_name == "multilingual-e5-small"
    np.testing.assert_allclose(llama.get_query_embedding(text), as_query, atol=1e-6)
    np.testing.assert_allclose(llama.get_text_embedding(text), as_document, atol=1e-6)
    np.testing.assert_allclose(llama.get_text_embedding_batch([text])[0], as_document, atol=1e-6)

    # The Ollama adapters run exactly these methods (they override none).
    for name in ("embed_query", "embed_documents", "aembed_query", "aembed_documents"):
        assert name in vars(EmbedderEmbeddings) and name not in vars(OllamaEmbeddings)
    for name in (
        "_get_query_embedding",
        "_get_text_embedding",
        "_get_text_embeddings",
        "_aget_query_embedding",
        "_aget_text_embedding",
        "_aget_text_embeddings",
    ):
        assert name in vars(EmbedderEmbedding) and name not in vars(OllamaEmbedding)


async def test_generic_llama_wrapper_async_roles() -> None:
    local = LocalEmbedder()
    llama = EmbedderEmbedding(local)
    query = await llama.aget_query_embedding(TEXTS[0])
    texts = await llama.aget_text_embedding_batch(TEXTS[:2])
    np.testing.assert_allclose(query, local.embed(TEXTS[:1], role="query")[0], atol=1e-6)
    np.testing.assert_allclose(texts, local.embed(TEXTS[:2], role="document"), atol=1e-6)


def test_ollama_embedder_is_a_core_embedder(make_ollama: Callable[..., OllamaEmbedder]) -> None:
    # What the semantic cache (and EmbeddingCache) accepts as its embedder.
    assert isinstance(make_ollama(), Embedder)
    assert isinstance(OllamaEmbedder(host="http://127.0.0.1:9"), Embedder)


# ---------------------------------------------------------------- caching the adapters
def test_cached_langchain_adapter_second_call_sends_nothing(
    make_lc: Callable[..., OllamaEmbeddings],
    ollama: OllamaTarget,
    redis_url: str,
    build_cache: Callable[..., Any],
) -> None:
    fake = ollama.require_fake()
    inner = make_lc()
    cached = build_cache(CachedEmbeddings, inner, redis_url=redis_url)
    documents = cached.embed_documents(TEXTS)
    query = cached.embed_query(TEXTS[0])
    assert len(fake.requests) == 2  # one batch of documents, one query
    np.testing.assert_allclose(documents, inner.embed_documents(TEXTS), atol=1e-6)
    fake.requests.clear()

    again = build_cache(CachedEmbeddings, make_lc(), redis_url=redis_url)
    assert again.embed_documents(TEXTS) == documents
    assert again.embed_query(TEXTS[0]) == query
    assert fake.requests == [], "served from Redis: no request reached Ollama"
    assert again.stats()["hits_redis"] == len(TEXTS) + 1


def test_adapters_share_the_embedders_identity_in_the_cache(
    make_lc: Callable[..., OllamaEmbeddings],
    make_li: Callable[..., OllamaEmbedding],
    ollama: OllamaTarget,
    redis_url: str,
    build_cache: Callable[..., Any],
) -> None:
    fake = ollama.require_fake()
    langchain = build_cache(CachedEmbeddings, make_lc(), redis_url=redis_url)
    warmed = langchain.embed_documents(TEXTS[:2])
    fake.requests.clear()

    # The same embedder settings through LlamaIndex: same keys, no request.
    llama = build_cache(CachedEmbedding, make_li(), redis_url=redis_url)
    assert llama.core.store.identity_key == langchain.core.store.identity_key
    assert llama.core.store.identity_key == make_lc().embedder.identity.canonical()
    assert llama.get_text_embedding_batch(TEXTS[:2]) == warmed
    assert fake.requests == []

    # num_ctx changes the vectors of long texts: another identity, a miss.
    other = build_cache(CachedEmbeddings, make_lc(num_ctx=256), redis_url=redis_url)
    assert other.core.store.identity_key != langchain.core.store.identity_key
    other.embed_documents(TEXTS[:2])
    assert [r["input"] for r in fake.requests] == [TEXTS[:2]]


# ---------------------------------------------------------------- LlamaIndex adapter
DOCS = [
    Document(text="To reset your password, open Settings and choose Security.", id_="pw"),
    Document(text="Paris is the capital and largest city of France.", id_="paris"),
    Document(text="Cats like to sleep in warm places, such as on a mat.", id_="cat"),
    Document(text="Redis vector sets store embeddings for similarity search.", id_="redis"),
]


def test_llama_adapter_returns_the_embedders_vectors(
    make_li: Callable[..., OllamaEmbedding], make_ollama: Callable[..., OllamaEmbedder]
) -> None:
    embedding = make_li()
    embedder = make_ollama()
    assert isinstance(embedding, BaseEmbedding) and isinstance(embedding.embedder, Embedder)
    texts = embedding.get_text_embedding_batch(TEXTS)
    query = embedding.get_query_embedding(TEXTS[0])
    one = embedding.get_text_embedding(TEXTS[1])
    assert all(type(x) is float for row in [*texts, query, one] for x in row)
    np.testing.assert_allclose(texts, embedder.embed(TEXTS, role="document"), atol=1e-6)
    np.testing.assert_allclose(query, embedder.embed(TEXTS[:1], role="query")[0], atol=1e-6)
    np.testing.assert_allclose(one, embedder.embed(TEXTS[1:2])[0], atol=1e-6)


async def test_llama_async_equals_sync(make_li: Callable[..., OllamaEmbedding]) -> None:
    embedding = make_li()
    texts = await embedding.aget_text_embedding_batch(TEXTS)
    query = await embedding.aget_query_embedding(TEXTS[2])
    one = await embedding.aget_text_embedding(TEXTS[3])
    np.testing.assert_allclose(texts, embedding.get_text_embedding_batch(TEXTS), atol=1e-6)
    np.testing.assert_allclose(query, embedding.get_query_embedding(TEXTS[2]), atol=1e-6)
    np.testing.assert_allclose(one, embedding.get_text_embedding(TEXTS[3]), atol=1e-6)
    await embedding.aclose()


def test_settings_embed_model_index_and_query(
    make_li: Callable[..., OllamaEmbedding], ollama: OllamaTarget, restore_settings: None
) -> None:
    Settings.embed_model = make_li()
    index = VectorStoreIndex.from_documents(DOCS)
    hits = index.as_retriever(similarity_top_k=2).retrieve("I forgot my password")
    assert hits[0].node.ref_doc_id == "pw"
    hits = index.as_retriever(similarity_top_k=1).retrieve("Quelle est la capitale de la France ?")
    assert hits[0].node.ref_doc_id == "paris"
    if ollama.fake is not None:
        assert any(r["input"] == ["I forgot my password"] for r in ollama.fake.requests)


def test_cached_llama_adapter_second_build_sends_nothing(
    make_li: Callable[..., OllamaEmbedding],
    ollama: OllamaTarget,
    redis_url: str,
    build_cache: Callable[..., Any],
    restore_settings: None,
) -> None:
    fake = ollama.require_fake()
    cached = build_cache(CachedEmbedding, make_li(), redis_url=redis_url)
    Settings.embed_model = cached
    first = VectorStoreIndex.from_documents(DOCS)
    first_hits = first.as_retriever(similarity_top_k=2).retrieve("I forgot my password")
    assert len(fake.requests) >= 2  # the documents, then the query
    fake.requests.clear()

    second = VectorStoreIndex.from_documents(DOCS)
    second_hits = second.as_retriever(similarity_top_k=2).retrieve("I forgot my password")
    assert fake.requests == [], "nothing embedded the second time (documents nor query)"
    assert [(h.node.ref_doc_id, h.score) for h in second_hits] == [
        (h.node.ref_doc_id, h.score) for h in first_hits
    ]
    assert first_hits[0].node.ref_doc_id == "pw"


def test_llama_adapter_pickles_and_rebuilds_its_clients(
    make_li: Callable[..., OllamaEmbedding], ollama: OllamaTarget
) -> None:
    embedding = make_li(num_ctx=1024, headers={"X-Test": "1"})
    first = embedding.get_text_embedding_batch(TEXTS[:2])  # clients are open now
    copy = pickle.loads(pickle.dumps(embedding))
    try:
        assert isinstance(copy, OllamaEmbedding)
        assert copy.embedder is not embedding.embedder
        assert copy.embedder.identity == embedding.embedder.identity
        assert (copy.host, copy.num_ctx, copy.headers) == (ollama.host, 1024, {"X-Test": "1"})
        assert copy.embedder._client is None  # the original's client did not travel
        np.testing.assert_allclose(copy.get_text_embedding_batch(TEXTS[:2]), first, atol=1e-6)
    finally:
        copy.close()


def test_cached_llama_adapter_pickles(
    make_li: Callable[..., OllamaEmbedding],
    redis_url: str,
    build_cache: Callable[..., Any],
) -> None:
    cached = build_cache(CachedEmbedding, make_li(), redis_url=redis_url)
    first = cached.get_text_embedding_batch(TEXTS[:2])
    copy = pickle.loads(pickle.dumps(cached))
    try:  # same namespace and model: ``cached`` clears the keys
        assert copy.get_text_embedding_batch(TEXTS[:2]) == first
        assert copy.stats()["hits_redis"] == 2
    finally:
        copy.close()


def test_ingestion_pipeline_with_worker_processes(
    make_li: Callable[..., OllamaEmbedding], ollama: OllamaTarget
) -> None:
    fake = ollama.require_fake()
    embedding = make_li()
    nodes = [TextNode(text=text, id_=f"n{i}") for i, text in enumerate(TEXTS)]
    pipeline = IngestionPipeline(transformations=[embedding], disable_cache=True)
    result = pipeline.run(nodes=nodes, num_workers=2)  # spawned processes unpickle it
    assert len(fake.requests) >= 2  # each worker sent its own share
    by_text = {n.get_content(): n.embedding for n in result}
    expected = make_li().get_text_embedding_batch(TEXTS)
    for text, vector in zip(TEXTS, expected, strict=True):
        np.testing.assert_allclose(by_text[text], vector, atol=1e-6)


def test_llama_fields_are_the_embedders_settings() -> None:
    nowhere = "http://127.0.0.1:9"
    embedding = OllamaEmbedding(base_url=nowhere, dimensions=256, num_ctx=2048)
    assert (embedding.model_name, embedding.host) == ("bge-m3", nowhere)
    assert (
        embedding.embedder.identity
        == OllamaEmbedder(host=nowhere, dimensions=256, num_ctx=2048).identity
    )
    assert OllamaEmbedding(model="bge-m3:latest", host=nowhere).model_name == "bge-m3:latest"
    # The field defaults repeat OllamaEmbedder's on purpose; they must not drift.
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(OllamaEmbedder).parameters.items()
    }
    fields = OllamaEmbedding.model_fields
    assert fields["model_name"].default == defaults["model"]
    assert fields["embed_batch_size"].default == defaults["max_batch_size"]
    for name in (
        "native_dimensions",
        "dimensions",
        "num_ctx",
        "truncate",
        "keep_alive",
        "timeout",
        "max_batch_chars",
        "max_attempts",
        "retry_base_delay",
        "retry_max_delay",
        "headers",
    ):
        assert fields[name].default == defaults[name], name
    # LlamaIndex serialization round-trips; headers (credentials) are left out.
    secret = OllamaEmbedding(host=nowhere, headers={"Authorization": "Bearer x"})
    data = secret.to_dict()
    assert "headers" not in data and data["class_name"] == "OllamaEmbedding"
    rebuilt = OllamaEmbedding.from_dict(data)
    assert rebuilt.embedder.identity == secret.embedder.identity and rebuilt.host == nowhere
    with pytest.raises(ConfigurationError, match="disagree"):
        OllamaEmbedding(model="a", model_name="b", host=nowhere)
    with pytest.raises(ConfigurationError, match="native_dimensions"):
        OllamaEmbedding(model="some-custom-embedder", host=nowhere)


def test_ollama_embedder_pickles(make_ollama: Callable[..., OllamaEmbedder]) -> None:
    embedder = make_ollama()
    first = embedder.embed(TEXTS[:1])
    copy = pickle.loads(pickle.dumps(embedder))
    try:
        assert (copy.identity, copy.host) == (embedder.identity, embedder.host)
        np.testing.assert_allclose(copy.embed(TEXTS[:1]), first, atol=1e-6)
    finally:
        copy.close()
