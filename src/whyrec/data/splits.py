"""Seeded train / validation / test splits of a Dataset's interactions.

* ``random``: interactions shuffled and cut 60/20/20 (RecoNet section 5.1);
* ``user``: for every user, a fraction of their interactions to validation and to test;
* ``temporal``: cut at global timestamp quantiles (train on the past, test on the future);
* cold start (any split): a fraction of the test users lose their whole training and validation
  history, so that they reach the model as new users (RecoNet section 5.2 uses 10%).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from whyrec.data.dataset import Dataset
from whyrec.errors import DataError, ParameterError

SplitKind = Literal["random", "user", "temporal"]


@dataclass(frozen=True)
class Split:
    """Positions of the train, validation and test interactions of `dataset`, plus cold users."""

    dataset: Dataset
    train_index: np.ndarray
    validation_index: np.ndarray
    test_index: np.ndarray
    cold_users: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def train(self) -> Dataset:
        return self.dataset.subset(self.train_index)

    @property
    def validation(self) -> Dataset:
        return self.dataset.subset(self.validation_index)

    @property
    def test(self) -> Dataset:
        return self.dataset.subset(self.test_index)

    def sizes(self) -> dict[str, int]:
        return {
            "train": len(self.train_index),
            "validation": len(self.validation_index),
            "test": len(self.test_index),
            "cold_users": len(self.cold_users),
        }


def split(
    dataset: Dataset,
    kind: SplitKind = "random",
    *,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    cold_start: float = 0.0,
    seed: int = 0,
) -> Split:
    """Split `dataset` (see the module docstring); `fractions` are train/validation/test shares."""
    fractions = _check_fractions(fractions)
    if dataset.n_interactions < 10:
        raise DataError(f"dataset has {dataset.n_interactions} interactions; a split needs at least 10")
    rng = np.random.default_rng(seed)
    if kind == "random":
        parts = _cut(rng.permutation(dataset.n_interactions), fractions)
    elif kind == "user":
        parts = _per_user(dataset, fractions, rng)
    elif kind == "temporal":
        if dataset.timestamps is None:
            raise DataError("a temporal split needs timestamps; this dataset has none")
        order = np.lexsort((rng.random(dataset.n_interactions), dataset.timestamps))
        parts = _cut(order, fractions)
    else:
        raise ParameterError(f"unknown split {kind!r}; choose random, user or temporal")
    train, validation, test = (np.sort(p) for p in parts)
    if len(train) == 0 or len(test) == 0:
        raise DataError("the split left the train or test set empty; the dataset is too small")
    config = {"kind": kind, "fractions": list(fractions), "cold_start": cold_start, "seed": seed}
    result = Split(dataset, train, validation, test, config=config)
    return with_cold_start(result, cold_start, seed=seed) if cold_start > 0 else result


def with_cold_start(result: Split, fraction: float, *, seed: int = 0) -> Split:
    """Turn `fraction` of the test users into cold-start users: their train/validation rows go."""
    if not 0 <= fraction < 1:
        raise ParameterError(f"cold_start must lie in [0, 1), not {fraction}")
    rng = np.random.default_rng([seed, 1])
    test_users = np.unique(result.dataset.users[result.test_index])
    n_cold = round(fraction * len(test_users))
    cold = np.sort(rng.choice(test_users, n_cold, replace=False)) if n_cold else np.zeros(0, np.int64)
    users = result.dataset.users
    keep_train = result.train_index[~np.isin(users[result.train_index], cold)]
    keep_val = result.validation_index[~np.isin(users[result.validation_index], cold)]
    config = dict(result.config, cold_start=fraction)
    return Split(result.dataset, keep_train, keep_val, result.test_index, cold.astype(np.int64), config)


def _check_fractions(fractions: tuple[float, float, float]) -> tuple[float, float, float]:
    values = tuple(float(f) for f in fractions)
    if len(values) != 3 or any(f < 0 for f in values) or values[0] <= 0 or values[2] <= 0:
        raise ParameterError(f"fractions must be three non-negative shares with train, test > 0: {fractions}")
    total = sum(values)
    return values[0] / total, values[1] / total, values[2] / total


def _cut(order: np.ndarray, fractions: tuple[float, float, float]) -> list[np.ndarray]:
    n = len(order)
    a = round(fractions[0] * n)
    b = round((fractions[0] + fractions[1]) * n)
    return [order[:a], order[a:b], order[b:]]


def _per_user(dataset: Dataset, fractions: tuple[float, float, float], rng: np.random.Generator) -> list[np.ndarray]:
    # rank every interaction within its user in random order, then cut each user's list
    n = dataset.n_interactions
    order = np.lexsort((rng.random(n), dataset.users))
    users_sorted = dataset.users[order]
    starts = np.searchsorted(users_sorted, users_sorted, side="left")
    counts = np.bincount(users_sorted, minlength=dataset.n_users)[users_sorted]
    position = (np.arange(n) - starts) / counts
    a, b = fractions[0], fractions[0] + fractions[1]
    return [order[position < a], order[(position >= a) & (position < b)], order[position >= b]]
