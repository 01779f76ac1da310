"""Matrix factorisation baselines through ``implicit``: iALS (Hu, Koren and Volinsky 2008) and BPR
(Rendle et al. 2009). Known users are scored with their learned factors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.als import AlternatingLeastSquares
from implicit.bpr import BayesianPersonalizedRanking
from implicit.recommender_base import ModelFitError
from threadpoolctl import threadpool_limits

from whyrec.data.dataset import Dataset
from whyrec.errors import ParameterError, TrainingDivergedError
from whyrec.models.recommender import Recommender
from whyrec.models.training import TrainingOptions


class _Factors(Recommender):
    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.user_factors_[np.asarray(users)] @ self.item_factors_.T, dtype=np.float32)

    def _tensors(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _restore_model(self, tensors: Mapping[str, np.ndarray], state: Mapping[str, Any]) -> None:
        self.user_factors_ = np.asarray(tensors["user_factors"], dtype=np.float32)
        self.item_factors_ = np.asarray(tensors["item_factors"], dtype=np.float32)

    def _make(self) -> Any:
        raise NotImplementedError

    def _fit_matrix(self, train: Dataset) -> sp.csr_matrix:
        """What implicit learns from: the binary interactions."""
        return self.train_matrix_

    def fit(
        self, train: Dataset, validation: Dataset | None = None, *, options: TrainingOptions | None = None
    ) -> _Factors:
        for name in ("factors", "iterations"):
            if int(getattr(self, name)) < 1:
                raise ParameterError(f"{name} must be at least 1, got {getattr(self, name)}")
        self._remember(train, use_attributes=False)
        with threadpool_limits(1, "blas"):  # implicit parallelises itself; nested BLAS threads slow it down
            model = self._make()
            try:
                model.fit(self._fit_matrix(train).astype(np.float32), show_progress=False)
            except ModelFitError as exc:
                raise TrainingDivergedError(
                    f"{type(self).__name__} diverged ({exc}); use a smaller learning rate or more regularization"
                ) from None
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        return self


class ALS(_Factors):
    """Implicit ALS with confidence 1 + α·r (Hu, Koren and Volinsky 2008).

    r is 1 for an interaction, or its event count when the data counted repeated events
    (``on_duplicate="count"``, :attr:`whyrec.data.Dataset.weights`). New profiles are folded in
    exactly (one least-squares solve per profile with the item factors fixed), so partial histories
    need no retraining.
    """

    def _fit_matrix(self, train: Dataset) -> sp.csr_matrix:
        return train.weighted_matrix()  # event counts become confidence

    def __init__(
        self, factors: int = 64, regularization: float = 0.05, alpha: float = 10.0, iterations: int = 15, seed: int = 0
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed

    def _make(self) -> AlternatingLeastSquares:
        return AlternatingLeastSquares(
            factors=int(self.factors),
            regularization=float(self.regularization),
            alpha=float(self.alpha),
            iterations=int(self.iterations),
            random_state=int(self.seed),
            calculate_training_loss=False,
        )

    def _score(self, profiles: sp.csr_matrix) -> np.ndarray:
        """Fold-in: u = (YᵀY + α Y_pᵀY_p + λI)⁻¹ (1 + α) Y_pᵀ1 for each profile's items p."""
        history = self.history(profiles)
        Y = self.item_factors_.astype(np.float64)
        base = Y.T @ Y + float(self.regularization) * np.eye(Y.shape[1])
        users = np.zeros((history.shape[0], Y.shape[1]))
        for row in range(history.shape[0]):
            items = history.indices[history.indptr[row] : history.indptr[row + 1]]
            if len(items):
                Yp = Y[items]
                users[row] = np.linalg.solve(base + self.alpha * Yp.T @ Yp, (1 + self.alpha) * Yp.sum(axis=0))
        return np.asarray(users @ Y.T, dtype=np.float32)


class BPR(_Factors):
    """Bayesian personalised ranking by SGD. It scores known users only: a new profile would need
    retraining, so :meth:`score` refuses it."""

    supports_profiles = False

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        seed: int = 0,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.seed = seed

    def _make(self) -> BayesianPersonalizedRanking:
        # one thread: implicit's multi-threaded SGD updates race (hogwild), so a seed would not
        # give the same model twice
        return BayesianPersonalizedRanking(
            factors=int(self.factors),
            learning_rate=float(self.learning_rate),
            regularization=float(self.regularization),
            iterations=int(self.iterations),
            random_state=int(self.seed),
            num_threads=1,
        )

    def _score(self, profiles: sp.csr_matrix) -> np.ndarray:
        raise ParameterError("BPR scores known users only; a new profile needs retraining (use ALS or RecoNet)")
