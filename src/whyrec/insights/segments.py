"""Segment definitions: which group each explained user (or recommended pair) belongs to.

``user.<field>`` / ``<field>``: a user attribute (its bucket label for numeric fields);
``item.<field>``: an attribute of the recommended item (pairs are the unit then);
``activity``: quantile bands of the number of training interactions;
``cold``: "new" (no training history, a cold-start profile) or "existing";
or any mapping / Series from external user ID to a label (a user-given column).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from whyrec.errors import UnknownIdError

BUILT_IN = ("activity", "cold")


def segment_labels(
    model: Any, spec: str | Mapping[Any, Any] | pd.Series, users: np.ndarray, items: np.ndarray | None = None
) -> tuple[pd.Series, str]:
    """Labels indexed like the shares they segment, and the unit ("user" or "pair").

    `users` are the dense indices of the users explained; `items` the recommended item of each
    pair (needed for item segments).
    """
    fs = model.feature_space_
    if not isinstance(spec, str):
        mapping = pd.Series(spec) if isinstance(spec, Mapping) else spec
        keyed = {str(k): v for k, v in mapping.items()}
        labels = [keyed.get(str(fs.user_ids[u])) for u in users]
        return pd.Series(labels, index=users, dtype=object).dropna(), "user"
    if spec == "activity":
        counts = np.diff(model.train_matrix_.indptr)[users]
        edges = np.unique(np.quantile(counts, [0, 0.25, 0.5, 0.75, 1.0]).round())
        bands = np.clip(np.searchsorted(edges, counts, side="right") - 1, 0, len(edges) - 2)
        names = [f"{int(edges[b])}-{int(edges[b + 1])} items" for b in range(len(edges) - 1)]
        return pd.Series(np.asarray(names, dtype=object)[bands], index=users), "user"
    if spec == "cold":
        counts = np.diff(model.train_matrix_.indptr)[users]
        return pd.Series(np.where(counts == 0, "new", "existing"), index=users), "user"
    entity, _, name = spec.partition(".") if spec.startswith(("user.", "item.")) else ("user", ".", spec)
    try:
        field = fs.field(entity, name)
    except UnknownIdError:
        known = [f"{f.entity}.{f.name}" for f in fs.fields] + list(BUILT_IN)
        raise UnknownIdError(f"unknown segment {spec!r}; choose from {', '.join(known)} or give a column") from None
    start = fs.field_offsets[(entity, name)]
    matrix = model.user_attributes_ if entity == "user" else model.item_attributes_
    rows = users if entity == "user" else items
    if rows is None:
        raise UnknownIdError(f"segment {spec!r} needs the recommended items")
    block = matrix[np.asarray(rows)][:, start : start + len(field.values)]
    first = np.asarray(block.argmax(axis=1)).ravel()
    has = np.asarray(block.sum(axis=1)).ravel() > 0
    values = np.where(has, np.asarray(field.values, dtype=object)[first], None)
    index = users if entity == "user" else np.arange(len(np.asarray(items)))
    return pd.Series(values, index=index, dtype=object).dropna(), "user" if entity == "user" else "pair"
