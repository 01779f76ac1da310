"""Click-through-rate data: every row is a bag with one ``field=value`` token per field.

The vocabulary is a :class:`~whyrec.data.features.FeatureSpace` with no items and no users, only
context fields. Each field is categorical: integer fields are bucketised first (:func:`bucketise`),
missing values become the value ``missing``, and values seen fewer than ``min_count`` times in
the training rows fold into the value ``other``, which also receives every value first seen at
prediction time. A :class:`CTRData` holds the rows as an ``n x n_fields`` matrix of token indices,
so models embed all fields in one lookup and "field absent" is one reserved index (:data:`ABSENT`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from whyrec.data.features import FeatureSpace, Field
from whyrec.errors import DataError, shown

MISSING = "missing"
OTHER = "other"
LABEL = "label"
ABSENT = -1  # token index of a field switched off (models map it to a zero embedding)
CROSS = "*"  # a cross field's name joins its fields ("C1*C5"); its values join their labels


def bucketise(values: pd.Series) -> pd.Series:
    """Integer counts as categorical labels: v <= 2 as is, larger v as ``floor(ln(v)^2)``.

    This is the Criteo competition winners' transform that AutoInt and GLIDER reuse: it keeps
    small counts exact and groups large ones on a log scale. Missing values stay missing.
    """
    numbers = pd.to_numeric(values, errors="coerce")
    out = pd.Series(pd.NA, index=values.index, dtype=object)
    small = numbers <= 2
    out[small] = numbers[small].astype(np.int64).astype(str)
    large = numbers > 2
    out[large] = "log" + np.floor(np.log(numbers[large].to_numpy(dtype=float)) ** 2).astype(np.int64).astype(str)
    return out


@dataclass
class CTRData:
    """Labelled CTR rows as token indices in `space` (one column per context field)."""

    space: FeatureSpace
    tokens: np.ndarray  # n x n_fields, int64, global token indices (ABSENT for a switched-off field)
    labels: np.ndarray  # n, float32 in {0, 1}
    name: str = "ctr"

    def __post_init__(self) -> None:
        self.tokens = np.asarray(self.tokens, dtype=np.int64)
        self.labels = np.asarray(self.labels, dtype=np.float32)
        if self.tokens.ndim != 2 or self.tokens.shape[1] != len(self.space.context_fields):
            raise DataError(
                f"CTR tokens must be n x {len(self.space.context_fields)} (one column per field), "
                f"got shape {self.tokens.shape}"
            )
        if len(self.labels) != len(self.tokens):
            raise DataError(f"{len(self.labels)} labels for {len(self.tokens)} rows")

    @property
    def fields(self) -> list[str]:
        return [f.name for f in self.space.context_fields]

    @property
    def n_fields(self) -> int:
        return self.tokens.shape[1]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def ctr(self) -> float:
        return float(self.labels.mean()) if len(self) else float("nan")

    def rows(self, index: np.ndarray | slice) -> CTRData:
        return CTRData(self.space, self.tokens[index], self.labels[index], self.name)

    def bags(self) -> sp.csr_matrix:
        """The rows as a CSR bag-of-tokens matrix (absent fields give no token)."""
        present = self.tokens >= 0
        n = len(self)
        indptr = np.concatenate([[0], np.cumsum(present.sum(axis=1))])
        return sp.csr_matrix(
            (np.ones(int(present.sum()), np.float32), self.tokens[present], indptr), shape=(n, self.space.n_tokens)
        )

    def field_offsets(self) -> np.ndarray:
        """First token index of every field, in column order."""
        return np.array([self.space.field_offsets[("context", f)] for f in self.fields], dtype=np.int64)

    def values(self) -> np.ndarray:
        """Per-field value codes (token index minus the field's offset); ABSENT stays ABSENT."""
        codes = self.tokens - self.field_offsets()
        return np.where(self.tokens >= 0, codes, ABSENT)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rows": len(self),
            "ctr": round(self.ctr, 4),
            "fields": {f.name: len(f.values) for f in self.space.context_fields},
            "tokens": self.space.n_tokens,
        }


def fit_space(frame: pd.DataFrame, fields: Sequence[str] | None = None, *, min_count: int = 1) -> FeatureSpace:
    """A context-only FeatureSpace learned from raw CTR rows (missing → 'missing', rare → 'other')."""
    fields = _fields(frame, fields)
    if min_count < 1:
        raise DataError(f"min_count must be at least 1, got {min_count}")
    return FeatureSpace(
        item_ids=[],
        item_names=[],
        user_ids=[],
        fields=[
            Field.fit_categorical(f, "context", _labels(frame[f]), min_count=min_count, fallback=OTHER) for f in fields
        ],
    )


