"""Do explanations make sense to a person? Agreement of the reasons with evidence outside the model.

Fidelity (:mod:`whyrec.evaluate.fidelity`) asks whether the reasons drive the model's score;
plausibility asks whether a person would accept them. Both are needed: the exact reasons of a
model that leans on rare, unrelated items are faithful and still read as noise. Following the
practice of judging attributions against independent evidence (feature-importance practice,
"triangulate"), each measure here compares a pair's top history reasons with a fixed reference:

- :func:`neighbour_agreement`: the share of the top reasons among the target's strongest
  co-occurrence neighbours in the training data (:func:`cooccurrence_neighbours`: cosine of the
  items' binary user columns, an association that no model learnt);
- :func:`shared_attribute`: the share of the top reasons that share an attribute value (a genre)
  with the target;
- :func:`group_hits`: for targets in a group (a film series) whose history holds another member,
  whether a member is among the top reasons;
- :func:`reason_popularity`, a diagnostic: how popular the top reasons are beside the history.

Each returns the measure beside its chance level: what the same number of history items drawn at
random would score, so that profiles rich in neighbours do not pass for plausible reasons, and
beside its standard error over pairs. Two models are compared on the pairs they share with
:func:`paired_difference`, which the per-pair values (``per_pair=True``) feed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import comb

from whyrec.errors import ParameterError
from whyrec.explain.explanation import Explanations

# items a block of the co-occurrence product covers (a block is block x items dense floats)
_BLOCK = 1024


def cooccurrence_neighbours(interactions: sp.spmatrix, k: int = 20) -> np.ndarray:
    """Each item's `k` strongest co-occurrence neighbours (items x k, best first; -1 where it has fewer).

    The association is the cosine of the items' binary user columns, |U_i ∩ U_j| / sqrt(|U_i| |U_j|),
    the item-item similarity of item kNN (Sarwar et al., 2001) computed once from the training data.
    Pairs that never co-occur are not neighbours.
    """
    if k < 1:
        raise ParameterError(f"k must be at least 1, got {k}")
    binary = sp.csc_matrix(interactions, dtype=np.float32, copy=True)
    binary.data[:] = 1.0
    counts = np.asarray(binary.sum(axis=0)).ravel()
    norms = np.sqrt(np.maximum(counts, 1.0))
    cross = (binary.T @ binary).tocsr()
    n = binary.shape[1]
    out = np.full((n, min(k, max(n - 1, 1))), -1, dtype=np.int64)
    for start in range(0, n, _BLOCK):
        block = cross[start : start + _BLOCK].toarray()
        block /= norms[start : start + _BLOCK, None] * norms[None, :]
        rows = np.arange(len(block))
        block[rows, start + rows] = 0.0  # an item is not its own neighbour
        top = np.argsort(-block, axis=1, kind="stable")[:, : out.shape[1]]
        out[start : start + len(block)] = np.where(np.take_along_axis(block, top, axis=1) > 0, top, -1)
    return out


def top_history(
    explanations: Explanations, bags: sp.spmatrix, n_items: int, top: int = 3
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each pair's `top` history items by relevance (largest first), and its history.

    Returns a list of (top items, history items) per pair; only history items count, as a person
    reads "because you watched ...".
    """
    bags = sp.csr_matrix(bags)
    if bags.shape[0] != len(explanations):
        raise ParameterError(f"{bags.shape[0]} bags for {len(explanations)} explanations")
    out = []
    for p in range(len(explanations)):
        row = bags.indices[bags.indptr[p] : bags.indptr[p + 1]]
        history = np.unique(row[row < n_items])
        relevance = explanations[p].relevance_by_token(history)
        out.append((history[np.argsort(-relevance, kind="stable")[:top]], history))
    return out


def neighbour_agreement(
    explanations: Explanations, bags: sp.spmatrix, neighbours: np.ndarray, *, top: int = 3, per_pair: bool = False
) -> dict[str, Any]:
    """Share of the top history reasons among the target's co-occurrence neighbours, and chance.

    With `per_pair`, ``values`` holds every pair's share (NaN where its history is empty)."""
    n_items = neighbours.shape[0]
    values = np.full(len(explanations), np.nan)
    chances = []
    for p, (best, history) in enumerate(top_history(explanations, bags, n_items, top)):
        if not len(best):
            continue
        near = neighbours[int(explanations.targets[p])]
        values[p] = np.isin(best, near).mean()
        chances.append(np.isin(history, near).mean())
    return _summary(values, chances, per_pair)


