"""CSR helpers shared by the data, model and explanation layers (one place for each operation)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def binarize(matrix: sp.spmatrix) -> sp.csr_matrix:
    """A float32 CSR copy with duplicates summed, zeros dropped, indices sorted and every entry 1."""
    matrix = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix.sort_indices()
    matrix.data = np.ones_like(matrix.data)
    return matrix


def ones_matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """Binary CSR matrix with a one at every (row, col) pair (repeated pairs count once)."""
    data = np.ones(len(rows), dtype=np.float32)
    return binarize(sp.csr_matrix((data, (rows, cols)), shape=shape))


def csr_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """Rows of a binary CSR matrix, cut straight from its arrays.

    scipy's fancy indexing costs hundreds of microseconds per call, which matters on the serving
    path; this costs a few.
    """
    rows = np.asarray(rows, dtype=np.int64)
    starts, ends = matrix.indptr[rows], matrix.indptr[rows + 1]
    pieces = [matrix.indices[a:b] for a, b in zip(starts, ends, strict=True)]
    indices = np.concatenate(pieces) if pieces else np.zeros(0, matrix.indices.dtype)
    indptr = np.concatenate([[0], np.cumsum(ends - starts)])
    return sp.csr_matrix(
        (np.ones(len(indices), np.float32), indices, indptr), shape=(len(rows), matrix.shape[1]), copy=False
    )
