"""How the service splits explanation work between its own threads and its worker processes.

The fast methods answer in a few milliseconds and run in the server's threads; the others go to
the worker processes of :class:`~whyrec.serve.pool.SlowPool`. A worker needs nothing but the model
and the request's bag (events already folded in), sent as plain arrays.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# Methods that answer in a few milliseconds at most; the others go to the worker pool.
FAST_METHODS = frozenset(
    {"lrp", "shapley", "occlusion", "read_out", "decomposition", "saliency", "input_x_gradient", "deeplift"}
)
Packed = tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]


def is_slow(method: str) -> bool:
    """Whether `method` runs in the worker processes."""
    return method not in FAST_METHODS


def pack(bag: sp.csr_matrix) -> Packed:
    """A bag as plain arrays, cheap to send to a worker process."""
    bag = sp.csr_matrix(bag)
    return bag.data, bag.indices, bag.indptr, bag.shape


def unpack(packed: Packed) -> sp.csr_matrix:
    """The bag :func:`pack` sent."""
    data, indices, indptr, shape = packed
    return sp.csr_matrix((data, indices, indptr), shape=shape)
