"""The one vector check (``core.embedder.check_vectors``) and the paths that use it."""

from __future__ import annotations

import numpy as np
import pytest

from redis_llm_cache.core.embedding.embedder import VectorsError, check_vector, check_vectors
from redis_llm_cache.embedders._base import check_rows
from redis_llm_cache.errors import EmbedderError, EmbeddingInputError


def test_rows_are_normalized_float32() -> None:
    matrix = check_vectors([[3, 4], [0, 2]], count=2, dimensions=2)
    assert matrix.dtype == np.float32 and matrix.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(matrix, [[0.6, 0.8], [0.0, 1.0]], rtol=1e-6)


def test_without_normalizing_rows_are_kept_and_zero_is_allowed() -> None:
    matrix = check_vectors([[3, 4], [0, 0]], count=2, dimensions=None, normalize=False)
    np.testing.assert_array_equal(matrix, [[3, 4], [0, 0]])


@pytest.mark.parametrize(
    ("vectors", "row", "words"),
    [
        ([[1, 2], [np.nan, 1]], 1, "NaN or Inf"),
        ([[1, 2], [1, 2], [1e39, 1]], 2, "NaN or Inf"),  # beyond float32: inf
        ([[1, 2], [0, 0]], 1, "no direction"),
        ([[1, 2], [1, 2, 3]], 1, r"shape \(3,\)"),
        ([[1, 2], "ab"], 1, "not a vector"),
    ],
)
def test_the_first_bad_row_is_named(vectors: object, row: int, words: str) -> None:
    with pytest.raises(VectorsError, match=words) as caught:
        check_vectors(vectors, count=len(vectors), dimensions=2)  # type: ignore[arg-type]
    assert caught.value.row == row
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("vectors", "count", "words"),
    [
        ([[1, 2, 3], [1, 2, 3]], 2, "3 dimensions, expected 2"),
        ([[1, 2]], 2, "expected 2 vectors"),
        ([1, 2], 1, "expected 1 vectors"),
        (object(), 1, "expected a matrix"),
    ],
)
def test_a_wrong_reply_as_a_whole_names_no_row(vectors: object, count: int, words: str) -> None:
    with pytest.raises(VectorsError, match=words) as caught:
        check_vectors(vectors, count=count, dimensions=2)
    assert caught.value.row is None


def test_large_finite_values_are_normalized_not_refused() -> None:
    # Their float32 norm would overflow; the check computes it in float64.
    matrix = check_vectors([[3e38, 3e38]], count=1, dimensions=2)
    np.testing.assert_allclose(matrix, [[2**-0.5, 2**-0.5]], rtol=1e-6)


def test_one_vector_for_the_indexes() -> None:
    np.testing.assert_array_equal(check_vector(np.array([[1.0, 2.0]]), dimensions=2), [1.0, 2.0])
    with pytest.raises(ValueError, match="dimensions"):
        check_vector(np.zeros(3), dimensions=2)
    with pytest.raises(ValueError, match="NaN or Inf"):
        check_vector([1.0, np.inf], dimensions=2)


def test_embedders_map_the_check_to_their_errors() -> None:
    with pytest.raises(EmbeddingInputError) as caught:
        check_rows([[1.0, 2.0], [np.nan, 1.0]], dimensions=2, offset=10, who="model")
    assert caught.value.index == 11
    with pytest.raises(EmbedderError, match="3 dimensions, expected 2"):
        check_rows([[1.0, 2.0, 3.0]], dimensions=2, offset=0, who="model")
