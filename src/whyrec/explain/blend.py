"""A blend's exact reasons: its members' exact reasons, weighted as the blend weighs their scores.

Member m's normalised score is z_mj = (s_mj - μ_m) / σ_m for the bag, and its exact method gives
s_mj = Σ_i r_mi + b_m. So the blend's score Σ_m w_m z_mj is Σ_i (Σ_m (w_m / σ_m) r_mi) plus the
baseline Σ_m (w_m / σ_m)(b_m - μ_m): relevances plus baseline are the blended score, exactly, and
a token that several members use gets one relevance, the sum of theirs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from whyrec.explain.base import EXACT_METHODS, Explainer, default_method, explain_pairs
from whyrec.explain.explanation import Explanations
from whyrec.models.blend import Blend


class BlendExplainer(Explainer):
    """The weighted sum of a blend's members' exact reasons (see the module docstring)."""

    name = "blend"
    summary = "each member's exact reasons, weighted as the blend weighs their scores"

    def supports(self, model: Any) -> bool:
        members = getattr(model, "members_", ())
        return isinstance(model, Blend) and all(default_method(m) in EXACT_METHODS for m in members)

    def attribute(self, model: Any, bags: Any, targets: np.ndarray) -> Explanations:
        bags = sp.csr_matrix(bags, dtype=np.float32)
        targets = np.asarray(targets, dtype=np.int64)
        rows = np.repeat(np.arange(bags.shape[0]), np.diff(bags.indptr))
        relevance = np.zeros(bags.nnz)
        scores, baselines = np.zeros(len(targets)), np.zeros(len(targets))
        normalised = model.member_scores(bags)
        for member, weight, (_, mean, spread) in zip(model.members_, model.weights_, normalised, strict=True):
            explained = explain_pairs(member, model.member_bags(member, bags), targets, method=default_method(member))
            scale = weight / spread
            member_relevance = sp.csr_matrix(explained.relevance)
            relevance += scale[rows] * np.asarray(member_relevance[rows, bags.indices]).ravel()
            baselines += scale * (explained.baselines - mean)
            scores += scale * (explained.scores - mean)
        matrix = sp.csr_matrix((relevance.astype(np.float32), bags.indices, bags.indptr), shape=bags.shape)
        return self._result(model, matrix, targets, scores, baselines)
