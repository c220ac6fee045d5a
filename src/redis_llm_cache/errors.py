"""Exceptions raised by redis-llm-cache.

The tree::

    CacheError                      root: catch this to catch everything we raise
    ├── ConfigurationError          bad settings, found at construction (no I/O involved)
    │   └── MissingExtraError       an optional dependency is not installed (also an ImportError)
    ├── BackendError                Redis failed or was unreachable (only when fail_open=False)
    ├── CorruptEntryError           a stored value is not one of ours or cannot be decoded
    ├── UnsupportedValueError       a value we refuse to store because it would not round-trip
    ├── EmbedderError               an embedding model or its server failed (after retries)
    │   └── ModelNotFoundError      the server does not have the model (e.g. not pulled)
    └── EmbeddingInputError         one input text cannot be embedded (also a ValueError)

With the default ``fail_open=True`` only ``ConfigurationError`` ever reaches the
application: backend failures become misses and skipped writes, counted in
``stats()``; corrupt entries become misses and are removed.
"""

from __future__ import annotations


class CacheError(Exception):
    """Root of every exception raised by redis-llm-cache."""


class ConfigurationError(CacheError, ValueError):
    """A setting is invalid; raised when the object is built, never later. (A setting
    only the server can contradict -- ``semantic_strategy="search"`` on a Redis
    Cluster found out by ``INFO cluster`` -- fails each call open instead, counted
    and logged like any other failure.)"""


class MissingExtraError(ConfigurationError, ImportError):
    """An optional dependency is not installed; the message names the ``pip install``
    command of the extra that brings it (``extra``). Also an ``ImportError``, so
    ``except ImportError`` around an optional import keeps working; ``name`` is
    the module that could not be imported."""

    def __init__(self, message: str, *, extra: str, module: str | None) -> None:
        super().__init__(message)
        self.extra = extra
        self.name = module


class BackendError(CacheError):
    """Redis could not serve a request (connection, timeout, OOM, ...).

    Raised only when ``fail_open=False``; the original redis-py exception is
    chained as ``__cause__``.
    """


class CorruptEntryError(CacheError):
    """A stored value is truncated, foreign, or from an incompatible format."""


class UnsupportedValueError(CacheError):
    """A value cannot be stored without changing it on the way back."""


class EmbedderError(CacheError):
    """The embedding model or its server failed (after any retries).

    The provider's own exception, if any, is chained as ``__cause__``.
    ``status_code`` is the HTTP status when there was one.
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ModelNotFoundError(EmbedderError):
    """The server does not have the requested model (e.g. not pulled in Ollama)."""


class EmbeddingInputError(CacheError, ValueError):
    """One input text cannot be embedded; ``index`` is its position in the list
    passed to ``embed``/``aembed``. A ``ValueError``, as the ``Embedder``
    protocol promises."""

    def __init__(self, message: str, *, index: int) -> None:
        super().__init__(message)
        self.index = index