def shared_attribute(
    explanations: Explanations, bags: sp.spmatrix, item_attributes: sp.spmatrix, *, top: int = 3
) -> dict[str, Any]:
    """Share of the top history reasons that share an attribute value with the target, and chance.

    `item_attributes` is items x values (a genre matrix, say); items without values never share.
    """
    values = sp.csr_matrix(item_attributes, dtype=np.float32)
    shares, chances = [], []
    for p, (best, history) in enumerate(top_history(explanations, bags, values.shape[0], top)):
        if not len(best):
            continue
        common = np.asarray((values[history] @ values[int(explanations.targets[p])].T).todense()).ravel() > 0
        shares.append(common[np.searchsorted(history, best)].mean())
        chances.append(common.mean())
    return _summary(np.asarray(shares, dtype=np.float64), chances)


def group_hits(
    explanations: Explanations, bags: sp.spmatrix, group: np.ndarray, *, top: int = 3, per_pair: bool = False
) -> dict[str, Any]:
    """Whether a member of the target's group is among its top history reasons, and chance.

    `group` gives every item's group (-1: none). Pairs whose target has no group, or whose history
    holds no other member, are not asked and not counted (NaN in ``values``, with `per_pair`).
    Chance is the probability that `top` history items drawn at random hold a member.
    """
    group = np.asarray(group)
    values = np.full(len(explanations), np.nan)
    chances = []
    for p, (best, history) in enumerate(top_history(explanations, bags, len(group), top)):
        mine = group[int(explanations.targets[p])]
        members = int(np.sum(group[history] == mine)) if mine >= 0 else 0
        if members == 0:
            continue
        values[p] = float(np.any(group[best] == mine))
        drawn = min(top, len(history))
        chances.append(1.0 - comb(len(history) - members, drawn) / comb(len(history), drawn))
    return _summary(values, chances, per_pair)


def reason_popularity(
    explanations: Explanations, bags: sp.spmatrix, counts: np.ndarray, *, top: int = 3
) -> dict[str, Any]:
    """How popular the top history reasons are: the mean popularity percentile of the top items
    (1 is the catalogue's most interacted-with) beside that of the whole history.

    A diagnostic, not a goal: reasons far rarer than the history they come from are the sign of
    a model that leans on thinly attested items; `counts` are the items' training interactions.
    """
    counts = np.asarray(counts, dtype=np.float64)
    percentile = (np.argsort(np.argsort(counts, kind="stable"), kind="stable") + 1) / max(len(counts), 1)
    shares, chances = [], []
    for best, history in top_history(explanations, bags, len(counts), top):
        if len(best):
            shares.append(percentile[best].mean())
            chances.append(percentile[history].mean())
    return _summary(np.asarray(shares, dtype=np.float64), chances)


def paired_difference(first: Any, second: Any) -> dict[str, Any]:
    """The mean of `first` minus `second` over the pairs both answer, with its standard error.

    `first` and `second` are per-pair values of two models on the same pairs (``values`` of a
    measure taken with ``per_pair=True``; NaN where a pair was not asked). Pairing removes the
    spread between pairs that two independent samples would carry, so a small difference between
    two models can be told from noise.
    """
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if a.shape != b.shape:
        raise ParameterError(f"paired values differ in length: {a.shape[0]} and {b.shape[0]}")
    both = ~(np.isnan(a) | np.isnan(b))
    diff = a[both] - b[both]
    return {
        "difference": float(diff.mean()) if len(diff) else None,
        "se": _standard_error(diff),
        "pairs": len(diff),
    }


def _standard_error(values: np.ndarray) -> float | None:
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None


def _summary(values: np.ndarray, chances: list[float], per_pair: bool = False) -> dict[str, Any]:
    asked = values[~np.isnan(values)]
    out = {
        "share": float(asked.mean()) if len(asked) else None,
        "chance": float(np.mean(chances)) if chances else None,
        "pairs": len(asked),
        "se": _standard_error(asked),
    }
    if per_pair:
        out["values"] = values.tolist()
    return out
