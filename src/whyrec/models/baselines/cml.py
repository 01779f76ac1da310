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
from whyrec.models.baselines.pairs import PairBatch, pair_batches
from whyrec.models.recommender import Recommender
from whyrec.models.training import TrainingOptions


class CML(Recommender):
    """Collaborative metric learning (see the module docstring).

    Parameters
    ----------
    dim : int
        Dimension of the metric space.
    margin : float
        Hinge margin m.
    negatives : int
        Uniform negatives sampled per (user, positive) pair.
    lr : float
        Adam's learning rate.
    epochs : int
        Maximum number of epochs.
    batch_size : int
        Pairs per step.
    patience : int
        Epochs without a better validation recall@`eval_k` before training stops (the best epoch
        is kept either way). Pair-sampled training improves in small, noisy steps.
    eval_k : int
        Cut-off of the validation recall.
    seed : int
        Seed of the initial vectors and the sampling.
    """

    supports_profiles = False

    def __init__(
        self,
        dim: int = 64,
        margin: float = 1.0,
        negatives: int = 20,
        lr: float = 1e-2,
        epochs: int = 20,
        batch_size: int = 2048,
        patience: int = 5,
        eval_k: int = 50,
        seed: int = 0,
    ) -> None:
        self.dim = dim
        self.margin = margin
        self.negatives = negatives
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.eval_k = eval_k
        self.seed = seed

    def fit(self, train: Dataset, validation: Dataset | None = None, *, options: TrainingOptions | None = None) -> CML:
        if int(self.dim) < 1 or int(self.negatives) < 1 or float(self.margin) <= 0:
            raise ParameterError("CML needs dim >= 1, negatives >= 1 and margin > 0")
        self._remember(train, use_attributes=False)
        fs = self.feature_space_
        torch.manual_seed(int(self.seed))
        users, items = nn.Embedding(fs.n_users, int(self.dim)), nn.Embedding(fs.n_items, int(self.dim))
        for table in (users, items):
            nn.init.normal_(table.weight, std=1.0 / np.sqrt(int(self.dim)))
        module = nn.ModuleDict({"user_vectors": users, "item_vectors": items})

        def loss(batch: PairBatch) -> tuple[torch.Tensor, int]:
            u, i, j = batch
            pu = users(u)
            d_pos = (pu - items(i)).pow(2).sum(dim=1, keepdim=True)
            d_neg = (pu[:, None, :] - items(j)).pow(2).sum(dim=2)
            hinge = torch.relu(float(self.margin) + d_pos - d_neg)
            impostors = (hinge > 0).float().sum(dim=1)
            weight = torch.log1p(fs.n_items * impostors / j.shape[1])
            return (weight * hinge.sum(dim=1)).mean(), len(u)

        @torch.no_grad()
        def clip() -> None:
            for table in (users, items):
                table.weight.div_(table.weight.norm(dim=1, keepdim=True).clamp_min(1.0))

        def export() -> None:
            self.user_vectors_ = users.weight.detach().numpy().copy()
            self.item_vectors_ = items.weight.detach().numpy().copy()

        batches, per_epoch = pair_batches(self.train_matrix_, int(self.batch_size), int(self.negatives))
        self._fit_module(
            module,
            batches=batches,
            loss=loss,
            validation=validation,
            options=options,
            after_step=clip,
            batches_per_epoch=per_epoch,
            export=export,
        )
        return self

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        u = self.user_vectors_[np.asarray(users)]
        v = self.item_vectors_
        return -((u**2).sum(1)[:, None] - 2 * u @ v.T + (v**2).sum(1)[None, :]).astype(np.float32)

    def _score(self, profiles: sp.csr_matrix) -> np.ndarray:
        raise ParameterError("CML scores known users only; a new profile needs retraining (use ALS or RecoNet)")

    def _tensors(self) -> dict[str, np.ndarray]:
        return {"user_vectors": self.user_vectors_, "item_vectors": self.item_vectors_}

    def _restore_model(self, tensors: Mapping[str, np.ndarray], state: Mapping[str, Any]) -> None:
        self.user_vectors_ = np.asarray(tensors["user_vectors"], dtype=np.float32)
        self.item_vectors_ = np.asarray(tensors["item_vectors"], dtype=np.float32)
