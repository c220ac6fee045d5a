"""The client index's search kernels: sign codes of vectors, the exact float32
scan and the coarse Hamming pass that hands the nearest rows to it."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ...embedding.embedder import Matrix

#: Rows per slice of the coarse stage (16 KiB of codes per word row at 2048).
_COARSE_CHUNK = 2048


def _code_words(dimensions: int) -> int:
    return -(-dimensions // 64)


def sign_codes(vectors: Matrix) -> npt.NDArray[np.uint64]:
    """One bit per dimension (``x > 0``) of each row, as ``(words, rows)`` uint64.

    Column-major on purpose: the coarse stage XORs and counts word by word over all
    rows, and sums the per-word counts with vector adds along contiguous memory.
    """
    matrix = np.atleast_2d(vectors)
    packed = np.packbits(matrix > 0, axis=1)
    width = _code_words(matrix.shape[1]) * 8
    if packed.shape[1] != width:
        packed = np.pad(packed, ((0, 0), (0, width - packed.shape[1])))
    return np.ascontiguousarray(packed.view(np.uint64).T)


def _row_code(vector: Matrix, words: int) -> npt.NDArray[np.uint64]:
    """:func:`sign_codes` of one vector (a third of its cost: called per add)."""
    packed = np.packbits(vector > 0)
    if len(packed) != words * 8:
        packed = np.pad(packed, (0, words * 8 - len(packed)))
    return packed.view(np.uint64)


def _dot_rows(matrix: Matrix, query: Matrix) -> Matrix:
    """``matrix @ query`` on this thread. Not BLAS: its threads wait on each other
    when the CPU is busy (measured under load, 512 x 1024-d: p50 13 ms through
    BLAS, 0.25 ms here), and a cache shares the CPU with the application."""
    scores: Matrix = np.einsum("ij,j->i", matrix, query)
    return scores


def _coarse_rows(
    codes: npt.NDArray[np.uint64], query: Matrix, dead: npt.NDArray[np.bool_], count: int
) -> npt.NDArray[np.intp]:
    """The ``count`` live rows whose sign codes differ least from the query's.

    Hamming distance between sign codes estimates the angle between vectors
    (each bit is a hyperplane through the origin), at 1/32 of the memory traffic
    of the float32 product; the exact stage then ranks these rows by cosine.
    """
    words, n = codes.shape
    query_code = sign_codes(query)
    distance = np.empty(n, np.uint16)
    # In slices whose temporaries stay in the CPU cache: one pass over the codes
    # from memory instead of three over freshly allocated full-size arrays.
    chunk = min(n, _COARSE_CHUNK)
    differing = np.empty((words, chunk), np.uint64)
    counts = np.empty((words, chunk), np.uint8)
    for start in range(0, n, chunk):
        width = min(chunk, n - start)
        np.bitwise_xor(codes[:, start : start + width], query_code, out=differing[:, :width])
        np.bitwise_count(differing[:, :width], out=counts[:, :width])
        counts[:, :width].sum(axis=0, dtype=np.uint16, out=distance[start : start + width])
    distance[dead] = np.iinfo(np.uint16).max
    if len(distance) > count:
        rows = np.argpartition(distance, count - 1)[:count]
    else:
        rows = np.arange(len(distance))
    return rows[~dead[rows]]
