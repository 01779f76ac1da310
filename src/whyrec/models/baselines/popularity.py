"""Popularity: every user gets the most interacted items (the weak baseline of every paper)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from whyrec.data.dataset import Dataset
from whyrec.models.recommender import Recommender
from whyrec.models.training import TrainingOptions


class Popularity(Recommender):
    """Scores each item by its number of training interactions (log-scaled)."""

    def __init__(self) -> None:
        pass

    def fit(
        self, train: Dataset, validation: Dataset | None = None, *, options: TrainingOptions | None = None
    ) -> Popularity:
        self._remember(train, use_attributes=False)
        counts = np.asarray(self.train_matrix_.sum(axis=0)).ravel()
        self.item_scores_ = np.log1p(counts).astype(np.float32)
        return self

    def _score(self, profiles: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (profiles.shape[0], len(self.item_scores_))).copy()

    def _tensors(self) -> dict[str, np.ndarray]:
        return {"item_scores": self.item_scores_}

    def _restore_model(self, tensors: Mapping[str, np.ndarray], state: Mapping[str, Any]) -> None:
        self.item_scores_ = np.asarray(tensors["item_scores"], dtype=np.float32)
