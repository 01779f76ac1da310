"""RecoNet's training-example generator (Fusco et al., section 4.2), vectorised over a batch.

For a user's profile, one history item is removed and becomes the label. Given that r tokens have
been removed, one more is removed with probability 1/(r+1)^β, so that at least k are removed with
probability 1/(k!)^β. The extra removals are drawn from the remaining history items and, when
`remove_attributes` is set, from the user's and the items' attribute tokens as well. Item-attribute
tokens are recomputed from the items that stay, so the label's own attributes never leak into its
input unless another remaining item carries them.

whyrec's cold-start recipe (`cold_rate`, off in the paper's recipe): a share of the examples lose
their whole history and keep only the user's attribute tokens, so the model also learns to score
the bags that users without history bring at serving time.

:class:`MaskingSampler` is whyrec's faster objective (``RecoNet(sampling="masked")``): each history
item of a user is masked with probability ``rate`` (at least one), and the user's one bag without
the masked items predicts every masked item. One bag (and one pooled vector) then serves several
labels, as in the cloze objective of BERT4Rec and the multinomial likelihood of Mult-VAE.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import gammaln

from whyrec.errors import ParameterError

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
    labels: np.ndarray  # item index to predict, one per example
    rows: np.ndarray | None = None  # the bag of each label (None: bag i predicts labels[i])

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indices, offsets, labels)."""
        return self.indices, self.offsets, self.labels


class _BagSampler:
    """Each user's full bag, precomputed once with a support count per token (how many of the
    user's items carry an item attribute). Removing items then only subtracts their own
    contributions, so a batch costs a few sparse passes, not a product over whole histories."""

    def __init__(
        self,
        history: sp.csr_matrix,
        user_attributes: sp.csr_matrix,
        item_attributes: sp.csr_matrix,
        cold_rate: float,
    ) -> None:
        self.history = sp.csr_matrix(history, dtype=np.float32)
        self.history.sort_indices()
        self.cold_rate = cold_rate
        self.user_attributes = sp.csr_matrix(user_attributes, dtype=np.float32)
        self.n_items = self.history.shape[1]
        n_tokens = item_attributes.shape[1]
        self.n_tokens = n_tokens
        items_as_tokens = sp.csr_matrix(
            (np.ones(self.n_items, np.float32), np.arange(self.n_items), np.arange(self.n_items + 1)),
            shape=(self.n_items, n_tokens),
        )
        # an item's footprint in a bag: its own token plus one support for each of its attributes
        self.footprint = sp.csr_matrix(items_as_tokens + sp.csr_matrix(item_attributes, dtype=np.float32))
        self.counts = sp.csr_matrix(self.history @ self.footprint + sp.csr_matrix(user_attributes, dtype=np.float32))
        self.counts.sort_indices()

    def _finish(
        self, rng: np.random.Generator, counts: sp.csr_matrix, users: np.ndarray
    ) -> tuple[sp.csr_matrix, np.ndarray]:
        """The bags of `counts` after the cold-start recipe, as sorted CSR, and which are non-empty."""
        if self.cold_rate > 0:
            cold = (rng.random(len(users)) < self.cold_rate).astype(np.float32)
            counts = sp.diags(1 - cold) @ counts + sp.diags(cold) @ self.user_attributes[users]
        counts.data[counts.data < 0.5] = 0  # float guard; supports are whole numbers
        counts.eliminate_zeros()
        counts.sort_indices()
        return counts, np.diff(counts.indptr) > 0  # a bag with nothing left teaches nothing


class RemovalSampler(_BagSampler):
    """Turns (user, label item) positions of a training matrix into perturbed bags."""

    def __init__(
        self,
        history: sp.csr_matrix,
        user_attributes: sp.csr_matrix,
        item_attributes: sp.csr_matrix,
        *,
        beta: float,
        remove_attributes: bool = True,
        cold_rate: float = 0.0,
    ) -> None:
        super().__init__(history, user_attributes, item_attributes, cold_rate)
        self.beta = beta
        self.remove_attributes = remove_attributes
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
        one_hot = sp.csr_matrix((np.ones(n, np.float32), labels, np.arange(n + 1)), shape=(n, self.n_items))
        counts = self.counts[users] - one_hot @ self.footprint  # the label and its attribute supports
        counts.eliminate_zeros()
        pool = counts
        if not self.remove_attributes:
            pool = counts[:, : self.n_items].tocsr()
        removed = _choose_per_row(rng, pool, removal_counts(rng, n, self.beta) - 1)
        if removed.nnz:
            removed = sp.csr_matrix(removed, shape=(n, self.n_tokens))
            removed_items = removed[:, : self.n_items]
            counts = counts - removed_items @ self.footprint  # removed items and their supports
            counts = counts - counts.multiply(removed)  # removed attribute tokens go entirely
            counts.eliminate_zeros()
        counts, keep = self._finish(rng, counts, users)
        if not keep.all():
            counts, labels = counts[keep], labels[keep]
        return Batch(counts.indices.astype(np.int64), counts.indptr[:-1].astype(np.int64), labels.astype(np.int64))


