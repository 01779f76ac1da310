"""Encode detected interactions as categorical cross fields (GLIDER, section 4.2).

A cross field over fields (a, b, ...) takes the combination of their values as its value. Combinations
seen at least `min_count` times in the training rows get their own token; the rest, and every
combination first seen at prediction time, map to the cross field's "other" token. Cross fields
are appended after the original fields, so the original tokens keep their indices.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from whyrec.data.ctr import CROSS, OTHER, CTRData, CTRSplit, join_labels
from whyrec.data.features import FeatureSpace, Field
from whyrec.errors import DataError


def cross_name(fields: Sequence[str]) -> str:
    return CROSS.join(fields)


def cross_labels(data: CTRData, fields: Sequence[str]) -> pd.Series:
    """The joined value labels of `fields` in every row."""
    space = data.space
    columns = [data.fields.index(f) for f in fields]
    values = data.values()
    parts = []
    for f, column in zip(fields, columns, strict=True):
        labels = np.array(space.field("context", f).values, dtype=object)
        codes = values[:, column]
        if (codes < 0).any():
            raise DataError(f"cannot cross field {f!r}: some rows have it switched off")
        parts.append(labels[codes])
    return join_labels(parts)


def fit_crosses(train: CTRData, interactions: Sequence[Sequence[str]], *, min_count: int = 5) -> FeatureSpace:
    """The training space extended with one cross field per interaction (learned on `train`)."""
    base = train.space
    new_fields: list[Field] = []
    for interaction in interactions:
        fields = list(interaction)
        unknown = [f for f in fields if f not in train.fields]
        if len(fields) < 2 or unknown:
            raise DataError(f"a cross needs 2+ known fields; got {fields} (unknown: {unknown or 'none'})")
        new_fields.append(
            Field.fit_categorical(
                cross_name(fields), "context", cross_labels(train, fields), min_count=min_count, fallback=OTHER
            )
        )
    return FeatureSpace([], [], [], [*base.fields, *new_fields])


def add_crosses(data: CTRData, space: FeatureSpace) -> CTRData:
    """Rows of `data` in `space` (the base fields plus crosses from :func:`fit_crosses`)."""
    n_base = data.n_fields
    base_names = [f.name for f in space.context_fields[:n_base]]
    if base_names != data.fields:
        raise DataError("the cross space was fitted on different fields than these rows have")
    columns = [data.tokens]
    for f in space.context_fields[n_base:]:
        _, codes = f.encode(cross_labels(data, f.name.split(CROSS)))
        columns.append((codes + space.field_offsets[("context", f.name)])[:, None])
    return CTRData(space, np.concatenate(columns, axis=1), data.labels, data.name)


def crossed_split(split: CTRSplit, interactions: Sequence[Sequence[str]], *, min_count: int = 5) -> CTRSplit:
    """A split whose rows carry cross fields for `interactions` (vocabulary from the training rows)."""
    space = fit_crosses(split.train, interactions, min_count=min_count)
    return CTRSplit(*(add_crosses(d, space) for d in (split.train, split.validation, split.test)))
