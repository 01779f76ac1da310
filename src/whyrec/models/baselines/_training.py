"""The training loop that the sampled-pair baselines (FM, CML) share: (user, positive, negatives)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import scipy.sparse as sp
import torch


def pair_batches(
    matrix: sp.csr_matrix, batch_size: int, negatives: int, rng: np.random.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled (user, positive item, `negatives` uniform items) batches.

    Sampled negatives are not checked against the user's positives: with thousands of items a clash
    is rare, and rejecting it would cost a sparse lookup per draw.
    """
    coo = matrix.tocoo()
    order = rng.permutation(coo.nnz)
    users, items = coo.row[order].astype(np.int64), coo.col[order].astype(np.int64)
    for start in range(0, len(users), batch_size):
        u, i = users[start : start + batch_size], items[start : start + batch_size]
        j = rng.integers(0, matrix.shape[1], size=(len(u), negatives))
        yield torch.from_numpy(u), torch.from_numpy(i), torch.from_numpy(j)


def train_pairs(
    module: torch.nn.Module,
    loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    matrix: sp.csr_matrix,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    negatives: int,
    seed: int,
    after_step: Callable[[], None] | None = None,
) -> list[float]:
    """Adam over `epochs` of pair batches; returns the mean loss per epoch."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    history = []
    for _ in range(epochs):
        total, count = 0.0, 0
        for u, i, j in pair_batches(matrix, batch_size, negatives, rng):
            value = loss(u, i, j)
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            if after_step is not None:
                after_step()
            total += float(value.detach()) * len(u)
            count += len(u)
        history.append(total / max(count, 1))
    return history
