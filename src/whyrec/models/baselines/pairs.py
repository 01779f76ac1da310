"""Training batches of the sampled-pair baselines (FM, CML): (user, positive item, negatives)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import scipy.sparse as sp
import torch

PairBatch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def pair_batches(
    matrix: sp.csr_matrix, batch_size: int, negatives: int
) -> tuple[Callable[[int, np.random.Generator], Iterator[PairBatch]], int]:
    """The batches of one epoch as a function of (epoch, generator), and their number per epoch.

    Each epoch shuffles every (user, positive item) pair and draws `negatives` uniform items per
    pair. Sampled negatives are not checked against the user's positives: with thousands of items
    a clash is rare, and rejecting it would cost a sparse lookup per draw.
    """
    coo = matrix.tocoo()
    all_users, all_items = coo.row.astype(np.int64), coo.col.astype(np.int64)

    def epoch(_: int, rng: np.random.Generator) -> Iterator[PairBatch]:
        order = rng.permutation(len(all_users))
        users, items = all_users[order], all_items[order]
        for start in range(0, len(users), batch_size):
            u, i = users[start : start + batch_size], items[start : start + batch_size]
            j = rng.integers(0, matrix.shape[1], size=(len(u), negatives))
            yield torch.from_numpy(u), torch.from_numpy(i), torch.from_numpy(j)

    return epoch, math.ceil(len(all_users) / batch_size)
