"""The field's counterfactual fidelity metrics for recommendation explanations.

Definitions follow LXR (Barkan et al., "Learning to Explain Recommendations", WWW 2024, public code
``DeltaLabTLV/LXR``) in the discrete form of SPINRec (Barkan et al., "Stochastic Path Integration
for Neural Recommender Explanations", AAAI 2026, ``DeltaLabTLV/SPINRec``, notebook
``metrics_discrete``). An explanation orders a user's history items by relevance to the target
item; for Ke = 1..K (K = 5 there):

- **POS@Kr,Ke**: remove the Ke most relevant history items; 1 when the target still ranks within
  the top Kr (lower is better: a faithful explanation named the items the recommendation needed);
- **NEG@Kr,Ke**: remove the Ke least relevant items instead; 1 when it stays (higher is better);
- **DEL@Ke**: the target's probability after removing the Ke most relevant items (lower is
  better);
- **INS@Ke**: the same with only those Ke items kept (higher is better);
- **CDCG@Ke**: 1 / log2(1 + rank) of the target after the POS removal (lower is better).

``DEL_relative`` and ``INS_relative`` divide each pair's probability by its probability for the
whole profile, so that models whose probabilities differ in scale can be compared.

Each is averaged over pairs; the summary of a metric is its mean over Ke = 1..K (the area under
its curve, as the papers report). Ranks leave out the original history, as in both papers' code.
The probability is the softmax over the catalogue for models trained with one (RecoNet, Mult-VAE)
and the raw score otherwise. whyrec's profiles keep the user's attribute tokens through removals
and insertions (the papers' models have none), and removing an item also removes the
item-attribute tokens no remaining item carries (:class:`~whyrec.explain.edits.ProfileEdits`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from whyrec.explain.edits import ProfileEdits
from whyrec.explain.explanation import Explanations
from whyrec.models.recommender import Recommender

CUTOFFS = (1, 5, 10, 20, 50, 100)
SOFTMAX_MODELS = ("RecoNet", "MultVAE")


def fidelity(
    model: Recommender,
    bags: sp.csr_matrix,
    explanations: Explanations,
    *,
    steps: int = 5,
    cutoffs: Sequence[int] = CUTOFFS,
) -> dict[str, Any]:
    """POS/NEG@Kr,Ke, DEL/INS@Ke and CDCG@Ke of `explanations` of (bag, target) pairs.

    Returns per-Ke means (lists of length `steps`) and their means over Ke (``*_auc``), with the
    number of pairs. Pairs whose history holds fewer items than a step use all they have.
    """
    bags = sp.csr_matrix(bags)
    curves: dict[str, list[np.ndarray]] = {}
    softmax = type(model).__name__ in SOFTMAX_MODELS
    for p in range(len(explanations)):
        e = explanations[p]
        edits = ProfileEdits(model, bags[p])
        target = int(e.item)
        relevance = e.relevance_by_token(edits.history)
        order = edits.history[np.argsort(-relevance, kind="stable")]
        ks = np.arange(1, steps + 1)
        masks = [edits.mask(order[:k]) for k in ks]  # POS / DEL: the k most relevant out
        masks += [edits.mask(order[::-1][:k]) for k in ks]  # NEG: the k least relevant out
        masks += [edits.mask(order[k:]) for k in ks]  # INS: only the k most relevant kept
        masks.append(edits.masks([[]]))
        scores = edits.removal_scores(np.vstack(masks))
        ranks = edits.ranks(scores, target)
        chance = _probability(scores, target, softmax)
        pos, neg = ranks[:steps], ranks[steps : 2 * steps]
        base = chance[-1] if chance[-1] != 0 else np.nan
        values = {
            "DEL": chance[:steps],
            "INS": chance[2 * steps : 3 * steps],
            "DEL_relative": chance[:steps] / base,
            "INS_relative": chance[2 * steps : 3 * steps] / base,
            "CDCG": 1.0 / np.log2(1.0 + pos),
            **{f"POS@{kr}": (pos <= kr).astype(float) for kr in cutoffs},
            **{f"NEG@{kr}": (neg <= kr).astype(float) for kr in cutoffs},
        }
        for name, value in values.items():
            curves.setdefault(name, []).append(value)
    out: dict[str, Any] = {"pairs": len(explanations), "steps": list(range(1, steps + 1))}
    for name, rows in curves.items():
        mean = np.nanmean(np.vstack(rows), axis=0)
        out[name] = mean.tolist()
        out[f"{name}_auc"] = float(np.mean(mean))
    return out


def _probability(scores: np.ndarray, target: int, softmax: bool) -> np.ndarray:
    if not softmax:
        return scores[:, target].astype(np.float64)
    shifted = scores.astype(np.float64) - scores.max(axis=1, keepdims=True)
    return np.exp(shifted[:, target]) / np.exp(shifted).sum(axis=1)
