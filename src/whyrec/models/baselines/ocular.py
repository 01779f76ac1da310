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
from torch import nn

from whyrec.data.dataset import Dataset
from whyrec.errors import ParameterError
from whyrec.models.recommender import Recommender
from whyrec.models.training import Objective, Trainer, TrainingOptions, TrainingResult, adam


def _nll(fu: torch.Tensor, fi: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, l2: float) -> torch.Tensor:
    # embedding() rather than indexing: its backward accumulates in a fixed order, so fits repeat exactly
    dots = (nn.functional.embedding(rows, fu) * nn.functional.embedding(cols, fi)).sum(dim=1)
    positives = -torch.log(-torch.expm1(-dots.clamp_min(1e-8))).sum()
    negatives = fu.sum(dim=0) @ fi.sum(dim=0) - dots.sum()
    return positives + negatives + l2 * (fu.pow(2).sum() + fi.pow(2).sum())


class OCuLaR(Recommender):
    """Overlapping co-clustering by projected gradient (see the module docstring).

    Parameters
    ----------
    factors : int
        Number of co-clusters K.
    l2 : float
        Penalty λ on the squared affiliations.
    lr : float
        Adam's step size.
    iterations : int
        Full-batch gradient steps of the fit.
    fold_in_iterations : int
        Gradient steps that place a new profile.
    use_attributes : bool
        Append users' attribute values to their rows (the paper's "w attr").
    seed : int
        Seed of the initial affiliations.
    """

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

    def fit(
        self, train: Dataset, validation: Dataset | None = None, *, options: TrainingOptions | None = None
    ) -> OCuLaR:
        if int(self.factors) < 1 or int(self.iterations) < 1 or float(self.l2) < 0:
            raise ParameterError("OCuLaR needs factors >= 1, iterations >= 1 and l2 >= 0")
        self._remember(train, self.use_attributes)
        R = self._rows(self.train_matrix_, self.user_attributes_)
        generator = torch.Generator().manual_seed(int(self.seed))
        scale = 1.0 / np.sqrt(int(self.factors))
        fu = torch.rand(R.shape[0], int(self.factors), generator=generator) * scale
        fi = nn.Parameter(torch.rand(R.shape[1], int(self.factors), generator=generator) * scale)
        fu, result = self._descend(R, fu, fi, int(self.iterations), options, "OCuLaR")
        self.history_ = result.history
        self.user_factors_ = fu.detach().numpy()
        self.column_factors_ = fi.detach().numpy()
        return self

    def _descend(
        self,
        R: sp.csr_matrix,
        start: torch.Tensor,
        fi: torch.Tensor,
        steps: int,
        options: TrainingOptions | None,
        name: str,
    ) -> tuple[torch.Tensor, TrainingResult]:
        """Projected gradient on the likelihood of rows `R`; the column factors learn when `fi`
        is a parameter and stay fixed otherwise (fold-in). One epoch is one full-batch step."""
        coo = R.tocoo()
        rows, cols = torch.from_numpy(coo.row.astype(np.int64)), torch.from_numpy(coo.col.astype(np.int64))
        fu = nn.Parameter(start)
        module = nn.ParameterList([fu] + ([fi] if isinstance(fi, nn.Parameter) else []))

        @torch.no_grad()
        def project() -> None:  # the projection of projected gradient descent: F >= 0
            for factors in module:
                factors.clamp_(min=0)

        cpu = (options or TrainingOptions()).cpu_only("OCuLaR")
        result = Trainer(epochs=steps, seed=int(self.seed), options=cpu, name=name).fit(
            Objective(
                module=module,
                optimizers=[adam(module.parameters(), lr=float(self.lr))],
                batches=lambda epoch, rng: (None,),
                loss=lambda _: (_nll(fu, fi, rows, cols, float(self.l2)), 1),
                after_step=project,
            )
        )
        return fu, result

    def _probabilities(self, users: np.ndarray) -> np.ndarray:
        items = self.column_factors_[: self.feature_space_.n_items]
        return (-np.expm1(-(users @ items.T))).astype(np.float32)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self._probabilities(self.user_factors_[np.asarray(users)])

    def _score(self, profiles: sp.csr_matrix) -> np.ndarray:
        """Fold new profiles in: fit f_u >= 0 to each profile's row with the column factors fixed."""
        R = self._rows(self.history(profiles), self.user_attribute_tokens(profiles))
        generator = torch.Generator().manual_seed(int(self.seed))
        fi = torch.from_numpy(self.column_factors_)
        start = torch.rand(R.shape[0], fi.shape[1], generator=generator) / np.sqrt(fi.shape[1])
        fu, _ = self._descend(R, start, fi, int(self.fold_in_iterations), None, "OCuLaR fold-in")
        return self._probabilities(fu.detach().numpy())

    def _tensors(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "column_factors": self.column_factors_}

    def _restore_model(self, tensors: Mapping[str, np.ndarray], state: Mapping[str, Any]) -> None:
        self.user_factors_ = np.asarray(tensors["user_factors"], dtype=np.float32)
        self.column_factors_ = np.asarray(tensors["column_factors"], dtype=np.float32)
