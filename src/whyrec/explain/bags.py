"""Bags as padded tensors, and the two ways a token can be switched off.

Explainers that perturb inputs see a bag as a presence vector m (one entry per token):

* **removal** (perturbation methods, deletion curves): the user vector is the mean of the tokens
  still present, x(m) = Σ m_k q_k / Σ m_k, exactly what the model computes for the smaller bag;
* **weighting** (gradient methods): x(m) = Σ m_k q_k / n with n the full bag size. It equals the
  model at m = 1, is linear in m, and reaches the empty bag (x = 0) at m = 0, which gives gradient
  methods a well-defined path; under removal the mean is constant along the straight path.

With ``pooling="by_kind"`` each token group (history side, user attributes) is pooled this way and
the groups' vectors are added (:meth:`~whyrec.models.reconet.RecoNetModule.presence_pooled`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from whyrec.models.reconet import RecoNetModule


@dataclass(frozen=True)
class PaddedBags:
    """A CSR batch of bags as (pairs x L) token indices and a validity mask."""

    tokens: torch.Tensor  # long, padded with 0
    valid: torch.Tensor  # float, 1 where a real token sits
    lengths: np.ndarray

    @classmethod
    def from_csr(cls, bags: sp.csr_matrix, device: torch.device | str = "cpu") -> PaddedBags:
        lengths = np.diff(bags.indptr)
        width = max(1, int(lengths.max()) if len(lengths) else 1)
        rows = np.repeat(np.arange(len(lengths)), lengths)
        cols = np.arange(bags.nnz) - np.repeat(bags.indptr[:-1], lengths)
        tokens = np.zeros((len(lengths), width), dtype=np.int64)
        valid = np.zeros((len(lengths), width), dtype=np.float32)
        tokens[rows, cols] = bags.indices
        valid[rows, cols] = 1.0
        return cls(torch.from_numpy(tokens).to(device), torch.from_numpy(valid).to(device), lengths)

    def to_csr(self, values: torch.Tensor | np.ndarray, n_tokens: int) -> sp.csr_matrix:
        """Per-position values (pairs x L) back to a CSR matrix aligned with the original bags."""
        values = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
        mask = self.valid.cpu().numpy() > 0
        indptr = np.concatenate([[0], np.cumsum(self.lengths)])
        return sp.csr_matrix(
            (values[mask].astype(np.float32), self.tokens.cpu().numpy()[mask], indptr),
            shape=(len(self.lengths), n_tokens),
        )


def is_torch_bag_model(model: Any) -> bool:
    """Whether `model` exposes a mean-pooled torch module (RecoNet and its relatives)."""
    return isinstance(getattr(model, "module_", None), RecoNetModule)


def bag_logits(
    module: Any,
    tokens: torch.Tensor,
    presence: torch.Tensor,
    valid: torch.Tensor,
    targets: torch.Tensor,
    *,
    removal: bool,
) -> torch.Tensor:
    """Target logits of bags whose tokens are switched by `presence` (see the module docstring)."""
    return module.target_logits(module.presence_pooled(tokens, presence, valid, removal), targets)


def removal_logits(model: Any, bags: sp.csr_matrix, targets: np.ndarray) -> np.ndarray:
    """Target logits of arbitrary bags (CSR), for any model that can score profiles."""
    return np.asarray(model.score_pairs(bags, np.asarray(targets, dtype=np.int64)), dtype=np.float64)


def empty_bag_logits(model: Any, targets: np.ndarray) -> np.ndarray:
    """f(∅): each target's logit for a bag with no token (the reference of removal methods)."""
    n_tokens = model.feature_space_.n_tokens
    empty = sp.csr_matrix((len(targets), n_tokens), dtype=np.float32)
    return removal_logits(model, empty, targets)