class MaskingSampler(_BagSampler):
    """Turns users into bags with masked history items, each masked item a label of its user's bag."""

    def __init__(
        self,
        history: sp.csr_matrix,
        user_attributes: sp.csr_matrix,
        item_attributes: sp.csr_matrix,
        *,
        rate: float,
        cold_rate: float = 0.0,
    ) -> None:
        if not 0 < rate <= 1:
            raise ParameterError(f"rate={rate!r} must be in (0, 1]")
        super().__init__(history, user_attributes, item_attributes, cold_rate)
        self.rate = rate
        self.users = np.flatnonzero(np.diff(self.history.indptr) > 0)

    def batch(self, rng: np.random.Generator, users: np.ndarray) -> Batch:
        """One bag per user in `users` (each with a history), and the labels it predicts."""
        history = self.history[users]
        lengths = np.diff(history.indptr)
        masked = rng.random(history.nnz) < self.rate
        owner = np.repeat(np.arange(len(users)), lengths)
        unmasked = np.flatnonzero(np.bincount(owner[masked], minlength=len(users)) == 0)
        masked[history.indptr[unmasked] + (rng.random(len(unmasked)) * lengths[unmasked]).astype(np.int64)] = True
        removed = sp.csr_matrix((masked.astype(np.float32), history.indices, history.indptr), shape=history.shape)
        removed.eliminate_zeros()
        counts, keep = self._finish(rng, self.counts[users] - removed @ self.footprint, users)
        per_user = np.diff(removed.indptr)
        # a user whose bag is empty (one item, no attributes) teaches nothing; bags are renumbered
        bag_of = np.cumsum(keep) - 1
        label_user = np.repeat(np.arange(len(users)), per_user)
        kept_label = keep[label_user]
        if not keep.all():
            counts = counts[keep]
        return Batch(
            counts.indices.astype(np.int64),
            counts.indptr[:-1].astype(np.int64),
            removed.indices[kept_label].astype(np.int64),
            bag_of[label_user[kept_label]].astype(np.int64),
        )


def prefetched_batches(
    sampler: RemovalSampler | MaskingSampler, rng: np.random.Generator, order: np.ndarray, batch_size: int
) -> Iterator[Batch]:
    """Batches over `order`, each built on a worker thread while the previous one trains.

    Sampling is scipy/numpy work that releases the GIL, so it overlaps with the torch step.
    One worker draws batches in order from one generator, which keeps runs deterministic.
    """
    starts = range(0, len(order), batch_size)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for start in starts:
            future = pool.submit(sampler.batch, rng, order[start : start + batch_size])
            if pending is not None:
                yield pending.result()
            pending = future
        if pending is not None:
            yield pending.result()


def _choose_per_row(rng: np.random.Generator, pool: sp.csr_matrix, counts: np.ndarray) -> sp.csr_matrix:
    """A 0/1 matrix selecting `counts[r]` distinct random stored entries of each row r of `pool`.

    Most rows remove nothing or one token, so positions are drawn directly (with duplicates
    redrawn) instead of shuffling every row: O(removed) rather than O(nnz log nnz).
    """
    lengths = np.diff(pool.indptr)
    counts = np.minimum(counts, lengths)
    chosen = np.zeros(pool.nnz, dtype=bool)
    full = counts == lengths
    for r in np.flatnonzero(full & (lengths > 0)):  # rare: everything goes
        chosen[pool.indptr[r] : pool.indptr[r + 1]] = True
    need = np.where(full, 0, counts)
    while need.sum() > 0:
        rows = np.repeat(np.arange(len(need)), need)
        picks = pool.indptr[rows] + (rng.random(len(rows)) * lengths[rows]).astype(np.int64)
        fresh = np.unique(picks[~chosen[picks]])
        chosen[fresh] = True
        got = np.bincount(np.searchsorted(pool.indptr, fresh, side="right") - 1, minlength=len(need))
        need = need - got
    selection = sp.csr_matrix(
        (chosen.astype(np.float32), pool.indices.copy(), pool.indptr.copy()), shape=pool.shape
    )  # copies: eliminate_zeros below rewrites the index arrays in place
    selection.eliminate_zeros()
    return selection
