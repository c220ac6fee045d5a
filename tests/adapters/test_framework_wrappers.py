"""One wrapper per framework model, for the semantic cache and the embedding caches.

The same LangChain / LlamaIndex model gets one identity whichever cache wraps it,
the embedding caches' keys stay those of earlier releases, and LlamaIndex's own
``rate_limiter`` throttles the model calls of both paths.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.langchain.embedder import LangChainEmbedder
from redis_llm_cache.langchain.embeddings import CachedEmbeddings

llama_core = pytest.importorskip("llama_index.core")

from llama_index.core.embeddings import MockEmbedding  # noqa: E402

from redis_llm_cache.llama_index import CachedEmbedding, LlamaIndexEmbedder  # noqa: E402


def test_a_langchain_model_has_one_identity_in_both_caches(
    build_cache: Callable[..., Any], redis_url: str
) -> None:
    model = DeterministicFakeEmbedding(size=16)
    semantic = build_cache(
        RedisLLMCache, redis_url=redis_url, embedder=model, embedder_model="fake-16"
    )
    embeddings = build_cache(CachedEmbeddings, model, redis_url=redis_url, model_id="fake-16")
    assert isinstance(semantic.core.embedder, LangChainEmbedder)
    key = embeddings.core.store.identity_key
    assert semantic.core.embedder.identity.canonical() == key
    assert semantic.stats()["semantic"]["embedder"] == key
    # The embedding cache's key is the one earlier releases wrote: cached vectors stay.
    assert key == (
        '{"dimensions":null,"model":"fake-16","options":{},'
        '"provider":"langchain:DeterministicFakeEmbedding"}'
    )
    assert semantic.core.embedder.identity.dimensions == 16  # still learned, for the index


def test_a_llama_index_model_has_one_identity_in_both_caches(
    build_cache: Callable[..., Any], redis_url: str
) -> None:
    model = MockEmbedding(embed_dim=8)
    semantic = build_cache(
        RedisLLMCache,
        redis_url=redis_url,
        embedder=LlamaIndexEmbedder(model, model="mock-8"),
    )
    embedding = build_cache(CachedEmbedding, model, redis_url=redis_url, model_id="mock-8")
    key = embedding.core.store.identity_key
    assert semantic.core.embedder.identity.canonical() == key
    assert key == (
        '{"dimensions":null,"model":"mock-8","options":{},"provider":"llama_index:MockEmbedding"}'
    )


def test_the_embedding_cache_returns_the_models_own_vectors(
    build_cache: Callable[..., Any], redis_url: str
) -> None:
    # The semantic cache needs unit vectors; an embedding cache hands back the
    # model's own (MockEmbedding's are all 0.5: norm 2 for 16 dimensions).
    model = MockEmbedding(embed_dim=16)
    embedding = build_cache(CachedEmbedding, model, redis_url=redis_url, model_id="mock-16")
    assert embedding.get_text_embedding("a text") == [0.5] * 16
    normalized = LlamaIndexEmbedder(model, model="mock-16").embed(["a text"])
    assert normalized[0] == pytest.approx([0.25] * 16)


def drain(model: MockEmbedding, requests_per_minute: float) -> float:
    """Give ``model`` a real LlamaIndex token bucket with its initial burst used
    up; returns when that started. From then on the n-th request cannot pass
    before ``n * 60 / requests_per_minute`` seconds."""
    from llama_index.core.rate_limiter import TokenBucketRateLimiter

    started = time.monotonic()
    limiter = TokenBucketRateLimiter(requests_per_minute=requests_per_minute)
    for _ in range(int(requests_per_minute)):
        limiter.acquire()
    model.rate_limiter = limiter
    return started


def test_the_llama_index_rate_limiter_is_honoured_by_both_paths(
    build_cache: Callable[..., Any], redis_url: str
) -> None:
    pytest.importorskip("llama_index.core.rate_limiter")
    rpm = 600
    three_requests = 3 * 60 / rpm  # 0.3 s
    model = MockEmbedding(embed_dim=8)
    # Embedding cache: three batches of one text, three model calls.
    embedding = build_cache(
        CachedEmbedding, model, redis_url=redis_url, model_id="mock-8", embed_batch_size=1
    )
    started = drain(model, rpm)
    embedding.get_text_embedding_batch(["one", "two", "three"])
    assert time.monotonic() - started >= three_requests
    assert embedding.stats()["texts_embedded"] == 3
    # Semantic path: each query is one model call.
    embedder = LlamaIndexEmbedder(model, model="mock-8", dimensions=8)
    started = drain(model, rpm)
    embedder.embed(["four", "five", "six"], role="query")
    assert time.monotonic() - started >= three_requests

    async def embed_async() -> None:
        await embedder.aembed(["seven", "eight"], role="query")
        await embedder.aembed(["nine"], role="document")

    started = drain(model, rpm)
    asyncio.run(embed_async())
    assert time.monotonic() - started >= three_requests
