"""Synthetic CTR rows with planted pairwise and 3-way field interactions (ground truth for NID/GLIDER).

The click logit is a sum of main effects (one table per field) and pure interaction effects: for a
planted interaction I, a random table over the value combinations of I's fields with every
lower-order component removed (centred along each axis), so that the effect cannot be written as a
sum of smaller terms. Fields outside every interaction only have main effects, and some fields
have none (pure noise).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from whyrec.data.ctr import LABEL
from whyrec.data.features import FeatureSpace
from whyrec.errors import DataError

DEFAULT_INTERACTIONS: tuple[tuple[int, ...], ...] = ((0, 1), (2, 3), (4, 5, 6))


@dataclass(frozen=True)
class SyntheticCTR:
    """Raw rows, the planted interactions (field-name tuples), and the effect tables behind them."""

    frame: pd.DataFrame
    interactions: list[tuple[str, ...]]
    bias: float
    main: np.ndarray  # fields x cardinality
    tables: list[np.ndarray]  # one table per planted interaction, over its fields' values

    @property
    def fields(self) -> list[str]:
        return [c for c in self.frame.columns if c != LABEL]

    def logit(self, values: np.ndarray) -> np.ndarray:
        """The true click logit of value codes (rows x fields); a code of -1 (absent) drops every term
        that involves its field."""
        values = np.asarray(values)
        present = values >= 0
        safe = np.where(present, values, 0)
        out = np.full(len(values), self.bias)
        for f in range(values.shape[1]):
            out += np.where(present[:, f], self.main[f][safe[:, f]], 0.0)
        fields = {name: n for n, name in enumerate(self.fields)}
        for interaction, table in zip(self.interactions, self.tables, strict=True):
            cols = [fields[name] for name in interaction]
            term = table[tuple(safe[:, c] for c in cols)]
            out += np.where(present[:, cols].all(axis=1), term, 0.0)
        return out

    def oracle(self, space: FeatureSpace) -> Callable[[np.ndarray], np.ndarray]:
        """The true logit as a black box over token matrices of `space` (ABSENT drops a field;
        the 'other' token, which no value here needs, counts as absent)."""
        code = np.full(space.n_tokens, -1, dtype=np.int64)
        for f in space.context_fields:
            start = space.field_offsets[("context", f.name)]
            for n, label in enumerate(f.values):
                prefix, _, number = label.rpartition("_")
                if prefix == f.name and number.isdigit():
                    code[start + n] = int(number)

        def predict_logit(tokens: np.ndarray) -> np.ndarray:
            tokens = np.asarray(tokens)
            return self.logit(np.where(tokens >= 0, code[np.maximum(tokens, 0)], -1))

        return predict_logit


def synthetic_ctr(
    n_rows: int = 40_000,
    n_fields: int = 10,
    cardinality: int = 4,
    interactions: Sequence[Sequence[int]] = DEFAULT_INTERACTIONS,
    *,
    interaction_strength: float = 2.0,
    main_strength: float = 0.5,
    seed: int = 0,
) -> SyntheticCTR:
    """Rows of `n_fields` categorical fields ``f0..`` with the given planted interactions."""
    if n_rows < 1 or n_fields < 2 or cardinality < 2:
        raise DataError("synthetic CTR needs n_rows >= 1, n_fields >= 2 and cardinality >= 2")
    planted = [tuple(sorted(int(f) for f in i)) for i in interactions]
    for i in planted:
        if len(i) < 2 or len(set(i)) != len(i) or min(i) < 0 or max(i) >= n_fields:
            raise DataError(f"interaction {i} must name 2+ distinct fields in 0..{n_fields - 1}")
    rng = np.random.default_rng(seed)
    values = rng.integers(0, cardinality, size=(n_rows, n_fields))
    main = main_strength * rng.standard_normal((n_fields, cardinality))
    main[-2:] = 0.0  # the last two fields are noise
    tables = []
    for i in planted:
        table = rng.standard_normal((cardinality,) * len(i))
        for axis in range(len(i)):  # remove every lower-order component: a pure interaction
            table = table - table.mean(axis=axis, keepdims=True)
        tables.append(table * interaction_strength / max(table.std(), 1e-12))
    names = [f"f{f}" for f in range(n_fields)]
    frame = pd.DataFrame({LABEL: np.zeros(n_rows)})
    for f, name in enumerate(names):
        frame[name] = np.char.add(f"{name}_", values[:, f].astype(str)).astype(object)
    data = SyntheticCTR(frame, [tuple(names[f] for f in i) for i in planted], -0.5, main, tables)
    frame[LABEL] = (rng.random(n_rows) < 1 / (1 + np.exp(-data.logit(values)))).astype(float)
    return data
