"""Collaborative Metric Learning (Hsieh et al., WWW 2017): users and items in one metric space.

Loss per (user, positive): w · Σ_k [m + d(u, i)² - d(u, k)²]_+ over the sampled negatives k that
violate the margin ("impostors"), with the WARP-style rank weight w = log(1 + J·M/U) (J items, M
impostors among U sampled negatives). Every vector is clipped back into the unit ball after each
step. Scores are -d(u, i)², so CML ranks known users only.
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
from whyrec.models.base import Recommender
from whyrec.models.baselines._training import train_pairs


class CML(Recommender):
    """See the module docstring."""

    supports_profiles = False

    def __init__(
        self,
        dim: int = 64,
        margin: float = 1.0,
        negatives: int = 20,
        lr: float = 1e-2,
        epochs: int = 20,
        batch_size: int = 2048,
        seed: int = 0,
    ) -> None:
        self.dim = dim
        self.margin = margin
        self.negatives = negatives
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed

    def fit(self, train: Dataset, validation: Dataset | None = None) -> CML:
        if int(self.dim) < 1 or int(self.negatives) < 1 or float(self.margin) <= 0:
            raise ParameterError("CML needs dim >= 1, negatives >= 1 and margin > 0")
        self._remember(train, use_attributes=False)
        fs = self.feature_space_
        torch.manual_seed(int(self.seed))
        users, items = nn.Embedding(fs.n_users, int(self.dim)), nn.Embedding(fs.n_items, int(self.dim))
        for table in (users, items):
            nn.init.normal_(table.weight, std=1.0 / np.sqrt(int(self.dim)))
        module = nn.ModuleDict({"user_vectors": users, "item_vectors": items})

        def loss(u: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
            pu = users(u)
            d_pos = (pu - items(i)).pow(2).sum(dim=1, keepdim=True)
            d_neg = (pu[:, None, :] - items(j)).pow(2).sum(dim=2)
            hinge = torch.relu(float(self.margin) + d_pos - d_neg)
            impostors = (hinge > 0).float().sum(dim=1)
            weight = torch.log1p(fs.n_items * impostors / j.shape[1])
            return (weight * hinge.sum(dim=1)).mean()

        @torch.no_grad()
        def clip() -> None:
            for table in (users, items):
                norms = table.weight.norm(dim=1, keepdim=True).clamp_min(1.0)
                table.weight.div_(norms)

        self.history_ = train_pairs(
            module, loss, self.train_matrix_, epochs=int(self.epochs), lr=float(self.lr),
            batch_size=int(self.batch_size), negatives=int(self.negatives), seed=int(self.seed), after_step=clip,
        )  # fmt: skip
        self.user_vectors_ = users.weight.detach().numpy().copy()
        self.item_vectors_ = items.weight.detach().numpy().copy()
        return self

    def score_users(self, users: np.ndarray) -> np.ndarray:
        self._check_fitted()
        u = self.user_vectors_[np.asarray(users)]
        v = self.item_vectors_
        return -((u**2).sum(1)[:, None] - 2 * u @ v.T + (v**2).sum(1)[None, :]).astype(np.float32)

    def score(self, profiles: sp.csr_matrix) -> np.ndarray:
        raise ParameterError("CML scores known users only; a new profile needs retraining (use ALS or RecoNet)")

    def _tensors(self) -> dict[str, np.ndarray]:
        return {"user_vectors": self.user_vectors_, "item_vectors": self.item_vectors_}

    def _restore(self, tensors: Mapping[str, np.ndarray], extra: Mapping[str, Any]) -> None:
        self.user_vectors_ = np.asarray(tensors["user_vectors"], dtype=np.float32)
        self.item_vectors_ = np.asarray(tensors["item_vectors"], dtype=np.float32)
