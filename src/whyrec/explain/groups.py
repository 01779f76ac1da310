"""The read-out of an attribution network as an explanation: one relevance per input group.

An attribution network (Afchar and Hennequin, RecSys 2020) names, for every prediction, the subset
of input groups that answers it (its α distribution). Spread evenly over each subset's groups, that
is a relevance per group that sums to 1, which charts, the service and insights read like any other
explainer's output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from whyrec.errors import ParameterError
from whyrec.explain.base import Explainer
from whyrec.explain.explanation import Explanations, NamedVocabulary
from whyrec.models.attribution_network import AttributionNetwork, GroupBatch


class ReadOut(Explainer):
    """The attribution network's own read-out (α shares per input group)."""

    name = "read_out"
    summary = "an attribution network's own read-out: which input groups answer each prediction"

    def supports(self, model: Any) -> bool:
        return isinstance(model, AttributionNetwork)

    def attribute(self, model: Any, bags: Any, targets: np.ndarray) -> Explanations:
        """`bags` are the network's inputs: a :class:`GroupBatch` or a dense matrix ``X``."""
        batch = bags if isinstance(bags, GroupBatch) else GroupBatch(np.asarray(bags) if bags is not None else None)
        if batch.X is None and not batch.ids:
            raise ParameterError("the read-out needs the network's inputs (a GroupBatch or a matrix X)")
        relevance = model.group_relevance(batch.X, ids=batch.ids)
        scores = model.predict_proba(batch.X, ids=batch.ids)
        n, names = len(scores), list(model.groups)
        vocabulary = NamedVocabulary(
            np.array([f"group:{g}" for g in names], dtype=object),
            np.array(["group"] * len(names), dtype=object),
            np.array(names, dtype=object),
            ["prediction"],
            ["the prediction"],
        )
        full = sp.csr_matrix(
            (
                relevance.astype(np.float32).ravel(),
                np.tile(np.arange(len(names)), n),
                np.arange(0, n * len(names) + 1, len(names)),
            ),
            shape=(n, len(names)),
        )  # every group appears in every row, even with zero relevance
        return Explanations(full, np.zeros(n, np.int64), scores.astype(np.float64), np.zeros(n), self.name, vocabulary)
