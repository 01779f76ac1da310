"""Sampled softmax with the logQ correction, for catalogues too large for a full softmax.

Each step draws `n` negatives from a proposal Q shared by the batch and trains the softmax over
{label} ∪ negatives with every logit corrected by -log(n·Q(j)) (Jean et al., ACL 2015; Yi et al.,
RecSys 2019), which makes the sampled loss an estimate of the full one. Negatives that hit a row's
label are masked. Proposals: "log_uniform" (Zipf over items ranked by training popularity,
P(r) = log((r+2)/(r+1)) / log(n_items+1), as in TensorFlow's candidate sampler) and "popularity"
(training counts to the power 0.75, as word2vec). Evaluation still scores the full catalogue.
"""

from __future__ import annotations

import numpy as np
import torch

PROPOSALS = ("log_uniform", "popularity")


def proposal(counts: np.ndarray, kind: str) -> np.ndarray:
    """Q over items (sums to 1) from training interaction counts per item."""
    counts = np.asarray(counts, dtype=np.float64)
    if kind == "popularity":
        q = (counts + 1.0) ** 0.75  # +1: items unseen in training stay reachable
    elif kind == "log_uniform":
        ranks = np.empty(len(counts), dtype=np.float64)
        ranks[np.argsort(-counts, kind="stable")] = np.arange(len(counts))
        q = np.log((ranks + 2.0) / (ranks + 1.0))
    else:
        raise ValueError(kind)
    return q / q.sum()


class NegativeSampler:
    """Draws shared negatives from Q by inverse CDF (searchsorted; O(n log m) per draw)."""

    def __init__(self, q: np.ndarray, n: int) -> None:
        self.n = n
        self.cdf = torch.from_numpy(np.cumsum(q)).to(torch.float64)
        self.log_q = torch.from_numpy(np.log(q)).to(torch.float32)

    def draw(self, generator: torch.Generator) -> torch.Tensor:
        u = torch.rand(self.n, generator=generator, dtype=torch.float64) * self.cdf[-1]
        return torch.searchsorted(self.cdf, u).clamp_max(len(self.cdf) - 1)

    def loss(
        self,
        features: torch.Tensor,
        rows: torch.Tensor,
        bias: torch.Tensor | None,
        labels: torch.Tensor,
        negatives: torch.Tensor,
    ) -> torch.Tensor:
        """Mean sampled cross-entropy of `labels` given the last hidden `features` (batch x d).

        `rows` and `bias` are the output vectors and biases of the candidates, the labels followed
        by the negatives (``torch.cat([labels, negatives])``): only those rows are computed.
        """
        device = features.device
        negatives = negatives.to(device)
        n = len(labels)
        log_q = self.log_q.to(device) + float(np.log(self.n))
        shift_pos, shift_neg = -log_q[labels], -log_q[negatives]
        if bias is not None:
            shift_pos, shift_neg = shift_pos + bias[:n], shift_neg + bias[n:]
        positive = (features * rows[:n]).sum(dim=1) + shift_pos
        negative = torch.addmm(shift_neg.unsqueeze(0), features, rows[n:].T)  # one pass over batch x n
        negative = negative.masked_fill(negatives.unsqueeze(0) == labels.unsqueeze(1), float("-inf"))  # hits
        return (torch.logaddexp(positive, torch.logsumexp(negative, dim=1)) - positive).mean()