def encode(space: FeatureSpace, frame: pd.DataFrame, *, name: str = "ctr") -> CTRData:
    """Encode raw rows with a fitted space; values it has not seen map to the field's 'other'."""
    columns = []
    for f in space.context_fields:
        _, codes = f.encode(_raw_column(space, frame, f.name))
        columns.append(codes + space.field_offsets[("context", f.name)])
    tokens = np.stack(columns, axis=1) if columns else np.zeros((len(frame), 0), np.int64)
    return CTRData(space, tokens, _label_column(frame), name)


@dataclass(frozen=True)
class CTRSplit:
    train: CTRData
    validation: CTRData
    test: CTRData

    @property
    def space(self) -> FeatureSpace:
        return self.train.space


def split_rows(
    frame: pd.DataFrame,
    *,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    fields: Sequence[str] | None = None,
    min_count: int = 2,
    name: str = "ctr",
    space: FeatureSpace | None = None,
) -> CTRSplit:
    """Seeded random train/validation/test split; the vocabulary is fitted on the training rows only
    (or `space` is used, e.g. a saved model's, so that its token indices apply)."""
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6 or fractions[0] == 0:
        raise DataError(f"fractions must be three non-negative shares summing to 1, got {fractions}")
    if len(frame) < 3:
        raise DataError(f"need at least 3 CTR rows to split, got {len(frame)}")
    order = np.random.default_rng(seed).permutation(len(frame))
    cut1 = round(fractions[0] * len(frame))
    cut2 = cut1 + round(fractions[1] * len(frame))
    parts = [frame.iloc[order[a:b]].reset_index(drop=True) for a, b in ((0, cut1), (cut1, cut2), (cut2, len(frame)))]
    space = space if space is not None else fit_space(parts[0], fields, min_count=min_count)
    train, validation, test = (encode(space, p, name=name) for p in parts)
    return CTRSplit(train, validation, test)


def _fields(frame: pd.DataFrame, fields: Sequence[str] | None) -> list[str]:
    if LABEL not in frame.columns:
        raise DataError(f"CTR rows need a {LABEL!r} column of 0/1 clicks")
    if fields is None:
        fields = [c for c in frame.columns if c != LABEL]
    missing = [f for f in fields if f not in frame.columns]
    if missing:
        raise DataError(f"unknown CTR field(s) {missing}; columns are {list(frame.columns)}")
    if not fields:
        raise DataError("CTR rows need at least one field besides the label")
    return list(fields)


def join_labels(parts: Sequence[np.ndarray | pd.Series]) -> pd.Series:
    """Cross-field values: the parts' value labels joined with :data:`CROSS`."""
    joined = np.asarray(parts[0], dtype=str)
    for part in parts[1:]:
        joined = np.char.add(np.char.add(joined, CROSS), np.asarray(part, dtype=str))
    return pd.Series(joined.astype(object))


def _raw_column(space: FeatureSpace, frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return _labels(frame[name])
    parts = name.split(CROSS)
    if len(parts) > 1 and all(p in frame.columns for p in parts):  # a cross field, rebuilt from its parts
        folded = []
        for p in parts:
            f = space.field("context", p)
            labels = _labels(frame[p])
            folded.append(labels.where(labels.isin(f.values), f.fallback).to_numpy())
        return join_labels(folded)
    known = [g.name for g in space.context_fields]
    raise DataError(f"CTR rows lack field {name!r}; the model's fields are {known}")


def _labels(column: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(column):
        column = column.map(lambda v: v if pd.isna(v) else (str(int(v)) if float(v).is_integer() else str(v)))
    return column.astype(object).where(column.notna(), MISSING).astype(str)


def clicks(column: pd.Series) -> tuple[np.ndarray, int | None]:
    """Click labels as float32 and the position of the first value that is not 0 or 1 (None: all are)."""
    labels = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isin(labels, (0.0, 1.0)))
    return labels.astype(np.float32), (int(bad[0]) if bad.size else None)


def _label_column(frame: pd.DataFrame) -> np.ndarray:
    if LABEL not in frame.columns:
        raise DataError(f"CTR rows need a {LABEL!r} column of 0/1 clicks")
    labels, row = clicks(frame[LABEL])
    if row is not None:
        raise DataError(f"CTR label of row {row} is {shown(frame[LABEL].iloc[row])}; labels must be 0 or 1")
    return labels
