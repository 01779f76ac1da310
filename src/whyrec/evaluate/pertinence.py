"""Are explanations right? Deletion and insertion curves, significance, agreement between methods.

Deletion (RecoNet, Figure 6): remove a pair's k most relevant tokens (the mean recomputed over the
rest) and record Δŷ_c = f_c(x | top-k removed) - f_c(x), for k = 1..K; random orders give the
reference. Insertion: start from the empty bag and add the top-k tokens, Δ = f(top k) - f(∅).
Significance (Figure 7): Mann–Whitney U of Δŷ for "top 1" against "random 1". Agreement (Figure 8):
Kendall τ between two methods' relevances of the same tokens, and the overlap of their top 5.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy import stats

from whyrec.explain.bags import removal_logits
from whyrec.explain.explanation import Explanations


@dataclass(frozen=True)
class Curve:
    """Per-pair Δ for k = 1..K (NaN where a bag has too few tokens), with summaries."""

    ks: np.ndarray
    deltas: np.ndarray  # pairs x K

    @property
    def mean(self) -> np.ndarray:
        with warnings.catch_warnings():  # a k that no bag reaches is NaN, not a warning
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(self.deltas, axis=0)

    @property
    def ci95(self) -> np.ndarray:
        """Half-width of the 95% confidence interval of the mean (t distribution), per k."""
        count = np.sum(~np.isnan(self.deltas), axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sem = np.nanstd(self.deltas, axis=0, ddof=1) / np.sqrt(np.maximum(count, 1))
        return stats.t.ppf(0.975, np.maximum(count - 1, 1)) * sem

    @property
    def area(self) -> float:
        """Mean of the mean curve over k (area under the curve per unit k)."""
        mean = self.mean
        return float(np.mean(mean[~np.isnan(mean)])) if (~np.isnan(mean)).any() else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.ks.tolist(), "mean": self.mean.tolist(), "ci95": self.ci95.tolist(), "area": self.area}


def token_orders(explanations: Explanations) -> list[np.ndarray]:
    """Each pair's tokens from most to least relevant."""
    return [e.tokens for e in explanations]


def random_orders(bags: sp.csr_matrix, rng: np.random.Generator) -> list[np.ndarray]:
    """Each pair's tokens in a random order (the reference ranking)."""
    return [rng.permutation(bags.indices[bags.indptr[p] : bags.indptr[p + 1]]) for p in range(bags.shape[0])]


def deletion_curve(
    model: Any, bags: sp.csr_matrix, targets: np.ndarray, orders: list[np.ndarray], max_k: int = 50
) -> Curve:
    """Δŷ after removing the first k tokens of each order, k = 1..max_k (see the module docstring)."""
    return _curve(model, bags, targets, orders, max_k, insertion=False)


def insertion_curve(
    model: Any, bags: sp.csr_matrix, targets: np.ndarray, orders: list[np.ndarray], max_k: int = 50
) -> Curve:
    """f(first k tokens only) - f(∅), k = 1..max_k."""
    return _curve(model, bags, targets, orders, max_k, insertion=True)


def _curve(
    model: Any, bags: sp.csr_matrix, targets: np.ndarray, orders: list[np.ndarray], max_k: int, insertion: bool
) -> Curve:
    n_tokens = bags.shape[1]
    ks = np.arange(1, max_k + 1)
    rows, lengths, owner, step = [], [], [], []
    for p, order in enumerate(orders):
        usable = min(max_k, len(order) - (0 if insertion else 1))  # deletion keeps at least one token
        for k in range(1, usable + 1):
            kept = order[:k] if insertion else order[k:]
            rows.append(kept)
            lengths.append(len(kept))
            owner.append(p)
            step.append(k - 1)
    indices = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    indptr = np.concatenate([[0], np.cumsum(lengths)]) if lengths else np.zeros(1, np.int64)
    perturbed = sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(len(lengths), n_tokens))
    owner_arr, step_arr = np.asarray(owner, dtype=np.int64), np.asarray(step, dtype=np.int64)
    values = removal_logits(model, perturbed, np.asarray(targets)[owner_arr])
    if insertion:
        reference = removal_logits(model, sp.csr_matrix((len(targets), n_tokens), dtype=np.float32), targets)
    else:
        reference = removal_logits(model, bags, targets)
    deltas = np.full((len(orders), max_k), np.nan)
    deltas[owner_arr, step_arr] = values - reference[owner_arr]
    return Curve(ks, deltas)


def top1_significance(deletion: Curve, random: Curve) -> dict[str, float]:
    """Mann–Whitney U: is Δŷ after removing the top-1 token lower than after removing a random one?"""
    top = deletion.deltas[:, 0][~np.isnan(deletion.deltas[:, 0])]
    rand = random.deltas[:, 0][~np.isnan(random.deltas[:, 0])]
    test = stats.mannwhitneyu(top, rand, alternative="less")
    return {
        "u": float(test.statistic),
        "p_value": float(test.pvalue),
        "median_top1": float(np.median(top)),
        "median_random1": float(np.median(rand)),
        "n": len(top),
    }


def agreement(a: Explanations, b: Explanations, *, top: int = 5) -> dict[str, float]:
    """Mean Kendall τ of two methods' relevances over each pair's tokens, and mean top-`top` overlap."""
    taus, overlaps = [], []
    for p in range(len(a)):
        start, end = a.relevance.indptr[p], a.relevance.indptr[p + 1]
        if end - start < 2:
            continue
        ra = a.relevance.data[start:end]
        rb = b.relevance[p].toarray().ravel()[a.relevance.indices[start:end]]
        tau = stats.kendalltau(ra, rb).statistic
        if not np.isnan(tau):
            taus.append(tau)
        n = min(top, end - start)
        overlaps.append(len(set(a[p].tokens[:n]) & set(b[p].tokens[:n])) / n)
    return {
        "kendall_tau": float(np.mean(taus)) if taus else float("nan"),
        f"top{top}_overlap": float(np.mean(overlaps)),
    }
