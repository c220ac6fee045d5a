"""The ``Embedder`` protocol: what the caches need from an embedding model.

An embedder turns a batch of texts into a ``float32`` matrix of shape
``(len(texts), dimensions)`` whose rows are L2-normalized, synchronously and
asynchronously. Its :class:`EmbedderIdentity` says which vectors it produces:
the identity is part of every cached vector's key and of every similarity
threshold calibrated for it, so two embedders whose vectors differ must never
share an identity.

``role`` matters for asymmetric models (e5, bge with instructions): a query and
a document of the same text may embed differently. Symmetric models ignore it,
but caches still keep the roles apart.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeGuard, runtime_checkable

import numpy as np
import numpy.typing as npt
import orjson

from ..errors import ConfigurationError

Role = Literal["query", "document"]
ROLES: tuple[Role, ...] = ("query", "document")

Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True, kw_only=True)
class EmbedderIdentity:
    """Which vectors an embedder produces.

    Attributes:
        provider: Who computes them: ``"ollama"``, ``"openai"``, ``"local"``, or
            ``"langchain:<Class>"`` / ``"llama_index:<Class>"`` for wrapped models.
        model: Model name as the provider knows it (``"bge-m3"``).
        dimensions: Length of each vector.
        options: Settings that change the vectors (e.g. a requested ``dimensions``
            reduction, an instruction prefix, truncation). JSON-serializable values.
    """

    provider: str
    model: str
    dimensions: int
    options: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.provider or not isinstance(self.provider, str):
            raise ConfigurationError("embedder identity needs a provider name")
        if not self.model or not isinstance(self.model, str):
            raise ConfigurationError("embedder identity needs a model name")
        if isinstance(self.dimensions, bool) or not isinstance(self.dimensions, int):
            raise ConfigurationError(f"dimensions must be an int, got {self.dimensions!r}")
        if self.dimensions < 1:
            raise ConfigurationError(f"dimensions must be >= 1, got {self.dimensions}")
        try:
            self.canonical()
        except TypeError as exc:
            raise ConfigurationError(f"embedder options must be JSON values: {exc}") from exc

    def canonical(self) -> str:
        """Stable text form (sorted JSON): equal identities, equal strings."""
        return orjson.dumps(
            {
                "provider": self.provider,
                "model": self.model,
                "dimensions": self.dimensions,
                "options": dict(self.options),
            },
            option=orjson.OPT_SORT_KEYS,
        ).decode()


@runtime_checkable
class Embedder(Protocol):
    """Batch of texts in, L2-normalized ``float32`` matrix out.

    Implementations raise ``ValueError`` for inputs they cannot embed (say which
    one), and never return NaN/Inf or rows of the wrong length.
    """

    @property
    def identity(self) -> EmbedderIdentity: ...

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix: ...

    async def aembed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix: ...


def is_embedder(candidate: object) -> TypeGuard[Embedder]:
    """``isinstance(candidate, Embedder)`` without reading any attribute's value.

    Before Python 3.12 a runtime-checkable protocol check *reads* each member, so
    it would evaluate ``identity`` -- which, for a :class:`FrameworkEmbedder` of
    unknown vector length, calls the model: I/O in a constructor."""
    return all(
        inspect.getattr_static(candidate, member, None) is not None
        for member in ("identity", "embed", "aembed")
    )


def known_identity(embedder: object) -> EmbedderIdentity | None:
    """The embedder's identity if known without calling the model; ``None`` while a
    :class:`FrameworkEmbedder` still has to learn its vector length."""
    if getattr(embedder, "identity_pending", False):
        return None
    identity: EmbedderIdentity = embedder.identity  # type: ignore[attr-defined]
    return identity


def as_normalized_matrix(vectors: object, *, dimensions: int | None, count: int) -> Matrix:
    """Check and normalize what a model returned: ``count`` finite rows of
    ``dimensions`` floats, L2-normalized, as a C-contiguous ``float32`` matrix.

    Raises ``ValueError`` naming the first bad row (wrong length, NaN/Inf, or
    all zeros, which has no direction).
    """
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != count:
        raise ValueError(f"expected {count} vectors, got an array of shape {matrix.shape}")
    if dimensions is not None and matrix.shape[1] != dimensions:
        raise ValueError(f"expected vectors of {dimensions} dimensions, got {matrix.shape[1]}")
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        raise ValueError(f"vector {int(np.argmin(finite))} contains NaN or Inf")
    norms = np.linalg.norm(matrix, axis=1)
    if (norms == 0).any() or not np.isfinite(norms).all():
        raise ValueError(f"vector {int(np.argmin(norms))} has no direction (zero norm)")
    normalized = matrix / norms[:, None]
    return np.ascontiguousarray(normalized, dtype=np.float32)


class FrameworkEmbedder:
    """An ``Embedder`` over a framework's embedding model, given its four calls.

    The LangChain and LlamaIndex adapters differ only in which methods they call;
    identity, role dispatch and row checks live here once. Queries are embedded one
    by one with the model's query method (its query instructions apply), documents
    as one batch.

    Args:
        provider / model: The identity's names.
        dimensions: Vector length; ``None``: learned from the first reply of the
            model. The caches learn it with a probe step (one model call, once, with
            ``aembed`` on the async path); :attr:`identity` read before that embeds
            one probe text synchronously.
        query / documents / aquery / adocuments: The model's calls.
    """

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        dimensions: int | None,
        query: Callable[[str], Sequence[float]],
        documents: Callable[[list[str]], Sequence[Sequence[float]]],
        aquery: Callable[[str], Awaitable[Sequence[float]]],
        adocuments: Callable[[list[str]], Awaitable[Sequence[Sequence[float]]]],
    ) -> None:
        self._provider, self._model, self._dimensions = provider, model, dimensions
        self._query, self._documents = query, documents
        self._aquery, self._adocuments = aquery, adocuments
        self._identity: EmbedderIdentity | None = None

    @property
    def identity_pending(self) -> bool:
        """Whether the vector length is still unknown (reading :attr:`identity`
        would call the model)."""
        return self._dimensions is None

    @property
    def identity(self) -> EmbedderIdentity:
        if self._identity is None:
            if self._dimensions is None:
                self._dimensions = len(self._query("dimension probe"))
            self._identity = EmbedderIdentity(
                provider=self._provider, model=self._model, dimensions=self._dimensions
            )
        return self._identity

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        items = list(texts)
        rows = [self._query(t) for t in items] if role == "query" else self._documents(items)
        return self._checked(rows, count=len(items))

    async def aembed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        items = list(texts)
        rows: Sequence[Sequence[float]]
        if role == "query":
            rows = [await self._aquery(text) for text in items]
        else:
            rows = await self._adocuments(items)
        return self._checked(rows, count=len(items))

    def _checked(self, rows: Sequence[Sequence[float]], *, count: int) -> Matrix:
        """``rows`` normalized, checked against the known length -- or, the first
        time, teaching it (so no separate probe call is needed)."""
        matrix = as_normalized_matrix(rows, dimensions=self._dimensions, count=count)
        if self._dimensions is None and count:
            self._dimensions = int(matrix.shape[1])
        return matrix
