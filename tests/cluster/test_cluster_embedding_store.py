"""The embedding store's suite on the Redis Cluster: batches span hash slots.

Imported unchanged (``redis_url`` is the cluster's); tests that stop their own
single server are left out (failover: ``test_failover.py``).
"""

from __future__ import annotations

from test_embedding_store import (  # noqa: F401
    make,
    test_async_uses_async_model_and_shares_entries,
    test_corrupt_values_are_counted_replaced_and_recomputed,
    test_duplicates_are_embedded_once,
    test_earlier_good_batches_stay_cached,
    test_float16_round_trip,
    test_half_warm_batch_sends_only_misses_in_batches,
    test_keys_carry_no_text_and_stay_in_namespace,
    test_memory_tier_bounded_by_entries_and_bytes,
    test_models_are_kept_apart,
    test_roles_are_kept_apart,
    test_second_call_does_not_call_the_model,
    test_ttl_is_set_with_the_value,
)
