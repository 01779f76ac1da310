"""RecoNet's training-example generator (Fusco et al., section 4.2), vectorised over a batch.

For a user's profile, one history item is removed and becomes the label. Given that r tokens have
been removed, one more is removed with probability 1/(r+1)^β, so that at least k are removed with
probability 1/(k!)^β. The extra removals are drawn from the remaining history items and, when
`remove_attributes` is set, from the user's and the items' attribute tokens as well. Item-attribute
tokens are recomputed from the items that stay, so the label's own attributes never leak into its
input unless another remaining item carries them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import gammaln

from whyrec.data.profiles import binarize

MAX_REMOVED = 64


def removal_counts(rng: np.random.Generator, n: int, beta: float) -> np.ndarray:
    """Numbers of removed tokens K >= 1 with P(K >= k) = 1 / (k!)^β, one per example."""
    if beta < 0:
        raise ValueError("beta must be non-negative")
    thresholds = beta * gammaln(np.arange(1, MAX_REMOVED + 1) + 1.0)  # β log k!, k = 1..MAX
    draws = -np.log(rng.random(n))  # K >= k  <=>  U <= (k!)^-β  <=>  -log U >= β log k!
    return np.searchsorted(thresholds, draws, side="right").clip(1, MAX_REMOVED)


@dataclass
class Batch:
    """One batch of training examples in EmbeddingBag form."""

    indices: np.ndarray  # token indices of all bags, concatenated
    offsets: np.ndarray  # start of each bag in `indices`
    labels: np.ndarray  # item index to predict, one per bag


class RemovalSampler:
    """Turns (user, label item) positions of a training matrix into perturbed bags."""

    def __init__(
        self,
        history: sp.csr_matrix,
        user_attributes: sp.csr_matrix,
        item_attributes: sp.csr_matrix,
        *,
        beta: float,
        remove_attributes: bool = True,
    ) -> None:
        self.history = sp.csr_matrix(history, dtype=np.float32)
        self.history.sort_indices()
        self.user_attributes = sp.csr_matrix(user_attributes, dtype=np.float32)
        self.item_attributes = sp.csr_matrix(item_attributes, dtype=np.float32)
        self.has_attributes = self.user_attributes.nnz > 0 or self.item_attributes.nnz > 0
        self.beta = beta
        self.remove_attributes = remove_attributes
        self.n_items = self.history.shape[1]
        self.n_tokens = self.item_attributes.shape[1]
        self.row_of = np.repeat(np.arange(self.history.shape[0]), np.diff(self.history.indptr))

    @property
    def n_examples(self) -> int:
        """One example per training interaction and epoch."""
        return self.history.nnz

    def batch(self, rng: np.random.Generator, positions: np.ndarray) -> Batch:
        """Examples whose labels are the stored interactions at `positions` (CSR order)."""
        users = self.row_of[positions]
        labels = self.history.indices[positions]
        n = len(positions)
        hist = self.history[users]
        # drop the label from each row's history
        row_ids = np.repeat(np.arange(n), np.diff(hist.indptr))
        hist.data[hist.indices == labels[row_ids]] = 0
        hist = binarize(hist)
        items_as_tokens = sp.csr_matrix((hist.data, hist.indices, hist.indptr), shape=(n, self.n_tokens))
        user_attr = self.user_attributes[users]
        if self.remove_attributes and self.has_attributes:
            pool = binarize(items_as_tokens + user_attr + hist @ self.item_attributes)
        else:
            pool = items_as_tokens
        removed = _choose_per_row(rng, pool, removal_counts(rng, n, self.beta) - 1)
        removed_items = removed[:, : self.n_items]
        kept = binarize(hist - hist.multiply(removed_items))
        if self.has_attributes:
            bag = sp.csr_matrix((kept.data, kept.indices, kept.indptr), shape=(n, self.n_tokens))
            bag = binarize(bag + user_attr + kept @ self.item_attributes)
            bag = binarize(bag - bag.multiply(removed))
        else:
            bag = kept
        keep = np.diff(bag.indptr) > 0  # an example whose whole bag was removed teaches nothing
        if not keep.all():
            bag, labels = bag[keep], labels[keep]
        return Batch(bag.indices.astype(np.int64), bag.indptr[:-1].astype(np.int64), labels.astype(np.int64))


def _choose_per_row(rng: np.random.Generator, pool: sp.csr_matrix, counts: np.ndarray) -> sp.csr_matrix:
    """A 0/1 matrix selecting `counts[r]` random stored entries of each row r of `pool`."""
    n = pool.shape[0]
    lengths = np.diff(pool.indptr)
    row_ids = np.repeat(np.arange(n), lengths)
    order = np.lexsort((rng.random(pool.nnz), row_ids))  # random order within each row
    rank = np.arange(pool.nnz) - pool.indptr[row_ids]  # rows stay contiguous after the lexsort
    chosen = np.zeros(pool.nnz, dtype=np.float32)
    chosen[order[rank < counts[row_ids]]] = 1.0
    selection = sp.csr_matrix((chosen, pool.indices, pool.indptr), shape=pool.shape)
    selection.eliminate_zeros()
    return selection
