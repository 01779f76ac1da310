"""Removal-based attributions with exact fast paths: occlusion and Shapley values.

Occlusion: R_k = f(bag) - f(bag without k), the mean recomputed over the remaining tokens. For a
mean-pooled model, x_{-k} = (n x - q_k) / (n - 1), so every leave-one-out logit comes from one
vector operation, at any depth (with a mean per token group, the same holds for k's group).

Exact Shapley values of token removal for the linear mean-pooled RecoNet. With a_k = w_j · q_k the
game is v(S) = b + (1/|S|) Σ_{k∈S} a_k (v(∅) = b: the empty bag pools to 0). Shapley values are
linear in the game, so decompose v - b = Σ_k a_k u_k with u_k(S) = [k ∈ S] / |S|:

* i's marginal contribution to u_i from any S of size s (i ∉ S) is 1/(s+1); averaging over sizes,
  φ_i(u_i) = (1/n) Σ_{s=0}^{n-1} 1/(s+1) = H_n / n (H_n the n-th harmonic number);
* efficiency gives Σ_i φ_i(u_k) = u_k(N) = 1/n, and the other n-1 players are symmetric, so
  φ_i(u_k) = (1/n - H_n/n) / (n - 1) for i ≠ k.

Hence φ_i = a_i H_n / n + (A - a_i)(1 - H_n) / (n (n - 1)) with A = Σ_k a_k, in O(n) per pair,
and Σ_i φ_i = A / n = logit - b. With a mean per token group (``pooling="by_kind"``) the game is
the sum of the groups' games, in each of which the other groups' tokens are null players, so the
same formula holds with n and A taken over the token's own group. Deeper models use sampled
Shapley values (captum).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from whyrec.explain.bags import empty_bag_logits, is_torch_bag_model, removal_logits
from whyrec.explain.base import Explainer
from whyrec.explain.explanation import Explanations
from whyrec.explain.lrp import sampled_dot
from whyrec.models.reconet import bag_tensors

_ENTRY_CHUNK = 1 << 18


class Occlusion(Explainer):
    """Relevance of a token = score drop when it alone is removed (the mean recomputed)."""

    name = "occlusion"
    summary = "score drop when one token alone is removed; exact re-scoring for any model"

    @torch.no_grad()
    def attribute(self, model: Any, bags: sp.csr_matrix, targets: np.ndarray) -> Explanations:
        bags = sp.csr_matrix(bags, dtype=np.float32)
        full = removal_logits(model, bags, targets)
        lengths = np.diff(bags.indptr)
        pair_of = np.repeat(np.arange(len(targets)), lengths)
        if is_torch_bag_model(model):
            dropped = _leave_one_out_torch(model, bags, targets, pair_of)
        else:
            dropped = removal_logits(model, leave_one_out_bags(bags), targets[pair_of])
        relevance = sp.csr_matrix((full[pair_of] - dropped, bags.indices, bags.indptr), shape=bags.shape)
        return self._result(model, relevance, targets, full, empty_bag_logits(model, targets))


def _leave_one_out_torch(model: Any, bags: sp.csr_matrix, targets: np.ndarray, pair_of: np.ndarray) -> np.ndarray:
    module = model.module_
    q = module.embedding.weight
    indices, offsets = bag_tensors(bags)
    pooled = module.pooled(indices, offsets)
    # the mean of each token's group (the whole bag under the paper's pooling) and the group's size
    key, n_keys = module.pool_groups(torch.from_numpy(bags.indptr.astype(np.int64)), indices)
    sizes = torch.bincount(key, minlength=n_keys).to(q.dtype)
    means = torch.zeros(n_keys, q.shape[1], dtype=q.dtype).index_add_(0, key, q[indices]) / sizes.clamp_min(1)[:, None]
    out = np.empty(bags.nnz, dtype=np.float64)
    for a in range(0, bags.nnz, _ENTRY_CHUNK):
        b = min(bags.nnz, a + _ENTRY_CHUNK)
        rows = torch.from_numpy(pair_of[a:b])
        group, count = key[a:b], sizes[key[a:b]].unsqueeze(1)
        without = (means[group] * count - q[indices[a:b]]) / torch.clamp(count - 1, min=1)
        without = torch.where(count > 1, without, torch.zeros_like(without))  # a lone token: its group empties
        remaining = pooled[rows] - means[group] + without
        out[a:b] = module.target_logits(remaining, torch.from_numpy(targets[pair_of[a:b]])).numpy()
    return out


def leave_one_out_bags(bags: sp.csr_matrix) -> sp.csr_matrix:
    """One bag per stored entry of `bags`: its own bag without that entry (entry order kept)."""
    lengths = np.diff(bags.indptr)
    pair_of = np.repeat(np.arange(len(lengths)), lengths)  # the bag of each stored entry
    # the copy for entry e holds every entry of its bag but e: gather them by offset within the bag
    copies = lengths[pair_of]  # n_e entries in the bag of entry e
    start = bags.indptr[pair_of]
    counts = np.maximum(copies - 1, 0)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    owner = np.repeat(np.arange(bags.nnz), counts)  # the dropped entry of each output slot
    slot = np.arange(int(indptr[-1])) - np.repeat(indptr[:-1], counts)  # 0..n-2 within the copy
    dropped = owner - start[owner]  # position of the dropped entry within its bag
    source = start[owner] + slot + (slot >= dropped)  # skip over the dropped entry
    indices = bags.indices[source] if len(source) else np.zeros(0, bags.indices.dtype)
    return sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(bags.nnz, bags.shape[1]))


class Shapley(Explainer):
    """Shapley values of token removal: exact closed form for linear RecoNet, sampled otherwise."""

    name = "shapley"
    summary = "Shapley values of token removal: exact closed form for linear RecoNet, sampled otherwise"

    def __init__(self, n_samples: int = 64, seed: int = 0) -> None:
        self.n_samples = n_samples
        self.seed = seed

    @torch.no_grad()
    def attribute(self, model: Any, bags: sp.csr_matrix, targets: np.ndarray) -> Explanations:
        if is_torch_bag_model(model) and not len(model.module_.hidden):
            return exact_linear_shapley(self, model, bags, targets)
        from whyrec.explain.captum_methods import ShapleySampling  # captum loads on first use only

        result = ShapleySampling(n_samples=self.n_samples, seed=self.seed).attribute(model, bags, targets)
        return self._result(model, result.relevance, result.targets, result.scores, result.baselines)


def exact_linear_shapley(explainer: Explainer, model: Any, bags: sp.csr_matrix, targets: np.ndarray) -> Explanations:
    """The closed form of the module docstring, batched over pairs."""
    bags = sp.csr_matrix(bags, dtype=np.float32)
    module = model.module_
    lengths = np.diff(bags.indptr)
    target = torch.from_numpy(np.asarray(targets, dtype=np.int64))
    tokens = torch.from_numpy(bags.indices.astype(np.int64))
    rows, bias_rows = module.output_layer(target)
    a = sampled_dot(rows, module.embedding.weight, tokens, lengths).double().numpy()
    pair_of = np.repeat(np.arange(len(targets)), lengths)
    # per group (the whole bag under the paper's pooling): the game is a sum of the groups' games,
    # and a player is null in every group but its own, so the closed form holds group by group
    key_t, n_keys = module.pool_groups(torch.from_numpy(bags.indptr.astype(np.int64)), tokens)
    key = key_t.numpy()
    group_total = np.bincount(key, weights=a, minlength=n_keys)
    sizes = np.bincount(key, minlength=n_keys)
    n = sizes[key].astype(np.float64)
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, int(sizes.max(initial=0)) + 1))])
    h = harmonic[sizes[key]]
    phi = a * h / np.maximum(n, 1) + (group_total[key] - a) * np.where(n > 1, (1 - h) / np.maximum(n * (n - 1), 1), 0)
    relevance = sp.csr_matrix((phi.astype(np.float32), bags.indices, bags.indptr), shape=bags.shape)
    bias = bias_rows.double().numpy() if bias_rows is not None else np.zeros(len(targets))
    pooled_logit = np.bincount(pair_of, weights=a / np.maximum(n, 1), minlength=len(targets))  # w · x
    return explainer._result(model, relevance, targets, bias + pooled_logit, bias)
