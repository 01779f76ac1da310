"""ε-LRP for RecoNet (Fusco et al., section 4.3), batched over (profile, target item) pairs.

Step 1 propagates the target logit from the output to the pooling layer with the ε-rule
R_i = Σ_j z_ji / (z_j + ε sign(z_j)) R_j (for the linear model R_i = w_ji x_i exactly).
Step 2 redistributes R_i to the latent factors in proportion, Z_ik = q_ik / (Σ_p q_ip I_u(p)) R_i,
and step 3 sums over dimensions, Z_k = Σ_i Z_ik.

Because the pooled input is a mean, Σ_p q_ip I_u(p) = n x_i, and every relevance at the pooling
layer has the form R_i = x_i g_i (the ε-rule multiplies by the input activation). So
Z_k = q_k · g / n in closed form: no division by small x_i, and one dot product per token.
For the linear model g = w_j and Σ_k Z_k = w_j · x = logit - bias (exact conservation). With
hidden layers the relevances sum to the logit minus the share absorbed by biases and ε. With a mean
per token group (``pooling="by_kind"``) n is the size of the token's group, and all of this holds
group by group.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from whyrec.explain.bags import is_torch_bag_model
from whyrec.explain.base import Explainer
from whyrec.explain.explanation import Explanations
from whyrec.models.reconet import bag_tensors

# Above this many dense (pair, token) products per chunk the per-entry path is used instead.
_DENSE_CHUNK = 1 << 24
_DENSE_FACTOR = 200  # dense path while the vocabulary is at most this many times the mean bag


class LRP(Explainer):
    """ε-LRP relevance of every profile token to the target item's logit."""

    name = "lrp"
    summary = "ε-LRP (RecoNet's own explanation): exact and conservative for the linear model"

    def __init__(self, epsilon: float | None = None) -> None:
        self.epsilon = epsilon

    def supports(self, model: Any) -> bool:
        return is_torch_bag_model(model)

    @torch.no_grad()
    def attribute(self, model: Any, bags: sp.csr_matrix, targets: np.ndarray) -> Explanations:
        eps = model.lrp_epsilon if self.epsilon is None else self.epsilon
        module = model.module_
        device = module.embedding.weight.device
        bags = sp.csr_matrix(bags, dtype=np.float32)
        indices, offsets = bag_tensors(bags, device)
        target = torch.from_numpy(np.asarray(targets, dtype=np.int64)).to(device)

        x = module.pooled(indices, offsets)
        g, logits, bias = backward_vectors(module, x, target, eps)
        q = module.embedding.weight
        weight = module.pool_weights(torch.from_numpy(bags.indptr.astype(np.int64)).to(device), indices)
        data = sampled_dot(g, q, indices, np.diff(bags.indptr)) * weight  # Z_k = q_k · g / n
        relevance = sp.csr_matrix((data.cpu().numpy(), bags.indices, bags.indptr), shape=bags.shape)
        return self._result(model, relevance, targets, logits.cpu().numpy(), bias.cpu().numpy())


def backward_vectors(
    module: Any, x: torch.Tensor, target: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """g (pairs x d) with pooling-layer relevance R = x * g; the target logits and biases."""
    w_out, bias = module.output_layer(target)
    b_out = bias if bias is not None else torch.zeros_like(target, dtype=x.dtype)
    if not len(module.hidden):
        logits = (x * w_out).sum(dim=1) + b_out
        return w_out, logits, b_out
    activations = [x]
    pre = []
    for layer in module.hidden:
        z = layer(activations[-1])
        pre.append(z)
        activations.append(torch.relu(z))
    logits = (activations[-1] * w_out).sum(dim=1) + b_out
    # output layer: R_i = a_i w_ji z_j / (z_j + ε sign z_j), with R_j = z_j
    g = w_out * (logits / _stabilise(logits, eps))[:, None]
    for layer, z, a in zip(reversed(module.hidden), reversed(pre), reversed(activations[1:]), strict=True):
        relevance = a * g
        g = (relevance / _stabilise(z, eps)) @ layer.weight
    return g, logits, b_out


def _stabilise(z: torch.Tensor, eps: float) -> torch.Tensor:
    return z + eps * torch.where(z >= 0, 1.0, -1.0)


def sampled_dot(rows: torch.Tensor, q: torch.Tensor, indices: torch.Tensor, lengths: np.ndarray) -> torch.Tensor:
    """rows[p] · q[k] for every stored (p, k) of a CSR pattern (SDDMM), chunked to bound memory."""
    n_pairs, n_tokens = rows.shape[0], q.shape[0]
    row_of = torch.from_numpy(np.repeat(np.arange(n_pairs), lengths)).to(indices.device)
    out = torch.empty(len(indices), dtype=rows.dtype, device=rows.device)
    mean_len = max(1.0, float(lengths.mean()) if len(lengths) else 1.0)
    if n_tokens <= _DENSE_FACTOR * mean_len:
        # small vocabulary: a dense (pairs x tokens) product per chunk is BLAS-fast
        step = max(1, _DENSE_CHUNK // max(n_tokens, 1))
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        for start in range(0, n_pairs, step):
            stop = min(n_pairs, start + step)
            dense = rows[start:stop] @ q.T
            a, b = int(bounds[start]), int(bounds[stop])
            out[a:b] = dense[row_of[a:b] - start, indices[a:b]]
        return out
    step = max(1, _DENSE_CHUNK // max(q.shape[1], 1))
    for a in range(0, len(indices), step):
        b = min(len(indices), a + step)
        out[a:b] = (rows[row_of[a:b]] * q[indices[a:b]]).sum(dim=1)
    return out
