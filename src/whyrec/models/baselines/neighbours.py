"""Neighbourhood baselines: item-to-item and user-to-user cosine kNN (the RecoNet paper's rows)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import CosineRecommender
from sklearn.preprocessing import normalize

from whyrec.data.dataset import Dataset
from whyrec.errors import ParameterError
from whyrec.models.recommender import Recommender
from whyrec.models.training import TrainingOptions


class ItemKNN(Recommender):
    """score(u, i) = Σ_{j in history(u)} cos(i, j), over each item's `neighbours` most similar items.

    The item-item cosine similarities come from ``implicit``'s CosineRecommender.
    """

    def __init__(self, neighbours: int = 100) -> None:
        self.neighbours = neighbours

    def fit(
        self, train: Dataset, validation: Dataset | None = None, *, options: TrainingOptions | None = None
    ) -> ItemKNN:
        if int(self.neighbours) < 1:
            raise ParameterError(f"neighbours must be at least 1, got {self.neighbours}")
        self._remember(train, use_attributes=False)
        knn = CosineRecommender(K=int(self.neighbours))
        with warnings.catch_warnings():  # implicit converts its own intermediate COO matrix and says so
            warnings.simplefilter("ignore")
            knn.fit(self.train_matrix_.astype(np.float64), show_progress=False)
        self.similarity_ = sp.csr_matrix(knn.similarity, dtype=np.float32)
        return self

    def _score(self, profiles: sp.csr_matrix) -> np.ndarray:
        return np.asarray((self.history(profiles) @ self.similarity_).todense(), dtype=np.float32)

    def _tensors(self) -> dict[str, np.ndarray]:
        s = self.similarity_
        return {"data": s.data, "indices": s.indices.astype(np.int64), "indptr": s.indptr.astype(np.int64)}

    def _restore_model(self, tensors: Mapping[str, np.ndarray], state: Mapping[str, Any]) -> None:
        n = self.feature_space_.n_items
        self.similarity_ = sp.csr_matrix((tensors["data"], tensors["indices"], tensors["indptr"]), shape=(n, n))


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
