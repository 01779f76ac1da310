"""Factorisation machine for implicit feedback with user and item attributes (the paper's FM row).

Features: a user is their id plus their attribute values; an item is its id plus its attribute
values (Rendle 2010). With the user side p_u and item side q_i as sums of feature vectors,
score(u, i) = Σ_{b ∈ item side} w_b + <p_u, q_i> + Σ_{b < b' ∈ item side} <v_b, v_b'>; the terms
inside the user side are the same for every item and drop out of the ranking. Trained with BPR on
sampled negatives. A new user is scored from their attributes alone (no id), which is what makes FM
a cold-start baseline; `id_dropout` hides the id during training so that the attribute vectors
learn to stand in for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from whyrec.data.dataset import Dataset
from whyrec.data.sparse import csr_rows
from whyrec.errors import ParameterError
from whyrec.models.baselines.pairs import PairBatch, pair_batches
from whyrec.models.recommender import Recommender
from whyrec.models.training import TrainingOptions


class _FMModule(nn.Module):
    def __init__(self, n_users: int, n_tokens: int, dim: int) -> None:
        super().__init__()
        self.user = nn.Embedding(n_users, dim)
        self.token = nn.Embedding(n_tokens, dim)  # item ids and attribute values share one table
        self.weight = nn.Embedding(n_tokens, 1)
        for table in (self.user, self.token):
            nn.init.normal_(table.weight, std=0.05)
        nn.init.zeros_(self.weight.weight)


def bag_sum(matrix: sp.csr_matrix, rows: np.ndarray, weight: torch.Tensor) -> torch.Tensor:
    """Σ of `weight` rows over the non-zero columns of each selected row of `matrix`."""
    block = csr_rows(matrix, rows)
    return nn.functional.embedding_bag(
        torch.from_numpy(block.indices.astype(np.int64)),
        weight,
        torch.from_numpy(block.indptr[:-1].astype(np.int64)),
        mode="sum",
    )


class FactorizationMachine(Recommender):
    """Factorisation machine with attributes, trained with BPR (see the module docstring).

    Parameters
    ----------
    dim : int
        Size of the feature vectors.
    lr : float
        Adam's learning rate.
    l2 : float
        L2 penalty on the user and item sides per example.
    epochs : int
        Maximum number of epochs.
    batch_size : int
        (user, positive, negative) triples per step.
    id_dropout : float
        Probability of hiding the user id during training, so attributes learn to stand in for it.
    use_attributes : bool
        Use user and item attribute values as features.
    patience : int
        Epochs without a better validation recall@`eval_k` before training stops (the best epoch
        is kept either way). Pair-sampled training improves in small, noisy steps.
    eval_k : int
        Cut-off of the validation recall.
    seed : int
        Seed of the initial vectors and the sampling.
    """

    supports_attributes = True

    def __init__(
        self,
        dim: int = 64,
        lr: float = 5e-3,
        l2: float = 1e-5,
        epochs: int = 20,
        batch_size: int = 2048,
        id_dropout: float = 0.1,
        use_attributes: bool = True,
        patience: int = 5,
        eval_k: int = 50,
        seed: int = 0,
    ) -> None:
        self.dim = dim
        self.lr = lr
        self.l2 = l2
        self.epochs = epochs
        self.batch_size = batch_size
        self.id_dropout = id_dropout
        self.use_attributes = use_attributes
        self.patience = patience
        self.eval_k = eval_k
        self.seed = seed

    def fit(
        self, train: Dataset, validation: Dataset | None = None, *, options: TrainingOptions | None = None
    ) -> FactorizationMachine:
        if int(self.dim) < 1 or int(self.epochs) < 1 or not 0 <= self.id_dropout < 1:
            raise ParameterError("FM needs dim >= 1, epochs >= 1 and id_dropout in [0, 1)")
        self._remember(train, self.use_attributes)
        fs = self.feature_space_
        torch.manual_seed(self.seed)
        m = _FMModule(fs.n_users, fs.n_tokens, int(self.dim))
        items_side = self._item_features()

        def loss(batch: PairBatch) -> tuple[torch.Tensor, int]:
            u, i, j = batch
            keep = (torch.rand(len(u), 1) >= self.id_dropout).float()
            p = m.user(u) * keep + bag_sum(self.user_attributes_, u.numpy(), m.token.weight)
            items = torch.cat([i[:, None], j], dim=1).reshape(-1)
            q, prior = _item_terms(m, items_side, items.numpy())
            s = prior.view(len(u), -1) + torch.einsum("bd,bkd->bk", p, q.view(len(u), -1, q.shape[1]))
            reg = float(self.l2) * (p.pow(2).sum() + q.pow(2).sum()) / len(u)
            return -nn.functional.logsigmoid(s[:, :1] - s[:, 1:]).mean() + reg, len(u)

        @torch.no_grad()
        def export() -> None:
            q, prior = _item_terms(m, items_side, np.arange(fs.n_items))
            self.item_vectors_, self.item_bias_ = q.numpy(), prior.numpy()
            self.user_vectors_ = m.user.weight.detach().numpy().copy()
            self.token_vectors_ = m.token.weight.detach().numpy().copy()

        batches, per_epoch = pair_batches(self.train_matrix_, int(self.batch_size), 1)
        self._fit_module(
            m,
            batches=batches,
            loss=loss,
            validation=validation,
            options=options,
            batches_per_epoch=per_epoch,
            export=export,
        )
        return self

    def _item_features(self) -> sp.csr_matrix:
        n = self.feature_space_.n_items
        ids = sp.csr_matrix((np.ones(n, np.float32), np.arange(n), np.arange(n + 1)), shape=self.item_attributes_.shape)
        return sp.csr_matrix(ids + self.item_attributes_)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        users = np.asarray(users)
        p = np.asarray(self.user_attributes_[users] @ self.token_vectors_)
        known = np.asarray(self.train_matrix_[users].sum(axis=1)).ravel() > 0  # a cold user's id was never trained
        p[known] += self.user_vectors_[users[known]]
        return (p @ self.item_vectors_.T + self.item_bias_).astype(np.float32)

    def _score(self, profiles: sp.csr_matrix) -> np.ndarray:
        """A new profile: its user-attribute tokens, no id (history items are not FM features here)."""
        attrs = self.user_attribute_tokens(profiles)
        p = np.asarray(attrs @ self.token_vectors_) if self.uses_attributes else np.zeros((profiles.shape[0], self.dim))
        return (p @ self.item_vectors_.T + self.item_bias_).astype(np.float32)

    def _tensors(self) -> dict[str, np.ndarray]:
        names = ("item_vectors", "item_bias", "user_vectors", "token_vectors")
        return {name: getattr(self, f"{name}_") for name in names}

    def _restore_model(self, tensors: Mapping[str, np.ndarray], state: Mapping[str, Any]) -> None:
        for name in ("item_vectors", "item_bias", "user_vectors", "token_vectors"):
            setattr(self, f"{name}_", np.asarray(tensors[name], dtype=np.float32))


def _item_terms(m: _FMModule, items_side: sp.csr_matrix, items: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Item-side vectors q_i and the item-only terms (weights and pairwise interactions)."""
    q = bag_sum(items_side, items, m.token.weight)
    squares = bag_sum(items_side, items, m.token.weight.pow(2)).sum(dim=1)
    bias = bag_sum(items_side, items, m.weight.weight).squeeze(1)
    return q, bias + 0.5 * (q.pow(2).sum(dim=1) - squares)
