"""Tasks for attribution networks: synthetic data with a known explaining subset, and MovieLens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from whyrec.errors import ParameterError

SYNTHETIC_GROUPS = {"g1": [0, 1], "g2": [2, 3], "g3": [4, 5], "g4": [6, 7]}
SYNTHETIC_SUBSETS = [("g1",), ("g2",), ("g3",), ("g4",), ("g2", "g3"), ("g1", "g2", "g3", "g4")]


@dataclass(frozen=True)
class GroupTask:
    """Inputs, labels and (for synthetic data) the subset that truly decides each label."""

    X: np.ndarray
    y: np.ndarray
    truth: list[tuple[str, ...]] | None


def synthetic_attribution(n: int = 20000, seed: int = 0, *, noise: float = 0.01) -> GroupTask:
    """Four 2-d groups and two regimes, each fully decided by one subset.

    The regime is visible in g2's second coordinate. Where it is negative, g1 lies in a clear
    cluster (x < -2 or x > 2) and the label is its side: ("g1",) explains it. Where it is
    positive, g1 is an ambiguous cloud around 0 and the label is the XOR of the signs of g2 and g3:
    ("g2", "g3") explains it (and holds everything needed, regime included). g4 is noise. A share
    `noise` of labels is flipped.
    """
    if n < 10:
        raise ParameterError("synthetic attribution data needs n >= 10")
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, (n, 8)).astype(np.float32)
    X[:, 3] = rng.choice([-1.0, 1.0], n) * (0.5 + np.abs(X[:, 3]))  # the regime, away from 0
    clear = X[:, 3] < 0
    side = rng.choice([-1.0, 1.0], n)
    X[clear, 0] = side[clear] * (2.0 + rng.exponential(1.0, clear.sum()))
    X[~clear, 0] = rng.normal(0, 0.3, (~clear).sum())
    for col in (2, 4):  # keep XOR inputs away from their boundary so the rule is learnable
        X[:, col] = np.sign(X[:, col]) * (0.3 + np.abs(X[:, col]))
    xor = (X[:, 2] > 0) ^ (X[:, 4] > 0)
    y = np.where(clear, side > 0, xor).astype(np.float32)
    flip = rng.random(n) < noise
    y[flip] = 1 - y[flip]
    truth: list[tuple[str, ...]] = [("g1",) if c else ("g2", "g3") for c in clear]
    return GroupTask(X, y, truth)


MOVIELENS_SUBSETS = [
    ("user_content",),
    ("item_content",),
    ("user_embedding",),
    ("item_embedding",),
    ("item_content", "user_content"),
    ("item_embedding", "user_embedding"),
    ("item_content", "item_embedding", "user_content", "user_embedding"),
]


@dataclass(frozen=True)
class PairTask:
    """(user, item) examples with content features, for implicit-signal prediction."""

    groups: dict
    user_content: np.ndarray  # users x user-attribute tokens (multi-hot)
    item_content: np.ndarray  # items x item-attribute tokens
    train: tuple[np.ndarray, np.ndarray, np.ndarray]  # users, items, labels
    validation: tuple[np.ndarray, np.ndarray, np.ndarray]
    test_users: np.ndarray
    test_items: np.ndarray
    seen: Any  # users x items CSR of every known interaction

    def inputs(self, users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        X = np.hstack([self.user_content[users], self.item_content[items]])
        return X, {"user_embedding": users, "item_embedding": items}

    def negatives(self, users: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
        """`count` items per user that the user never interacted with (uniform, rejection)."""
        n_items = self.item_content.shape[0]
        out = rng.integers(0, n_items, (len(users), count))
        for _ in range(20):
            bad = np.asarray(self.seen[np.repeat(users, count), out.ravel()]).reshape(out.shape) > 0
            if not bad.any():
                break
            out[bad] = rng.integers(0, n_items, bad.sum())
        return out


def leave_last_out_task(dataset, *, negatives: int = 1, seed: int = 0) -> PairTask:
    """The paper's protocol: each user's last interaction is the test item, the one before it
    validation, the rest training; `negatives` sampled non-interacted items per positive.

    One negative per positive keeps the classes balanced, which the experts' confidence
    g = |F| assumes (F = 0 means "no information" only when both classes are equally likely);
    with more negatives every expert looks confident about the majority class.
    """
    if dataset.timestamps is None:
        raise ParameterError("leave-last-out needs timestamps")
    rng = np.random.default_rng(seed)
    fs = dataset.feature_space
    order = np.lexsort((dataset.timestamps, dataset.users))
    users, items = dataset.users[order], dataset.items[order]
    last = np.r_[users[1:] != users[:-1], True]
    second = np.r_[last[1:], False] & ~last
    counts = np.bincount(users, minlength=fs.n_users)
    eligible = counts[users] >= 3
    test, val = last & eligible, second & eligible
    train = ~(test | val)
    user_cols = np.flatnonzero(fs.token_kinds == "user_attribute")
    item_cols = np.flatnonzero(fs.token_kinds == "item_attribute")
    user_content = dataset.user_attributes[:, user_cols].toarray().astype(np.float32)
    item_content = dataset.item_attributes[:, item_cols].toarray().astype(np.float32)
    groups = {
        "user_content": list(range(len(user_cols))),
        "item_content": list(range(len(user_cols), len(user_cols) + len(item_cols))),
        "user_embedding": ("ids", fs.n_users),
        "item_embedding": ("ids", fs.n_items),
    }
    empty = np.zeros(0, np.int64)
    task = PairTask(
        groups, user_content, item_content, (empty,) * 3, (empty,) * 3, users[test], items[test], dataset.matrix()
    )

    def with_negatives(u: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        neg = task.negatives(u, negatives, rng)
        all_u = np.concatenate([u, np.repeat(u, negatives)])
        all_i = np.concatenate([i, neg.ravel()])
        labels = np.concatenate([np.ones(len(u)), np.zeros(neg.size)]).astype(np.float32)
        shuffle = rng.permutation(len(all_u))
        return all_u[shuffle], all_i[shuffle], labels[shuffle]

    return PairTask(
        groups,
        user_content,
        item_content,
        with_negatives(users[train], items[train]),
        with_negatives(users[val], items[val]),
        users[test],
        items[test],
        task.seen,
    )


FRAPPE_GROUPS = {
    "user": ["user"],
    "item": ["item"],
    "context": ["daytime", "weekday", "isweekend", "homework", "cost", "weather", "country", "city"],
}
FRAPPE_SUBSETS = [
    ("user",),
    ("item",),
    ("context",),
    ("item", "user"),
    ("context", "user"),
    ("context", "item"),
    ("context", "item", "user"),
]
ID_GROUP_MIN_VALUES = 64  # a one-field group with at least this many values is embedded, not one-hot


@dataclass(frozen=True)
class CTRGroupInputs:
    """CTR rows as attribution-network inputs: one-hot columns for small groups, ids for large ones."""

    groups: dict
    X: np.ndarray
    ids: dict[str, np.ndarray]
    y: np.ndarray


def ctr_group_inputs(data, groups: dict[str, list[str]]) -> CTRGroupInputs:
    """Map CTRData rows to the group inputs of an attribution network.

    A group of one field with many values (a user or item id) becomes an id group with a learned
    embedding; any other group is the one-hot encoding of its fields' values.
    """
    values = data.values()
    spaces = {f.name: f for f in data.space.context_fields}
    unknown = sorted({f for fields in groups.values() for f in fields} - set(spaces))
    if unknown:
        raise ParameterError(f"groups name unknown CTR field(s) {unknown}; fields: {data.fields}")
    spec: dict = {}
    dense: list[np.ndarray] = []
    ids: dict[str, np.ndarray] = {}
    width = 0
    for name, fields in groups.items():
        if len(fields) == 1 and len(spaces[fields[0]].values) >= ID_GROUP_MIN_VALUES:
            spec[name] = ("ids", len(spaces[fields[0]].values))
            ids[name] = values[:, data.fields.index(fields[0])]
            continue
        start = width
        for f in fields:
            n = len(spaces[f].values)
            block = np.zeros((len(data), n), dtype=np.float32)
            block[np.arange(len(data)), values[:, data.fields.index(f)]] = 1.0
            dense.append(block)
            width += n
        spec[name] = list(range(start, width))
    X = np.hstack(dense) if dense else np.zeros((len(data), 0), np.float32)
    return CTRGroupInputs(spec, X, ids, data.labels)
