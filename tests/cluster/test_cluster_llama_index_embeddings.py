"""LlamaIndex ``CachedEmbedding`` on the Redis Cluster (suite imported unchanged)."""

from __future__ import annotations

from test_llama_index_cached_embedding import (  # noqa: F401
    make,
    restore_settings,
    test_async_uses_the_models_async_methods,
    test_batches_duplicates_and_roles,
    test_pickles_and_rebuilds_its_clients,
    test_vector_store_index_twice,
)
