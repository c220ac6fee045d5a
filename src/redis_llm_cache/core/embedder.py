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

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

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


class VectorsError(ValueError):
    """Vectors a model returned (or a caller passed) are not usable.

    Attributes:
        row: Index of the first bad row (NaN/Inf, zero norm, a length unlike the
            others'); ``None`` when the whole reply is wrong (not a matrix, another
            number of rows, every row of another length than expected).
    """

    def __init__(self, message: str, *, row: int | None) -> None:
        super().__init__(message)
        self.row = row


def check_vectors(
    vectors: object, *, count: int, dimensions: int | None, normalize: bool = True
) -> Matrix:
    """The one check of vectors: ``count`` finite rows of ``dimensions`` floats
    (any length, the same for all, if ``None``), as a C-contiguous ``float32``
    matrix, L2-normalized unless ``normalize=False``.

    Every path that takes vectors from a model or a caller goes through here: the
    embedders, the framework adapters, the embedding store, the semantic tier and
    the vector indexes (:func:`check_vector`).

    Raises:
        VectorsError: (a ``ValueError``) naming the first bad row, or the whole
            reply's problem; see :attr:`VectorsError.row`. A zero row has no
            direction, so it is refused only when normalizing.
    """
    # float64 beyond float32's range becomes inf here, refused below as such.
    with np.errstate(over="ignore"):
        try:
            matrix = np.asarray(vectors, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise _ragged_row(vectors, dimensions) or VectorsError(
                f"expected a matrix of vectors, got something else: {exc}", row=None
            ) from exc
    if matrix.ndim != 2 or matrix.shape[0] != count or matrix.shape[1] < 1:
        raise VectorsError(
            f"expected {count} vectors, got an array of shape {matrix.shape}", row=None
        )
    if dimensions is not None and matrix.shape[1] != dimensions:
        raise VectorsError(
            f"vectors of {matrix.shape[1]} dimensions, expected {dimensions}", row=None
        )
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        row = int(np.argmin(finite))
        raise VectorsError(f"vector {row} contains NaN or Inf", row=row)
    if not normalize:
        return np.ascontiguousarray(matrix)
    # In float64: the norm of large float32 values would overflow float32.
    norms = np.linalg.norm(matrix.astype(np.float64), axis=1)
    if not norms.all():
        row = int(np.argmin(norms))
        raise VectorsError(f"vector {row} has no direction (zero norm)", row=row)
    return np.ascontiguousarray(matrix / norms[:, None], dtype=np.float32)


def check_vector(vector: object, *, dimensions: int) -> Matrix:
    """One vector (1-D, or one row) of ``dimensions`` finite floats, as a 1-D
    ``float32`` array, not renormalized: :func:`check_vectors` for one row."""
    row = np.reshape(np.asarray(vector, dtype=np.float32), (1, -1))
    checked: Matrix = check_vectors(row, count=1, dimensions=dimensions, normalize=False)[0]
    return checked


def _ragged_row(vectors: object, dimensions: int | None) -> VectorsError | None:
    """The first row of ``vectors`` that is not a vector of the expected length
    (``dimensions``, else the first row's), when ``vectors`` is a list of rows."""
    if not isinstance(vectors, Sequence) or isinstance(vectors, str | bytes):
        return None
    expected = dimensions
    for row, item in enumerate(vectors):
        try:
            vector = np.asarray(item, dtype=np.float32)
        except (TypeError, ValueError):
            return VectorsError(f"vector {row} is not a vector of floats", row=row)
        if expected is None and vector.ndim == 1:
            expected = vector.shape[0]
        if vector.ndim != 1 or vector.shape[0] != expected:
            return VectorsError(
                f"vector {row} has shape {vector.shape}, expected ({expected},)", row=row
            )
    return None


class FrameworkEmbedder:
    """An ``Embedder`` over a framework's embedding model, given its four calls.

    The LangChain and LlamaIndex adapters differ only in which methods they call;
    identity, role dispatch and row checks live here once. Queries are embedded one
    by one with the model's query method (its query instructions apply), documents
    as one batch.

    Args:
        provider / model: The identity's names.
        dimensions: Vector length; ``None``: learned by embedding one probe text
            when the identity is first needed (one model call, once).
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
        return check_vectors(rows, count=len(items), dimensions=self.identity.dimensions)

    async def aembed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        items = list(texts)
        rows: Sequence[Sequence[float]]
        if role == "query":
            rows = [await self._aquery(text) for text in items]
        else:
            rows = await self._adocuments(items)
        return check_vectors(rows, count=len(items), dimensions=self.identity.dimensions)
