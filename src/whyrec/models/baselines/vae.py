"""Mult-VAE (Liang et al., WWW 2018): a variational autoencoder over a user's item history.

Encoder: the L2-normalised history (dropout 0.5) -> tanh layer -> (μ, log σ²); decoder: z -> tanh
layer -> logits over items; loss: multinomial log-likelihood plus β·KL with β annealed linearly to
`beta` over `anneal_steps` updates. At scoring time z = μ. Any history can be scored without
retraining (fold-in); a user without history gets the decoder's answer for an empty input.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from whyrec.data.dataset import Dataset
from whyrec.errors import ParameterError
from whyrec.models.recommender import Recommender
from whyrec.models.training import TrainingOptions


class _VAE(nn.Module):
    def __init__(self, n_items: int, hidden: int, latent: int, dropout: float) -> None:
        super().__init__()
        self.encoder = nn.Linear(n_items, hidden)
        self.statistics = nn.Linear(hidden, 2 * latent)
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.Tanh(), nn.Linear(hidden, n_items))
        self.dropout = nn.Dropout(dropout)
        self.latent = latent

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = nn.functional.normalize(x, dim=1)
        h = torch.tanh(self.encoder(self.dropout(h)))
        mu, logvar = self.statistics(h).split(self.latent, dim=1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decoder(z), mu, logvar


class MultVAE(Recommender):
    """Variational autoencoder over item histories (see the module docstring).

    Parameters
    ----------
    hidden : int
        Width of the encoder's and decoder's tanh layer.
    latent : int
        Size of the latent code z.
    dropout : float
        Dropout on the normalised input history.
    beta : float
        Final weight of the KL term (annealed linearly from 0).
    anneal_steps : int
        Updates over which β grows to `beta`.
    lr : float
        Adam's learning rate.
    epochs : int
        Maximum number of epochs.
    batch_size : int
        Users per step.
    patience : int
        Epochs without a better validation recall@`eval_k` before training stops (the best epoch
        is kept either way). Mult-VAE first learns popularity and plateaus there for a few epochs.
    eval_k : int
        Cut-off of the validation recall.
    seed : int
        Seed of the initial weights, the shuffling and the noise.
    """

    def __init__(
        self,
        hidden: int = 600,
        latent: int = 200,
        dropout: float = 0.5,
        beta: float = 0.2,
        anneal_steps: int = 20000,
        lr: float = 1e-3,
        epochs: int = 100,
        batch_size: int = 500,
        patience: int = 10,
        eval_k: int = 50,
        seed: int = 0,
    ) -> None:
        self.hidden = hidden
        self.latent = latent
        self.dropout = dropout
        self.beta = beta
        self.anneal_steps = anneal_steps
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.eval_k = eval_k
        self.seed = seed

    def fit(
        self, train: Dataset, validation: Dataset | None = None, *, options: TrainingOptions | None = None
    ) -> MultVAE:
        if int(self.latent) < 1 or int(self.epochs) < 1 or not 0 <= float(self.dropout) < 1:
            raise ParameterError("MultVAE needs latent >= 1, epochs >= 1 and dropout in [0, 1)")
        self._remember(train, use_attributes=False)
        torch.manual_seed(int(self.seed))
        self.module_ = _VAE(self.feature_space_.n_items, int(self.hidden), int(self.latent), float(self.dropout))
        active = np.flatnonzero(np.diff(self.train_matrix_.indptr) > 0)
        size = int(self.batch_size)
        per_epoch = -(-len(active) // size)

        def batches(epoch: int, rng: np.random.Generator) -> Iterator[tuple[torch.Tensor, int]]:
            order = rng.permutation(active)
            for n, start in enumerate(range(0, len(order), size)):  # the step count drives the annealing
                yield (
                    torch.from_numpy(self.train_matrix_[order[start : start + size]].toarray()),
                    (epoch - 1) * per_epoch + n,
                )

        def loss(batch: tuple[torch.Tensor, int]) -> tuple[torch.Tensor, int]:
            x, step = batch
            logits, mu, logvar = self.module_(x)
            nll = -(nn.functional.log_softmax(logits, dim=1) * x).sum(dim=1).mean()
            kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()
            beta = min(float(self.beta), float(self.beta) * step / max(int(self.anneal_steps), 1))
            return nll + beta * kl, len(x)

        self._fit_module(
            self.module_,
            batches=batches,
            loss=loss,
            validation=validation,
            options=options,
            batches_per_epoch=per_epoch,
        )
        return self

    @torch.no_grad()
    def _score(self, profiles: sp.csr_matrix) -> np.ndarray:
        self.module_.eval()
        history = self.history(profiles)
        out = [
            self.module_(torch.from_numpy(history[s : s + 4096].toarray()))[0].numpy()
            for s in range(0, history.shape[0], 4096)
        ]
        return np.vstack(out).astype(np.float32)

    def _tensors(self) -> dict[str, np.ndarray]:
        return {k: v.detach().numpy() for k, v in self.module_.state_dict().items()}

    def _restore_model(self, tensors: Mapping[str, np.ndarray], state: Mapping[str, Any]) -> None:
        self.module_ = _VAE(self.feature_space_.n_items, int(self.hidden), int(self.latent), float(self.dropout))
        self.module_.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in tensors.items()})
        self.module_.eval()
