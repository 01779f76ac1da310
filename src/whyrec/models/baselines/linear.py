"""EASE (Steck, WWW 2019): a closed-form item-item linear model with a zero diagonal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from whyrec.data.dataset import Dataset
from whyrec.errors import ParameterError
from whyrec.models.recommender import Recommender
from whyrec.models.training import TrainingOptions


class EASE(Recommender):
    """B = I - P diag(1/diag(P)) with P = (XᵀX + λI)⁻¹ (eq. 8 of the paper); score = history · B."""

    def __init__(self, l2: float = 500.0) -> None:
        self.l2 = l2

    def fit(self, train: Dataset, validation: Dataset | None = None, *, options: TrainingOptions | None = None) -> EASE:
        if float(self.l2) <= 0:
            raise ParameterError(f"l2 must be positive, got {self.l2}")
        self._remember(train, use_attributes=False)
        X = self.train_matrix_.astype(np.float64)
        gram = np.asarray((X.T @ X).todense())
        gram[np.diag_indices_from(gram)] += float(self.l2)
        P = np.linalg.inv(gram)
        B = -P / np.diag(P)[None, :]
        B[np.diag_indices_from(B)] = 0.0
        self.weights_ = B.astype(np.float32)
        return self

    def _score(self, profiles: sp.csr_matrix) -> np.ndarray:
        return np.asarray(self.history(profiles) @ self.weights_, dtype=np.float32)

    def _tensors(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_}

    def _restore_model(self, tensors: Mapping[str, np.ndarray], state: Mapping[str, Any]) -> None:
        self.weights_ = np.asarray(tensors["weights"], dtype=np.float32)
