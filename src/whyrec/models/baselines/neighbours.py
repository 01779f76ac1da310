"""Neighbourhood models: item-based kNN with its usual variants, RP3beta's random walk, and
user-based cosine kNN (the RecoNet paper's rows)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import bm25_weight, tfidf_weight
from sklearn.preprocessing import normalize

from whyrec.data.dataset import Dataset
from whyrec.errors import ParameterError
from whyrec.models.recommender import Recommender
from whyrec.models.training import TrainingOptions

WEIGHTINGS = ("none", "tfidf", "bm25")


class ItemItem(Recommender, abstract=True):
    """score_j = Σ_{i∈history} S_ij for a sparse item-item matrix S whose row i keeps its
    `neighbours` largest entries: linear in the history, so each history item's term is exact
    (:class:`~whyrec.explain.decomposition.Decomposition`). The diagonal is 0: an item is never its
    own reason."""

    neighbours: int

    def _similarity(self, X: sp.csr_matrix) -> Callable[[int, int], np.ndarray]:
        """From the binary training matrix X, the function giving rows start..stop of S (dense,
        float64) before pruning."""
        raise NotImplementedError

    def _check(self) -> None:
        if int(self.neighbours) < 1:
            raise ParameterError(f"neighbours must be at least 1, got {self.neighbours}")

    def fit(self, train: Dataset, validation: Dataset | None = None, *, options: TrainingOptions | None = None) -> Any:
        self._check()
        self._remember(train, use_attributes=False)
        rows_of = self._similarity(self.train_matrix_.astype(np.float64).tocsr())
        n = self.feature_space_.n_items
        k = min(int(self.neighbours), max(n - 1, 1))
        step = max(1, 4_000_000 // max(n, 1))  # rows per block: about 32 MB of float64 at a time
        rows, cols, vals = [], [], []
        for start in range(0, n, step):
            block = rows_of(start, min(start + step, n))
            block[np.arange(len(block)), start + np.arange(len(block))] = 0.0
            top = np.argpartition(-block, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (len(block), 1))
            kept = np.take_along_axis(block, top, axis=1)
            keep = kept > 0
            rows.append(np.repeat(start + np.arange(len(block)), keep.sum(axis=1)))
            cols.append(top[keep])
            vals.append(kept[keep])
        shape = (n, n)
        similarity = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape)
        self.similarity_ = self._finish(similarity).astype(np.float32)
        return self

    def _finish(self, similarity: sp.csr_matrix) -> sp.csr_matrix:
        return similarity

    def _score(self, profiles: sp.csr_matrix) -> np.ndarray:
        return np.asarray((self.history(profiles) @ self.similarity_).todense(), dtype=np.float32)

    def _tensors(self) -> dict[str, np.ndarray]:
        s = self.similarity_
        return {"data": s.data, "indices": s.indices.astype(np.int64), "indptr": s.indptr.astype(np.int64)}

    def _restore_model(self, tensors: Mapping[str, np.ndarray], state: Mapping[str, Any]) -> None:
        n = self.feature_space_.n_items
        self.similarity_ = sp.csr_matrix((tensors["data"], tensors["indices"], tensors["indptr"]), shape=(n, n))


class ItemKNN(ItemItem):
    """Item-based kNN: score_j = Σ_{i∈history} s_ij over each history item's `neighbours` most
    similar items, with the usual variants (Dacrema et al. 2019 search the same ones):

        s_ij = Σ_u w_ui w_uj / (‖w_i‖^(2·alpha) ‖w_j‖^(2·(1 - alpha)) + shrink)

    - `alpha` 0.5 is the cosine; other values give the asymmetric cosine (Aiolli 2013), which
      weighs the history item's popularity against the target's;
    - `shrink` damps the similarity of items with few users in common (Koren 2008's shrinkage);
    - `weighting` "tfidf" or "bm25" weights each user's interactions by implicit's TF-IDF or BM25
      (`bm25_k1`, `bm25_b`), so that very active users count less.

    The weights come from implicit's ``tfidf_weight``/``bm25_weight``; the similarity is written
    here because implicit's kNN has no shrinkage or asymmetric cosine.
    """

    def __init__(
        self,
        neighbours: int = 100,
        alpha: float = 0.5,
        shrink: float = 0.0,
        weighting: str = "none",
        bm25_k1: float = 1.2,
        bm25_b: float = 0.75,
    ) -> None:
        self.neighbours = neighbours
        self.alpha = alpha
        self.shrink = shrink
        self.weighting = weighting
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b

    def _check(self) -> None:
        super()._check()
        if not 0.0 <= float(self.alpha) <= 1.0:
            raise ParameterError(f"alpha must be between 0 and 1, got {self.alpha}")
        if float(self.shrink) < 0:
            raise ParameterError(f"shrink must be at least 0, got {self.shrink}")
        if self.weighting not in WEIGHTINGS:
            raise ParameterError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {self.weighting!r}")

    def _similarity(self, X: sp.csr_matrix) -> Callable[[int, int], np.ndarray]:
        if self.weighting == "tfidf":
            X = sp.csr_matrix(tfidf_weight(X.T).T)
        elif self.weighting == "bm25":
            X = sp.csr_matrix(bm25_weight(X.T, float(self.bm25_k1), float(self.bm25_b)).T)
        columns = X.T.tocsr()
        norms = np.asarray(X.multiply(X).sum(axis=0)).ravel()  # ‖w_i‖² per item
        a, shrink = float(self.alpha), float(self.shrink)

        def rows(start: int, stop: int) -> np.ndarray:
            co = (columns[start:stop] @ X).toarray()
            below = norms[start:stop, None] ** a * norms[None, :] ** (1.0 - a) + shrink
            return np.divide(co, below, out=np.zeros_like(co), where=below > 0)

        return rows


class RP3beta(ItemItem):
    """RP3beta (Paudel, Christoffel, Newell and Bernstein, ACM TiiS 2017): a random walk of three
    steps item → user → item, each transition probability raised to `alpha` (P3alpha, Christoffel
    et al. 2015), divided by the target's popularity to the power `beta`:

        s_ij = Σ_u P(u | i)^alpha P(j | u)^alpha / pop(j)^beta

    Each history item keeps its `neighbours` largest entries, and with `normalize` its row is
    scaled to sum to 1. Linear in the history, so exactly explained, like item-kNN.
    """

    def __init__(self, neighbours: int = 100, alpha: float = 1.0, beta: float = 0.5, normalize: bool = False) -> None:
        self.neighbours = neighbours
        self.alpha = alpha
        self.beta = beta
        self.normalize = normalize

    def _check(self) -> None:
        super()._check()
        if float(self.alpha) <= 0:
            raise ParameterError(f"alpha must be positive, got {self.alpha}")
        if float(self.beta) < 0:
            raise ParameterError(f"beta must be at least 0, got {self.beta}")

    def _similarity(self, X: sp.csr_matrix) -> Callable[[int, int], np.ndarray]:
        X = sp.csr_matrix(X > 0, dtype=np.float64)
        user_to_item = sp.csr_matrix(normalize(X, norm="l1", axis=1).power(float(self.alpha)))
        item_to_user = normalize(X.T.tocsr(), norm="l1", axis=1).power(float(self.alpha)).tocsr()
        popularity = np.asarray(X.sum(axis=0)).ravel()
        penalty = np.divide(1.0, popularity ** float(self.beta), out=np.zeros_like(popularity), where=popularity > 0)

        def rows(start: int, stop: int) -> np.ndarray:
            return (item_to_user[start:stop] @ user_to_item).toarray() * penalty[None, :]

        return rows

    def _finish(self, similarity: sp.csr_matrix) -> sp.csr_matrix:
        return normalize(similarity, norm="l1", axis=1) if self.normalize else similarity


class UserKNN(Recommender):
    """score(u, i) = Σ_v cos(u, v) r_vi over the `neighbours` training users most similar to u."""

    def __init__(self, neighbours: int = 50, batch_size: int = 1024) -> None:
        self.neighbours = neighbours
        self.batch_size = batch_size

    def fit(
        self, train: Dataset, validation: Dataset | None = None, *, options: TrainingOptions | None = None
    ) -> UserKNN:
        if int(self.neighbours) < 1:
            raise ParameterError(f"neighbours must be at least 1, got {self.neighbours}")
        self._remember(train, use_attributes=False)
        self._restore_model({}, {})
        return self

    def _score(self, profiles: sp.csr_matrix) -> np.ndarray:
        history = normalize(self.history(profiles), norm="l2", axis=1)
        out = np.zeros((profiles.shape[0], self.feature_space_.n_items), dtype=np.float32)
        k = min(int(self.neighbours), self.normalised_.shape[0])
        for start in range(0, profiles.shape[0], self.batch_size):
            sims = np.asarray((history[start : start + self.batch_size] @ self.normalised_.T).todense())
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            weights = np.take_along_axis(sims, top, axis=1)
            rows = np.repeat(np.arange(len(sims)), k)
            neighbours = sp.csr_matrix((weights.ravel(), (rows, top.ravel())), shape=sims.shape)
            out[start : start + len(sims)] = np.asarray((neighbours @ self.train_matrix_).todense())
        return out

    def _restore_model(self, tensors: Mapping[str, np.ndarray], state: Mapping[str, Any]) -> None:
        """The training rows with unit length, rebuilt from the saved training matrix (nothing to store)."""
        self.normalised_ = normalize(self.train_matrix_, norm="l2", axis=1).astype(np.float32).tocsr()
