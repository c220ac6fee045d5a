"""LangChain ``CachedEmbeddings`` on the Redis Cluster (suite imported unchanged)."""

from __future__ import annotations

from test_langchain_cached_embeddings import (  # noqa: F401
    make,
    test_async_calls_the_models_async_methods,
    test_half_warm_batch_and_duplicates,
    test_in_memory_vector_store_twice,
    test_query_and_documents_are_cached_apart,
    test_second_call_never_reaches_the_model,
)
