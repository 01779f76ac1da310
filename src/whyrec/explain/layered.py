"""Layered reasons: one explanation's relevances summed over groups of tokens.

Relevances add, so any partition of a profile's tokens explains the score exactly: each group's
relevance is the sum of its tokens', and a layer's groups sum to the same total as the tokens
(feature-importance practice, "layered explanations": the headline first, the detail on demand).
Three layers:

- :func:`by_kind`: the history, who the user is, the attributes of the history's items, the
  context;
- :func:`by_value`: the history by an attribute of its items ("your Sci-Fi history: 12 films").
  An item with several values (a film in two genres) gives each an equal share of its relevance,
  so the layer still sums exactly; every token that is not a history item forms one more group;
- :func:`by_time`: the most recent history items against the older ones, where the interaction
  times are known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from whyrec.errors import ParameterError
from whyrec.explain.explanation import Explanation
from whyrec.explain.words import count, noun, value_words

KIND_LABELS = {
    "item": "your history",
    "user_attribute": "who you are",
    "item_attribute": "what the items in your history are",
    "context_attribute": "the context",
    "group": "the input groups",
}
RECENT = 10  # history items that count as recent, the latest first


@dataclass(frozen=True)
class Group:
    """A group of a profile's tokens and the sum of their relevances (shares, for split items)."""

    layer: str
    key: str
    label: str
    relevance: float
    size: int  # tokens in the group

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "key": self.key,
            "label": self.label,
            "relevance": self.relevance,
            "size": self.size,
        }


def by_kind(e: Explanation) -> list[Group]:
    """The explanation's tokens grouped by kind, largest relevance first."""
    kinds = e.vocabulary.token_kinds[e.tokens] if len(e.tokens) else np.array([], dtype=object)
    groups = [
        Group("kind", str(kind), KIND_LABELS.get(str(kind), str(kind)), float(e.relevance[kinds == kind].sum()), n)
        for kind, n in zip(*np.unique(kinds.astype(str), return_counts=True), strict=True)
    ]
    return sorted(groups, key=lambda g: -g.relevance)


def by_value(e: Explanation, item_values: sp.spmatrix, field: str, *, entity: str = "item") -> list[Group]:
    """History items grouped by their values of attribute `field`, plus one group of the rest.

    `item_values` is items x tokens (:attr:`Recommender.item_values_`). Raises
    :class:`~whyrec.errors.ParameterError` for a field the vocabulary does not have.
    """
    fs: Any = e.vocabulary  # a FeatureSpace: the vocabulary that has fields
    offsets = getattr(fs, "field_offsets", {})
    if (entity, field) not in offsets:
        known = ", ".join(name for ent, name in offsets if ent == entity) or "none"
        raise ParameterError(f"no {entity} attribute {field!r} to group the history by; known: {known}")
    start, values = offsets[(entity, field)], list(fs.field(entity, field).values)
    n_items = len(fs.item_ids)
    history = e.tokens < n_items
    block = sp.csr_matrix(item_values, dtype=np.float64)[e.tokens[history]][:, start : start + len(values)]
    counts = np.asarray(block.sum(axis=1)).ravel()
    share = sp.diags(np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)) @ block
    relevance = share.T @ e.relevance[history]
    sizes = np.asarray((block > 0).sum(axis=0)).ravel()
    phrases = getattr(fs, "phrases", None)
    groups = [
        Group(
            field,
            values[v],
            f"your {value_words(values[v])} history: {count(int(sizes[v]), phrases)}",
            float(relevance[v]),
            int(sizes[v]),
        )
        for v in np.flatnonzero(sizes)
    ]
    unvalued = history.copy()
    unvalued[history] = counts == 0
    if unvalued.any():
        n = int(unvalued.sum())
        groups.append(Group(field, "", f"{count(n, phrases)} without a {field}", float(e.relevance[unvalued].sum()), n))
    if (~history).any():
        groups.append(
            Group(field, "rest", "everything else", float(e.relevance[~history].sum()), int((~history).sum()))
        )
    return sorted(groups, key=lambda g: -g.relevance)


def by_time(e: Explanation, times: Mapping[int, float], *, recent: int = RECENT) -> list[Group]:
    """The `recent` latest history items against the older ones, and the rest of the profile.

    `times` maps history items (dense indices) to interaction times; items without a time count
    as older. Returns no groups when no history item has a time.
    """
    if recent < 1:
        raise ParameterError(f"recent must be at least 1, got {recent}")
    history = e.tokens < len(e.vocabulary.item_ids)
    when = np.array([times.get(int(t), -np.inf) for t in e.tokens[history]], dtype=np.float64)
    if not np.isfinite(when).any():
        return []
    order = np.argsort(-when, kind="stable")
    latest = np.zeros(len(when), dtype=bool)
    latest[order[:recent]] = True
    latest &= np.isfinite(when)
    relevance = e.relevance[history]
    n = int(latest.sum())
    recent_words = f"your {n} most recent {noun(n, getattr(e.vocabulary, 'phrases', None))}"
    groups = [
        Group("time", "recent", recent_words, float(relevance[latest].sum()), n),
        Group("time", "older", "your older history", float(relevance[~latest].sum()), int((~latest).sum())),
        Group("time", "rest", "everything else", float(e.relevance[~history].sum()), int((~history).sum())),
    ]
    return [g for g in groups if g.size]


def layers(
    e: Explanation, *, item_values: sp.spmatrix | None = None, times: Mapping[int, float] | None = None
) -> dict[str, list[Group]]:
    """Every layer the data allows: by kind; by each item attribute (`item_values`); by time
    (`times`). Each layer's groups sum to the explanation's total."""
    out = {"kind": by_kind(e)}
    fs = e.vocabulary
    for f in getattr(fs, "item_fields", []):
        if item_values is not None and item_values.nnz:
            out[f.name] = by_value(e, item_values, f.name)
    if times:
        chosen = by_time(e, times)
        if chosen:
            out["time"] = chosen
    return out
