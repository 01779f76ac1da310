"""Exact reasons of the item-based models: their scores are sums over the history, term by term.

- EASE (Steck 2019): score_j = Σ_{i∈history} B_ij, so item i's relevance is B_ij.
- Item kNN: score_j = Σ_{i∈history} S_ij with the (truncated) cosine similarities S.
- iALS fold-in (Hu, Koren and Volinsky 2008, section 5): a profile p is folded in as
  u = W (1 + α) Σ_{i∈p} y_i with W = (YᵀY + α Y_pᵀY_p + λI)⁻¹, so score_j = y_jᵀu =
  Σ_{i∈p} (1 + α) y_jᵀ W y_i, and item i's relevance is its term (what implicit's
  ``ALS.explain`` computes for a user).

Relevances sum to the score exactly (the baseline is 0), which `tests/test_explainers.py` checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from whyrec.explain.base import Explainer
from whyrec.explain.explanation import Explanations
from whyrec.models.baselines import ALS, EASE, ItemKNN


class Decomposition(Explainer):
    """Each history item's exact term of the score (see the module docstring)."""

    name = "decomposition"
    summary = "the exact term each history item adds to an EASE, item-kNN or iALS score"

    def supports(self, model: Any) -> bool:
        return isinstance(model, EASE | ItemKNN | ALS)

    def attribute(self, model: Any, bags: Any, targets: np.ndarray) -> Explanations:
        bags = sp.csr_matrix(bags, dtype=np.float32)
        targets = np.asarray(targets, dtype=np.int64)
        pair_of = np.repeat(np.arange(len(targets)), np.diff(bags.indptr))
        tokens = bags.indices.astype(np.int64)
        is_item = tokens < model.feature_space_.n_items
        data = np.zeros(bags.nnz, dtype=np.float64)
        if isinstance(model, ALS):
            data[is_item] = _als_terms(model, bags, targets)[is_item]
        else:
            weights = model.weights_ if isinstance(model, EASE) else model.similarity_
            items, wanted = tokens[is_item], targets[pair_of[is_item]]
            data[is_item] = np.asarray(weights[items, wanted]).ravel()
        scores = np.bincount(pair_of, weights=data, minlength=len(targets))
        relevance = sp.csr_matrix((data.astype(np.float32), bags.indices, bags.indptr), shape=bags.shape)
        return self._result(model, relevance, targets, scores, np.zeros(len(targets)))


def _als_terms(model: ALS, bags: sp.csr_matrix, targets: np.ndarray) -> np.ndarray:
    """(1 + α) y_jᵀ W_p y_i for every stored (profile p, token i); 0 for non-item tokens."""
    Y = model.item_factors_.astype(np.float64)
    base = Y.T @ Y + float(model.regularization) * np.eye(Y.shape[1])
    alpha = float(model.alpha)
    out = np.zeros(bags.nnz, dtype=np.float64)
    n_items = model.feature_space_.n_items
    for p, target in enumerate(targets):  # one small solve per profile, as the fold-in itself
        a, b = bags.indptr[p], bags.indptr[p + 1]
        tokens = bags.indices[a:b]
        items = tokens[tokens < n_items]
        if not len(items):
            continue
        Yp = Y[items]
        w_target = np.linalg.solve(base + alpha * Yp.T @ Yp, Y[target])  # W y_j (W is symmetric)
        terms = (1 + alpha) * (Yp @ w_target)
        out[a:b][tokens < n_items] = terms
    return out
