"""Exact reasons of the item-based models: their scores are sums over the history, term by term.

- EASE (Steck 2019): score_j = Σ_{i∈history} B_ij, so item i's relevance is B_ij.
- Item kNN and RP3beta: score_j = Σ_{i∈history} S_ij with their (truncated) item-item matrix S.
- iALS fold-in (Hu, Koren and Volinsky 2008, section 5): a profile p is folded in as
  u = W c Σ_{i∈p} y_i with W = (YᵀY + (c - 1) Y_pᵀY_p + λI)⁻¹ and implicit's confidence c = α,
  so score_j = y_jᵀu = Σ_{i∈p} c y_jᵀ W y_i, and item i's relevance is its term (what implicit's
  ``ALS.explain`` computes for a user); :meth:`whyrec.models.ALS.history_terms` computes it with
  the Woodbury identity, as the score itself is computed.

Relevances sum to the score exactly (the baseline is 0), which `tests/test_explainers.py` checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from whyrec.explain.base import Explainer
from whyrec.explain.explanation import Explanations
from whyrec.models.baselines import ALS, EASE
from whyrec.models.baselines.neighbours import ItemItem


class Decomposition(Explainer):
    """Each history item's exact term of the score (see the module docstring)."""

    name = "decomposition"
    summary = "the exact term each history item adds to an EASE, item-kNN, RP3beta or iALS score"

    def supports(self, model: Any) -> bool:
        return isinstance(model, EASE | ItemItem | ALS)

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
    """c y_jᵀ W_p y_i for every stored (profile p, token i); 0 for non-item tokens. Pairs that share
    a history share its solve."""
    out = np.zeros(bags.nnz, dtype=np.float64)
    n_items = model.feature_space_.n_items
    by_history: dict[bytes, list[int]] = {}
    for p in range(len(targets)):
        tokens = bags.indices[bags.indptr[p] : bags.indptr[p + 1]]
        by_history.setdefault(tokens[tokens < n_items].tobytes(), []).append(p)
    for pairs in by_history.values():
        a, b = bags.indptr[pairs[0]], bags.indptr[pairs[0] + 1]
        is_item = bags.indices[a:b] < n_items
        if not is_item.any():
            continue
        terms = model.history_terms(bags.indices[a:b][is_item], targets[pairs])  # h x pairs
        for column, p in enumerate(pairs):
            start = bags.indptr[p]
            row = out[start : bags.indptr[p + 1]]
            row[bags.indices[start : bags.indptr[p + 1]] < n_items] = terms[:, column]
    return out
