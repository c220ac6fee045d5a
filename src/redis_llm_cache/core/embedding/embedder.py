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

import asyncio
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeGuard, runtime_checkable

import numpy as np
import numpy.typing as npt
import orjson

from ...errors import ConfigurationError, EmbeddingInputError

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
        dimensions_in_key: Whether :meth:`canonical` names ``dimensions``. A wrapped
            framework model's length is learned, not configured: its model name and
            options decide its vectors, so its canonical form has ``"dimensions":
            null`` and is known before any model call (the embedding caches key
            its vectors with it from the first call on).
    """

    provider: str
    model: str
    dimensions: int
    options: Mapping[str, object] = field(default_factory=dict)
    dimensions_in_key: bool = True

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
        return identity_text(
            self.provider,
            self.model,
            self.dimensions if self.dimensions_in_key else None,
            self.options,
        )


def identity_text(
    provider: str, model: str, dimensions: int | None, options: Mapping[str, object]
) -> str:
    """:meth:`EmbedderIdentity.canonical`'s form: sorted JSON of the four parts.

    Raises:
        TypeError: an option is not a JSON value.
    """
    return orjson.dumps(
        {"provider": provider, "model": model, "dimensions": dimensions, "options": dict(options)},
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


def check_texts(texts: Sequence[str]) -> list[str]:
    """Return ``texts`` as a list, refusing a bare ``str`` (which would be
    embedded character by character) and non-string items.

    Raises:
        TypeError: ``texts`` is a single string.
        EmbeddingInputError: (a ``ValueError``) an item is not a ``str``; its
            ``index`` is the item's position in ``texts``.
    """
    if isinstance(texts, str | bytes):
        raise TypeError("embed() takes a sequence of texts, not a single string: use [text]")
    items = list(texts)
    for index, text in enumerate(items):
        if not isinstance(text, str):
            raise EmbeddingInputError(
                f"input {index} is {type(text).__name__}, not str", index=index
            )
    return items


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
    """The one ``Embedder`` over a framework's embedding model (LangChain,
    LlamaIndex): used as the semantic cache's embedder and by the embedding caches.

    Subclasses say which of the model's methods embed a query and a batch of
    documents (sync and async); identity, role dispatch and the row check live
    here once. Queries are embedded one by one with the model's query method (its
    query instructions apply; concurrently when async), documents as one batch.

    Its identity is one string per model for every cache: provider, model name and
    options, without the learned length (``dimensions_in_key=False``), so
    :attr:`identity_key` is known without calling the model. An adapter that
    exposes a core ``Embedder`` to the framework is unwrapped instead: the core
    embedder's own identity is used (``delegate``).

    Args:
        provider / model / options: The identity's parts.
        dimensions: Vector length; ``None``: learned from the model. The caches
            learn it with a probe step (one model call, once, with ``aembed`` on
            the async path) or from the model's first reply, whichever comes
            first; :attr:`identity` read before either embeds one probe text
            synchronously.
        delegate: The core ``Embedder`` behind the model, if any; its identity is
            this wrapper's.
    """

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        options: Mapping[str, object] | None = None,
        dimensions: int | None = None,
        delegate: Embedder | None = None,
    ) -> None:
        self._provider, self._model = provider, model
        self._options = dict(options or {})
        self._dimensions = dimensions
        self._delegate = delegate
        self._identity: EmbedderIdentity | None = None
        try:
            identity_text(provider, model, None, self._options)
        except TypeError as exc:
            raise ConfigurationError(f"embedder options must be JSON values: {exc}") from exc

    # -- what a framework adapter provides --------------------------------------------------

    def _embed_query(self, text: str) -> Sequence[float]:
        raise NotImplementedError

    def _embed_documents(self, texts: list[str]) -> Sequence[Sequence[float]]:
        raise NotImplementedError

    async def _aembed_query(self, text: str) -> Sequence[float]:
        raise NotImplementedError

    async def _aembed_documents(self, texts: list[str]) -> Sequence[Sequence[float]]:
        raise NotImplementedError

    # -- identity ---------------------------------------------------------------------------

    @property
    def identity_key(self) -> str:
        """``identity.canonical()``, known without a model call."""
        if self._delegate is not None:
            return self._delegate.identity.canonical()
        return identity_text(self._provider, self._model, None, self._options)

    @property
    def in_process(self) -> bool:
        """Whether the model computes in this process (the core embedder behind it
        says so): caches then wait for it instead of bounding it with a deadline."""
        return bool(getattr(self._delegate, "in_process", False))

    @property
    def identity_pending(self) -> bool:
        """Whether the vector length is still unknown (reading :attr:`identity`
        would call the model)."""
        if self._delegate is not None:
            return bool(getattr(self._delegate, "identity_pending", False))
        return self._dimensions is None

    @property
    def identity(self) -> EmbedderIdentity:
        if self._identity is None:
            if self._delegate is not None:
                self._identity = self._delegate.identity
            else:
                if self._dimensions is None:
                    self._dimensions = len(self._embed_query("dimension probe"))
                self._identity = EmbedderIdentity(
                    provider=self._provider,
                    model=self._model,
                    dimensions=self._dimensions,
                    options=self._options,
                    dimensions_in_key=False,
                )
        return self._identity

    # -- embedding --------------------------------------------------------------------------

    def rows(self, texts: Sequence[str], *, role: Role = "document") -> object:
        """The model's vectors as it returns them (not checked nor normalized).

        The texts are checked first (:func:`check_texts`): queries go to the model
        one by one, so its own error would name index 0 whatever the position; an
        empty batch is ``[]`` without a model call (some models refuse one).
        """
        items = check_texts(texts)
        if not items:
            return []
        if role == "query":
            return [self._embed_query(text) for text in items]
        return self._embed_documents(items)

    async def arows(self, texts: Sequence[str], *, role: Role = "document") -> object:
        """Async :meth:`rows`."""
        items = check_texts(texts)
        if not items:
            return []
        if role == "query":
            return await asyncio.gather(*(self._aembed_query(text) for text in items))
        return await self._aembed_documents(items)

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        rows = self.rows(texts, role=role)
        if not texts:
            return self._empty(self.identity.dimensions)
        return self._checked(rows, count=len(texts))

    async def aembed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        rows = await self.arows(texts, role=role)
        if not texts:
            if self.identity_pending and self._delegate is None:
                # Learn the length without blocking the event loop on a sync probe.
                self._dimensions = len(await self._aembed_query("dimension probe"))
            return self._empty(self.identity.dimensions)
        return self._checked(rows, count=len(texts))

    @staticmethod
    def _empty(dimensions: int) -> Matrix:
        """The ``(0, dimensions)`` matrix of an empty batch."""
        return np.zeros((0, dimensions), dtype=np.float32)

    def _checked(self, rows: object, *, count: int) -> Matrix:
        """``rows`` checked and normalized against the known length -- or, the first
        time, teaching it (so no separate probe call is needed)."""
        dimensions = self.identity.dimensions if not self.identity_pending else None
        matrix = check_vectors(rows, count=count, dimensions=dimensions)
        if dimensions is None and count:
            self._dimensions = int(matrix.shape[1])
        return matrix

    @property
    def unnormalized(self) -> RawRows:
        """This model as the embedding store's ``embed``/``aembed``, returning the
        model's own vectors: an embedding cache hands back what the model
        returned (the store checks them; it normalizes only if told to)."""
        return RawRows(self)


class RawRows:
    """A :class:`FrameworkEmbedder`'s :meth:`~FrameworkEmbedder.rows` under the
    names the embedding store calls (see :attr:`FrameworkEmbedder.unnormalized`)."""

    def __init__(self, embedder: FrameworkEmbedder) -> None:
        self.embedder = embedder

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> object:
        return self.embedder.rows(texts, role=role)

    async def aembed(self, texts: Sequence[str], *, role: Role = "document") -> object:
        return await self.embedder.arows(texts, role=role)
