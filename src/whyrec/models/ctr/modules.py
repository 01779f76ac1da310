"""CTR architectures as PyTorch modules over an ``n x n_fields`` matrix of token indices.

Every module embeds all fields with one table whose last row is the reserved "absent" token: a
frozen zero embedding and a zero linear weight, so switching a field off removes its contribution
(GLIDER's perturbations rely on this). Each returns one click logit per row.

- ``lr``: logistic regression, b + Σ w_t.
- ``fm``: factorisation machine (Rendle 2010), LR + Σ_{i<j} <e_i, e_j>.
- ``wide_deep``: Wide & Deep (Cheng et al. 2016), LR + MLP(concat e).
- ``deepfm``: DeepFM (Guo et al. 2017), FM + MLP(concat e) on shared embeddings.
- ``dcn``: Deep & Cross (Wang et al. 2017), cross layers x_{l+1} = x_0 (w_lᵀ x_l) + b_l + x_l beside
  an MLP, then a linear read-out of both.
- ``autoint``: AutoInt (Song et al. 2019), multi-head self-attention over field embeddings with
  residual connections, then a linear read-out.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from whyrec.choices import CTR_ARCHITECTURES


def mlp(width_in: int, hidden: Sequence[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(width_in, width), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width_in = width
    return nn.Sequential(*layers)


class FieldInputs(nn.Module):
    """Embeddings and first-order weights of tokens; index -1 (absent) reads as zeros."""

    def __init__(self, n_tokens: int, dim: int) -> None:
        super().__init__()
        self.n_tokens = n_tokens
        self.embedding = nn.Embedding(n_tokens + 1, dim, padding_idx=n_tokens)
        self.weight = nn.Embedding(n_tokens + 1, 1, padding_idx=n_tokens)
        self.bias = nn.Parameter(torch.zeros(1))
        nn.init.normal_(self.embedding.weight, std=0.01)
        nn.init.zeros_(self.weight.weight)
        with torch.no_grad():
            self.embedding.weight[n_tokens].zero_()

    def index(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.where(tokens < 0, self.n_tokens, tokens)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n x fields x dim embeddings, n first-order logits b + Σ w)."""
        index = self.index(tokens)
        return self.embedding(index), self.weight(index).squeeze(-1).sum(dim=1) + self.bias


def fm_term(e: torch.Tensor) -> torch.Tensor:
    """Σ_{i<j} <e_i, e_j> in O(fields x dim): ((Σ e)² - Σ e²) / 2."""
    return 0.5 * (e.sum(dim=1).pow(2) - e.pow(2).sum(dim=1)).sum(dim=1)


class CTRNet(nn.Module):
    """One module for all six architectures; `architecture` picks the terms."""

    def __init__(
        self,
        architecture: str,
        n_tokens: int,
        n_fields: int,
        dim: int,
        hidden: Sequence[int],
        dropout: float,
        cross_layers: int,
        attention_layers: int,
        heads: int,
    ) -> None:
        super().__init__()
        self.architecture = architecture
        self.inputs = FieldInputs(n_tokens, dim)
        flat = n_fields * dim
        if architecture in ("wide_deep", "deepfm", "dcn"):
            self.deep = mlp(flat, hidden, dropout)
            deep_out = hidden[-1] if hidden else flat
        if architecture in ("wide_deep", "deepfm"):
            self.deep_head = nn.Linear(deep_out, 1)
        if architecture == "dcn":
            self.cross_w = nn.Parameter(torch.randn(cross_layers, flat) * 0.01)
            self.cross_b = nn.Parameter(torch.zeros(cross_layers, flat))
            self.head = nn.Linear(flat + deep_out, 1)
        if architecture == "autoint":
            self.attention = nn.ModuleList(
                nn.MultiheadAttention(dim, heads, batch_first=True) for _ in range(attention_layers)
            )
            self.residual = nn.ModuleList(nn.Linear(dim, dim, bias=False) for _ in range(attention_layers))
            self.head = nn.Linear(flat, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        e, linear = self.inputs(tokens)
        kind = self.architecture
        if kind == "lr":
            return linear
        if kind == "fm":
            return linear + fm_term(e)
        if kind == "wide_deep":
            return linear + self.deep_head(self.deep(e.flatten(1))).squeeze(-1)
        if kind == "deepfm":
            return linear + fm_term(e) + self.deep_head(self.deep(e.flatten(1))).squeeze(-1)
        if kind == "dcn":
            x0 = x = e.flatten(1)
            for w, b in zip(self.cross_w, self.cross_b, strict=True):
                x = x0 * (x @ w).unsqueeze(-1) + b + x
            return self.head(torch.cat([x, self.deep(x0)], dim=1)).squeeze(-1)
        h = e
        for attention, residual in zip(self.attention, self.residual, strict=True):
            h = torch.relu(attention(h, h, h, need_weights=False)[0] + residual(h))
        return self.head(h.flatten(1)).squeeze(-1)


ARCHITECTURES = CTR_ARCHITECTURES
