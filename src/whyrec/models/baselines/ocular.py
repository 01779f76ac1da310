"""OCuLaR (Heckel, Vlachos, Parnell and Dünner, ICDE 2017): overlapping co-clusters of users and items.

Non-negative affiliations f_u, f_i ∈ R^K_+ give P(r_ui = 1) = 1 - exp(-<f_u, f_i>). The fit minimises
the negative log-likelihood of the whole matrix plus λ(‖F_U‖² + ‖F_I‖²):

    Σ_{r_ui = 1} -log(1 - exp(-<f_u, f_i>)) + Σ_{r_ui = 0} <f_u, f_i>

by projected gradient (gradient steps, then clipping at zero). The second sum runs over every
unobserved pair, and equals <Σ_u f_u, Σ_i f_i> - Σ_{r_ui = 1} <f_u, f_i>, so the exact loss costs
O(nnz · K) per step. With attributes (the paper's "w attr" column) each user's attribute values
are appended to their row as extra columns, so attributes and items share the co-clusters; a user
with no history is then placed by their attributes alone. New profiles are folded in by the same
projected gradient with the item side fixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from whyrec.data.dataset import Dataset
from whyrec.errors import ParameterError
from whyrec.models.base import Recommender


def _nll(fu: torch.Tensor, fi: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, l2: float) -> torch.Tensor:
    dots = (fu[rows] * fi[cols]).sum(dim=1)
    positives = -torch.log(-torch.expm1(-dots.clamp_min(1e-8))).sum()
    negatives = fu.sum(dim=0) @ fi.sum(dim=0) - dots.sum()
    return positives + negatives + l2 * (fu.pow(2).sum() + fi.pow(2).sum())


class OCuLaR(Recommender):
    """See the module docstring."""

    supports_attributes = True

    def __init__(
        self,
        factors: int = 100,
        l2: float = 10.0,
        lr: float = 0.05,
        iterations: int = 150,
        fold_in_iterations: int = 100,
        use_attributes: bool = True,
        seed: int = 0,
    ) -> None:
        self.factors = factors
        self.l2 = l2
        self.lr = lr
        self.iterations = iterations
        self.fold_in_iterations = fold_in_iterations
        self.use_attributes = use_attributes
        self.seed = seed

    def _rows(self, history: sp.csr_matrix, attributes: sp.csr_matrix) -> sp.csr_matrix:
        if not self.uses_attributes:
            return sp.csr_matrix(history)
        fs = self.feature_space_
        n_user_tokens = sum(len(f.values) for f in fs.user_fields)
        return sp.hstack([history, attributes[:, fs.n_items : fs.n_items + n_user_tokens]]).tocsr()

    def fit(self, train: Dataset, validation: Dataset | None = None) -> OCuLaR:
        if int(self.factors) < 1 or int(self.iterations) < 1 or float(self.l2) < 0:
            raise ParameterError("OCuLaR needs factors >= 1, iterations >= 1 and l2 >= 0")
        self._remember(train, self.use_attributes)
        R = self._rows(self.train_matrix_, self.user_attributes_).tocoo()
        rows, cols = torch.from_numpy(R.row.astype(np.int64)), torch.from_numpy(R.col.astype(np.int64))
        generator = torch.Generator().manual_seed(int(self.seed))
        scale = 1.0 / np.sqrt(int(self.factors))
        fu = (torch.rand(R.shape[0], int(self.factors), generator=generator) * scale).requires_grad_()
        fi = (torch.rand(R.shape[1], int(self.factors), generator=generator) * scale).requires_grad_()
        optimizer = torch.optim.Adam([fu, fi], lr=float(self.lr))
        self.history_ = []
        for _ in range(int(self.iterations)):
            loss = _nll(fu, fi, rows, cols, float(self.l2))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():  # the projection of projected gradient descent: F >= 0
                fu.clamp_(min=0)
                fi.clamp_(min=0)
            self.history_.append(float(loss.detach()) / R.nnz)
        self.user_factors_ = fu.detach().numpy()
        self.column_factors_ = fi.detach().numpy()
        return self

    def _probabilities(self, users: np.ndarray) -> np.ndarray:
        items = self.column_factors_[: self.feature_space_.n_items]
        return (-np.expm1(-(users @ items.T))).astype(np.float32)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self._probabilities(self.user_factors_[np.asarray(users)])

    def score(self, profiles: sp.csr_matrix) -> np.ndarray:
        """Fold new profiles in: fit f_u >= 0 to each profile's row with the column factors fixed."""
        self._check_fitted()
        R = self._rows(self.history(profiles), self.user_attribute_tokens(profiles)).tocoo()
        rows, cols = torch.from_numpy(R.row.astype(np.int64)), torch.from_numpy(R.col.astype(np.int64))
        fi = torch.from_numpy(self.column_factors_)
        generator = torch.Generator().manual_seed(int(self.seed))
        fu = (torch.rand(R.shape[0], fi.shape[1], generator=generator) / np.sqrt(fi.shape[1])).requires_grad_()
        optimizer = torch.optim.Adam([fu], lr=float(self.lr))
        for _ in range(int(self.fold_in_iterations)):
            loss = _nll(fu, fi, rows, cols, float(self.l2))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                fu.clamp_(min=0)
        return self._probabilities(fu.detach().numpy())

    def _tensors(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "column_factors": self.column_factors_}

    def _restore(self, tensors: Mapping[str, np.ndarray], extra: Mapping[str, Any]) -> None:
        self.user_factors_ = np.asarray(tensors["user_factors"], dtype=np.float32)
        self.column_factors_ = np.asarray(tensors["column_factors"], dtype=np.float32)
