"""CachedEmbedding (LlamaIndex) on real Redis: Settings.embed_model, VectorStoreIndex,
IngestionPipeline with worker processes (pickling), instrumentation events."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("llama_index.core")

from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import Field
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.embedding import (
    EmbeddingEndEvent,
    EmbeddingStartEvent,
)
from llama_index.core.schema import TextNode

from redis_llm_cache import ConfigurationError
from redis_llm_cache.llama_index import CachedEmbedding
from support.llama_models import CountingEmbedding, counting, vector_of


@pytest.fixture
def make(
    redis_url: str, build_cache: Callable[..., CachedEmbedding]
) -> Callable[..., CachedEmbedding]:
    def build(inner: BaseEmbedding | None = None, **kwargs: Any) -> CachedEmbedding:
        kwargs.setdefault("redis_url", redis_url)
        return build_cache(CachedEmbedding, inner if inner is not None else counting(), **kwargs)

    return build


@pytest.fixture
def restore_settings() -> Iterator[None]:
    saved = Settings._embed_model
    yield
    Settings._embed_model = saved


def inner_of(embedding: CachedEmbedding) -> CountingEmbedding:
    assert isinstance(embedding.inner, CountingEmbedding)
    return embedding.inner


DOCS = [
    Document(text=f"Paragraph {i} talks about topic {i % 4}. " * 3, id_=f"doc-{i}")
    for i in range(12)
]


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_vector_store_index_twice(
    make: Callable[..., CachedEmbedding], restore_settings: None
) -> None:
    embedding = make()
    inner = inner_of(embedding)
    Settings.embed_model = embedding
    first = VectorStoreIndex.from_documents(DOCS)
    embedded_first = inner.texts()
    assert len(embedded_first) == len(DOCS)
    first_hits = first.as_retriever(similarity_top_k=3).retrieve("topic 2")
    inner.calls.clear()

    second = VectorStoreIndex.from_documents(DOCS)
    second_hits = second.as_retriever(similarity_top_k=3).retrieve("topic 2")
    assert inner.calls == [], "nothing embedded the second time (documents nor query)"
    assert [(h.node.get_content(), h.score) for h in first_hits] == [
        (h.node.get_content(), h.score) for h in second_hits
    ]
    np.testing.assert_allclose(
        embedding.get_text_embedding(DOCS[0].text), vector_of("text", DOCS[0].text), rtol=1e-6
    )


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_batches_duplicates_and_roles(make: Callable[..., CachedEmbedding]) -> None:
    embedding = make(embed_batch_size=4)
    inner = inner_of(embedding)
    embedding.get_text_embedding_batch(["a", "b"])
    inner.calls.clear()
    result = embedding.get_text_embedding_batch(["a", "x", "b", "y", "x", "z"])
    # LlamaIndex batches by 4: [a x b y] [x z]; only the misses reach the model.
    assert inner.calls == [("texts", ["x", "y"]), ("texts", ["z"])]
    assert result[1] == result[4]
    query = embedding.get_query_embedding("a")
    assert inner.calls[-1] == ("query", ["a"])
    assert query != result[0]


def test_identity(make: Callable[..., CachedEmbedding]) -> None:
    with pytest.raises(ConfigurationError, match="model_id"):
        CachedEmbedding(CountingEmbedding())  # model_name "unknown"
    a = make(counting(), model_id="a")
    b = make(counting(), model_id="b")
    a.get_text_embedding("shared")
    b.get_text_embedding("shared")
    assert inner_of(a).texts() == inner_of(b).texts() == ["shared"]


class EventCounter(BaseEventHandler):
    events: list[str] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "EventCounter"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, (EmbeddingStartEvent, EmbeddingEndEvent)):
            self.events.append(type(event).__name__)


def test_instrumentation_events_are_not_doubled(make: Callable[..., CachedEmbedding]) -> None:
    dispatcher = get_dispatcher()
    counter = EventCounter()
    dispatcher.add_event_handler(counter)
    try:

        def events_of(model: BaseEmbedding) -> list[str]:
            counter.events.clear()
            model.get_text_embedding_batch(["e1", "e2", "e3"])
            model.get_query_embedding("e1")
            return list(counter.events)

        bare = events_of(counting())
        cached = make()
        assert events_of(cached) == bare  # miss path
        assert events_of(cached) == bare  # hit path
        assert bare == ["EmbeddingStartEvent", "EmbeddingEndEvent"] * 2
    finally:
        dispatcher.event_handlers.remove(counter)


@pytest.mark.redis_kinds("stack", "plain", "cluster")
async def test_async_uses_the_models_async_methods(make: Callable[..., CachedEmbedding]) -> None:
    embedding = make()
    inner = inner_of(embedding)
    texts = await embedding.aget_text_embedding_batch(["p", "q", "p"])
    query = await embedding.aget_query_embedding("p")
    one = await embedding.aget_text_embedding("r")
    assert inner.calls == [("atexts", ["p", "q"]), ("aquery", ["p"]), ("atexts", ["r"])]
    inner.calls.clear()
    assert await embedding.aget_text_embedding_batch(["p", "q", "p"]) == texts
    assert await embedding.aget_query_embedding("p") == query
    assert await embedding.aget_text_embedding("r") == one
    assert inner.calls == []
    await embedding.aclose()


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_pickles_and_rebuilds_its_clients(make: Callable[..., CachedEmbedding]) -> None:
    embedding = make()
    first = embedding.get_text_embedding_batch(["pickle me"])
    inner_of(embedding).calls.clear()
    copy = pickle.loads(pickle.dumps(embedding))
    try:
        assert copy.core is not embedding.core
        assert copy.redis_url == embedding.redis_url and copy.namespace == embedding.namespace
        assert copy.get_text_embedding_batch(["pickle me"]) == first
        assert inner_of(copy).calls == []
    finally:
        copy.close()


def test_ingestion_pipeline_with_worker_processes(make: Callable[..., CachedEmbedding]) -> None:
    embedding = make()
    nodes = [TextNode(text=f"node text {i}", id_=f"n{i}") for i in range(8)]
    pipeline = IngestionPipeline(transformations=[embedding], disable_cache=True)
    result = pipeline.run(nodes=nodes, num_workers=2)  # spawned processes unpickle it
    by_text = {n.get_content(): n.embedding for n in result}
    assert len(by_text) == 8
    for i in range(8):
        np.testing.assert_allclose(by_text[f"node text {i}"], vector_of("text", f"node text {i}"))
    # The workers stored the vectors in Redis: this process embeds nothing.
    assert inner_of(embedding).calls == []
    again = embedding.get_text_embedding_batch([f"node text {i}" for i in range(8)])
    assert inner_of(embedding).calls == []
    assert again == [by_text[f"node text {i}"] for i in range(8)]
