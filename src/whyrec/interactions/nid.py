"""Neural Interaction Detection (Tsang, Cheng and Liu, ICLR 2018) from MLP weights.

An MLP trained with L1 on its first layer models an interaction between inputs only where some
first-layer unit gives all of them large weights. With the unit importance
``z = |w_out|ᵀ |W_L| ... |W_2|`` (the influence of each first-layer unit on the output), the
strength of an interaction I is ``ω(I) = Σ_i z_i · min_{j ∈ I} |W_1[i, j]|`` (section 4.1).

- Pairwise ranking: ω of every pair of inputs.
- Higher order (Algorithm 1): every unit proposes its top-2, top-3, ... inputs as candidates and
  adds z_i times the smallest of their weights to that candidate's strength; candidates are then
  ranked, and a candidate that is a strict subset of a stronger kept interaction is redundant.

Every function takes a leading batch axis, so the weights of many surrogate MLPs (GLIDER fits
one per instance) are decoded in one vectorised pass.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from whyrec.errors import ParameterError
from whyrec.models.training import Objective, Trainer, adam


@dataclass(frozen=True)
class Interaction:
    """A set of input indices (sorted) and its strength."""

    inputs: tuple[int, ...]
    strength: float


def unit_importance(later: Sequence[np.ndarray]) -> np.ndarray:
    """z = |w_out|ᵀ |W_L| ... |W_2| for weights `later` = [W_2, ..., W_L, w_out], each (batch, out, in).

    Returns (batch, units of the first layer).
    """
    z = np.abs(later[-1])
    for w in reversed(later[:-1]):
        z = z @ np.abs(w)
    return z[:, 0, :]


def pairwise_strengths(first: np.ndarray, z: np.ndarray) -> np.ndarray:
    """ω(j, k) = Σ_i z_i min(|W1[i, j]|, |W1[i, k]|) for all pairs: (batch, inputs, inputs), zero diagonal."""
    a = np.abs(first)  # batch x units x inputs
    out = np.einsum("bi,bijk->bjk", z, np.minimum(a[:, :, :, None], a[:, :, None, :]))
    idx = np.arange(a.shape[2])
    out[:, idx, idx] = 0.0
    return out


def higher_order(first: np.ndarray, z: np.ndarray, max_order: int = 4) -> list[list[Interaction]]:
    """NID's Algorithm 1 per model: candidates of size 2..max_order, ranked, redundant subsets pruned."""
    if max_order < 2:
        raise ParameterError(f"max_order must be at least 2, got {max_order}")
    a = np.abs(first)
    batch, units, p = a.shape
    order = np.argsort(-a, axis=2, kind="stable")[:, :, :max_order]  # batch x units x k
    top = np.take_along_axis(a, order, axis=2)
    rankings = []
    bits = np.left_shift(np.int64(1), order.astype(np.int64)) if p <= 62 else None
    for b in range(batch):
        strengths: dict[tuple[int, ...], float] = {}
        if bits is not None:  # bitmasks of the nested candidates: vectorised accumulation
            masks = np.cumsum(bits[b], axis=1)[:, 1:]  # units x (k-1): top-2, top-3, ...
            weight = z[b][:, None] * top[b][:, 1:]
            keys, inverse = np.unique(masks.ravel(), return_inverse=True)
            sums = np.bincount(inverse, weights=weight.ravel(), minlength=len(keys))
            for key, value in zip(keys.tolist(), sums.tolist(), strict=True):
                strengths[tuple(j for j in range(p) if key >> j & 1)] = value
        else:
            for i in range(units):
                for s in range(2, order.shape[2] + 1):
                    key = tuple(sorted(order[b, i, :s].tolist()))
                    strengths[key] = strengths.get(key, 0.0) + float(z[b, i] * top[b, i, s - 1])
        ranked = sorted(strengths.items(), key=lambda kv: (-kv[1], kv[0]))
        rankings.append(prune_redundant([Interaction(k, v) for k, v in ranked]))
    return rankings


def prune_redundant(ranking: Sequence[Interaction]) -> list[Interaction]:
    """Drop every interaction that is a strict subset of a stronger interaction already kept."""
    kept: list[Interaction] = []
    supersets: list[frozenset[int]] = []
    for interaction in ranking:
        members = frozenset(interaction.inputs)
        if any(members < s for s in supersets):
            continue
        supersets = [s for s in supersets if not members > s] + [members]
        kept.append(interaction)
    return kept


class BatchedMLP(nn.Module):
    """`batch` independent MLPs evaluated together with batched matrix products (one per instance)."""

    def __init__(self, batch: int, width_in: int, hidden: Sequence[int]) -> None:
        super().__init__()
        widths = [width_in, *hidden, 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for w_in, w_out in itertools.pairwise(widths):
            bound = 1.0 / np.sqrt(w_in)
            self.weights.append(nn.Parameter(torch.empty(batch, w_out, w_in).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.zeros(batch, 1, w_out)))
        # a linear path per input, so that main effects need not pass through (and blur) the units
        self.linear = nn.Parameter(torch.zeros(batch, width_in, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: batch x samples x inputs -> batch x samples."""
        h = x
        last = len(self.weights) - 1
        for n, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w.transpose(1, 2))
            if n < last:
                h = torch.relu(h)
        return (h + x @ self.linear).squeeze(-1)

    def numpy_weights(self) -> list[np.ndarray]:
        return [w.detach().numpy() for w in self.weights]


def fit_batched_mlp(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    hidden: Sequence[int] = (64, 32, 16),
    l1: float = 1e-4,
    steps: int = 400,
    lr: float = 1e-2,
    seed: int = 0,
) -> BatchedMLP:
    """Fit one MLP per batch entry on (x[b], y[b]) by full-batch Adam on MSE + L1 of the first layer."""
    torch.manual_seed(seed)
    model = BatchedMLP(x.shape[0], x.shape[2], hidden)

    def loss(_: None) -> tuple[torch.Tensor, int]:
        return (model(x) - y).pow(2).mean(dim=1).sum() + l1 * model.weights[0].abs().sum(), 1

    # one epoch is one full-batch step; the shared trainer runs the loop
    Trainer(epochs=steps, seed=seed, name="NID surrogates").fit(
        Objective(model, [adam(model.parameters(), lr=lr)], batches=lambda epoch, rng: (None,), loss=loss)
    )
    return model


def decode(model: BatchedMLP, *, max_order: int = 4) -> tuple[np.ndarray, list[list[Interaction]]]:
    """Pairwise strengths (batch x p x p) and pruned higher-order rankings of fitted batched MLPs."""
    weights = model.numpy_weights()
    z = unit_importance(weights[1:])
    return pairwise_strengths(weights[0], z), higher_order(weights[0], z, max_order)
