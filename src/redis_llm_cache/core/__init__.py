"""Framework-free cache core: keys, value framing, tier operations, stats, guard.

Nothing here performs I/O or imports LangChain / LlamaIndex: operations yield
the steps of :mod:`redis_llm_cache.core.ops` and are driven by
:mod:`redis_llm_cache.runtime`.
"""
