"""Matrix factorisation baselines: iALS (Hu, Koren and Volinsky 2008) through ``implicit`` and BPR
(Rendle et al. 2009) through ``cornac``.

BPR scores known users with their learned factors. iALS scores every bag, a known user's
included, by the exact fold-in of its history given the item factors, with the confidence implicit
fits: the score it ranks by is the one its exact explanation sums to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from implicit.als import AlternatingLeastSquares
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

    def _check_counts(self) -> None:
        for name in ("factors", "iterations"):
            if int(getattr(self, name)) < 1:
                raise ParameterError(f"{name} must be at least 1, got {getattr(self, name)}")

    def fit(
        self, train: Dataset, validation: Dataset | None = None, *, options: TrainingOptions | None = None
    ) -> _Factors:
        self._check_counts()
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
    """Implicit ALS (Hu, Koren and Volinsky 2008), fitted by ``implicit`` with confidence c = α·r.

    r is 1 for an interaction, or its event count when the data counted repeated events
    (``on_duplicate="count"``, :attr:`whyrec.data.Dataset.weights`); counts shape the item factors.
    Every bag is then scored by the exact fold-in of its history (presence, r = 1) given the item
    factors Y, the least-squares half-step of the paper's section 4 with implicit's confidence:

        u = A⁻¹ b,  A = YᵀY + λI + (c - 1) Y_pᵀY_p,  b = c Y_pᵀ1,  score_j = y_jᵀu

    for the history items p. A known user is scored this way too (not by the factors implicit
    learned, which its conjugate-gradient steps only approximate), so recommendations, new profiles,
    counterfactual edits and the exact decomposition all see one score. The Woodbury identity turns
    each profile's d x d solve into one of its history's size h (:meth:`fold_in`).
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
        return self.vector_scores(self.fold_in(self.history(profiles)))

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self.vector_scores(self._known_user_vectors()[np.asarray(users)])

    def _known_user_vectors(self) -> np.ndarray:
        """The fold-in of every training user's history, computed once per fit."""
        key = (id(self.train_matrix_), id(self.item_factors_))
        cached = getattr(self, "_user_vector_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, self.fold_in(self.train_matrix_))
            self._user_vector_cache = cached
        return cached[1]

    def _folding(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Y, B = YᵀY + λI and G = Y B⁻¹ (float64), computed once per fit."""
        cached = getattr(self, "_folding_cache", None)
        if cached is None or cached[0] != id(self.item_factors_):
            Y = self.item_factors_.astype(np.float64)
            B = Y.T @ Y + float(self.regularization) * np.eye(Y.shape[1])
            cached = (id(self.item_factors_), (Y, B, np.linalg.solve(B, Y.T).T))
            self._folding_cache = cached
        return cached[1]

    def fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        """User vectors u (rows x factors, float64) of binary histories (see the class docstring).

        With h history items, A = B + (c - 1) PᵀP for P = Y_p, and by Woodbury
        u = Qᵀ(c1 - (c - 1)(I + (c - 1)K)⁻¹ K c1) with Q = P B⁻¹ and K = Q Pᵀ (h x h): O(h²d)
        instead of O(d³); a history longer than half the factors is solved directly.
        """
        Y, B, G = self._folding()
        history = sp.csr_matrix(history)
        c = float(self.alpha)
        out = np.zeros((history.shape[0], Y.shape[1]))
        for row in range(history.shape[0]):
            items = history.indices[history.indptr[row] : history.indptr[row + 1]]
            if not len(items):
                continue
            P = Y[items]
            if 2 * len(items) >= Y.shape[1]:
                out[row] = np.linalg.solve(B + (c - 1) * P.T @ P, c * P.sum(axis=0))
                continue
            Q = G[items]
            K = Q @ P.T
            ones = np.full(len(items), c)
            z = ones - (c - 1) * np.linalg.solve(np.eye(len(items)) + (c - 1) * K, K @ ones)
            out[row] = Q.T @ z
        return out

    def edit_system(self, history_items: np.ndarray) -> tuple[Any, np.ndarray]:
        """The fold-in of one history as its system: (Cholesky factor of A, u = A⁻¹b), which
        :meth:`added_vectors` reuses for every addition."""
        Y, B, _ = self._folding()
        c = float(self.alpha)
        P = Y[np.asarray(history_items, dtype=np.int64)]
        factor = scipy.linalg.cho_factor(B + (c - 1) * P.T @ P)
        return factor, scipy.linalg.cho_solve(factor, c * P.sum(axis=0))

    def added_vectors(self, system: tuple[Any, np.ndarray], added: np.ndarray) -> np.ndarray:
        """The fold-in (len(added) x factors, float64) once each `added` item joins the history of
        `system` (:meth:`edit_system`), exactly, by Sherman-Morrison: adding y makes
        A' = A + (c - 1) y yᵀ and b' = b + c y, so u' = u + γ A⁻¹y with
        γ = c - (c - 1)(yᵀu + c yᵀA⁻¹y) / (1 + (c - 1) yᵀA⁻¹y): one solve for all additions
        instead of a fold-in each."""
        Y = self._folding()[0]
        factor, u = system
        c = float(self.alpha)
        added_factors = Y[np.asarray(added, dtype=np.int64)]
        Z = scipy.linalg.cho_solve(factor, added_factors.T)  # A⁻¹y for every addition (d x m)
        s = np.einsum("md,dm->m", added_factors, Z)
        gamma = c - (c - 1) * (added_factors @ u + c * s) / (1 + (c - 1) * s)
        return u[None, :] + (Z * gamma).T

    def vector_scores(self, vectors: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        """The scores (float32) of user `vectors` for every item, or for the items `columns`."""
        Y = self._folding()[0]
        return np.asarray(vectors @ (Y if columns is None else Y[columns]).T, dtype=np.float32)

    def score_moments(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The mean and mean square over the catalogue of the scores of user `vectors` (rows x
        factors), from Y's column means and YᵀY without scoring every item."""
        Y, B, _ = self._folding()
        gram = (B - float(self.regularization) * np.eye(Y.shape[1])) / len(Y)
        return vectors @ Y.mean(axis=0), np.einsum("md,md->m", vectors @ gram, vectors)

    def history_terms(self, history_items: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Each history item's exact term of each target's fold-in score (h x targets): the terms
        c y_iᵀ A⁻¹ y_j, which sum over i to score_j (Hu, Koren and Volinsky, section 5)."""
        Y, B, G = self._folding()
        c = float(self.alpha)
        P = Y[np.asarray(history_items)]
        if 2 * len(history_items) >= Y.shape[1]:
            return c * P @ np.linalg.solve(B + (c - 1) * P.T @ P, Y[np.asarray(targets)].T)
        K = G[np.asarray(history_items)] @ P.T
        V = P @ G[np.asarray(targets)].T  # P B⁻¹ y_j for every target
        return c * (V - (c - 1) * K @ np.linalg.solve(np.eye(len(history_items)) + (c - 1) * K, V))


class BPR(_Factors):
    """Bayesian personalised ranking (Rendle et al. 2009), fitted by cornac's BPR: SGD on sampled
    (user, seen item, unseen item) triples, with an item bias. score = u·v_j + b_j, the bias kept
    as a last factor column (user side 1).

    cornac is the kernel because on the same split and configuration it ranks far better than
    implicit's BPR (benchmarks/peers). One thread: cornac, like implicit, updates in parallel
    without locks (hogwild), so only one thread gives the same model twice for a seed. It scores
    known users only: a new profile would need retraining, so :meth:`score` refuses it.
    """

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

    def fit(self, train: Dataset, validation: Dataset | None = None, *, options: TrainingOptions | None = None) -> BPR:
        from cornac.models import BPR as CornacBPR

        self._check_counts()
        if float(self.learning_rate) <= 0 or float(self.regularization) < 0:
            raise ParameterError("learning_rate must be positive and regularization at least 0")
        self._remember(train, use_attributes=False)
        data = cornac_dataset(self.train_matrix_, int(self.seed))
        model = CornacBPR(
            k=int(self.factors),
            max_iter=int(self.iterations),
            learning_rate=float(self.learning_rate),
            lambda_reg=float(self.regularization),
            seed=int(self.seed),
            num_threads=1,
        ).fit(data)
        U, V, b = (np.asarray(a, dtype=np.float32) for a in (model.u_factors, model.i_factors, model.i_biases))
        if not (np.isfinite(U).all() and np.isfinite(V).all()):
            raise TrainingDivergedError("BPR diverged; use a smaller learning rate or more regularization")
        self.user_factors_ = np.hstack([U, np.ones((len(U), 1), dtype=np.float32)])
        self.item_factors_ = np.hstack([V, b[:, None]])
        return self

    def _score(self, profiles: sp.csr_matrix) -> np.ndarray:
        raise ParameterError("BPR scores known users only; a new profile needs retraining (use ALS or RecoNet)")


def cornac_dataset(matrix: sp.spmatrix, seed: int) -> Any:
    """A users x items interaction matrix as cornac's training set, every user and item keeping its
    index (cornac's id maps are the identity), so cornac's factors line up with whyrec's."""
    from cornac.data import Dataset as CornacDataset

    X = sp.coo_matrix(matrix)
    users, items = X.shape
    identity = ({u: u for u in range(users)}, {i: i for i in range(items)})
    triples = (X.row.astype(np.int64), X.col.astype(np.int64), np.ones(X.nnz))
    return CornacDataset(users, items, *identity, triples, seed=seed)
