"""Top-k ranking metrics over the full catalogue, excluding known positives.

This module sits below the models (it needs nothing but a scorer with ``score_users`` and the data
layer), because early stopping ranks validation users while a model trains.

For every user with at least one held-out item: recall@k = hits / |held-out items|,
precision@k = hits / k, NDCG@k with binary gains (ideal DCG over min(|held-out|, k) items),
hit rate@k = [hits > 0]; catalogue coverage@k = share of items recommended to anyone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from whyrec.data.dataset import Dataset
from whyrec.errors import ParameterError

SCORE_BLOCK = 1 << 27  # scores held at once while ranking (512 MiB of float32)


def evaluate(
    model: Any,
    heldout: Dataset,
    *,
    exclude: sp.csr_matrix | None = None,
    k: int | Sequence[int] = (20, 50),
    users: Iterable[int] | None = None,
    batch_size: int = 1024,
    per_user: bool = False,
) -> dict[str, Any]:
    """Mean ranking metrics of `model` on `heldout` (see the module docstring).

    `exclude` (users x items) holds the known positives that are removed from the ranking,
    normally the training (and validation) interactions. `users` restricts the evaluation to
    some users (dense indices); by default every user with a held-out item. With `per_user`,
    the result also holds a DataFrame under "per_user".
    """
    ks = sorted({int(v) for v in ([k] if isinstance(k, int | np.integer) else k)})
    n_items = heldout.n_items
    if not ks or ks[0] <= 0 or ks[-1] > n_items:
        raise ParameterError(f"every k must lie in 1..{n_items}, got {ks}")
    truth = heldout.matrix()
    counts = np.diff(truth.indptr)
    candidates = np.flatnonzero(counts > 0)
    if users is not None:
        users = np.unique(np.asarray(list(users), dtype=np.int64))
        candidates = users[counts[users] > 0]
    if len(candidates) == 0:
        raise ParameterError("no user has a held-out item to evaluate on")
    top = max(ks)
    batch_size = max(1, min(batch_size, SCORE_BLOCK // n_items))  # huge catalogues: smaller blocks
    hits_all = np.zeros((len(candidates), top), dtype=bool)
    recommended = np.zeros((len(candidates), top), dtype=np.int64)
    for start in range(0, len(candidates), batch_size):
        block = candidates[start : start + batch_size]
        scores = np.asarray(model.score_users(block), dtype=np.float32)
        if exclude is not None:
            rows, cols = exclude[block].nonzero()
            scores[rows, cols] = -np.inf
        index = torch.topk(torch.from_numpy(scores), top, dim=1).indices.numpy()
        wanted = truth[block].toarray() > 0
        hits_all[start : start + len(block)] = np.take_along_axis(wanted, index, axis=1)
        recommended[start : start + len(block)] = index
    return summarise(hits_all, counts[candidates], recommended, ks, n_items, candidates, per_user)


def summarise(
    hits: np.ndarray,
    n_relevant: np.ndarray,
    recommended: np.ndarray,
    ks: Sequence[int],
    n_items: int,
    users: np.ndarray,
    per_user: bool = False,
) -> dict[str, Any]:
    """Metrics from a (users x max k) hit matrix; see the module docstring."""
    out: dict[str, Any] = {"n_users": len(users)}
    table: dict[str, np.ndarray] = {"user": users}
    discount = 1.0 / np.log2(np.arange(2, hits.shape[1] + 2))
    cumulative = np.concatenate([[0.0], np.cumsum(discount)])
    for k in ks:
        h = hits[:, :k]
        n_hits = h.sum(axis=1)
        dcg = (h * discount[:k]).sum(axis=1)
        idcg = cumulative[np.minimum(n_relevant, k)]
        table[f"recall@{k}"] = n_hits / n_relevant
        table[f"precision@{k}"] = n_hits / k
        table[f"ndcg@{k}"] = dcg / idcg
        table[f"hit_rate@{k}"] = (n_hits > 0).astype(float)
        for name in ("recall", "precision", "ndcg", "hit_rate"):
            out[f"{name}@{k}"] = float(table[f"{name}@{k}"].mean())
        out[f"coverage@{k}"] = float(len(np.unique(recommended[:, :k])) / n_items)
    if per_user:
        out["per_user"] = pd.DataFrame(table)
    return out


def evaluate_curve(
    model: Any,
    heldout: Dataset,
    *,
    exclude: sp.csr_matrix | None = None,
    users: Iterable[int] | None = None,
    max_k: int = 50,
) -> np.ndarray:
    """recall@k for k = 1..max_k on `users` (for example the cold-start users)."""
    result = evaluate(model, heldout, exclude=exclude, k=list(range(1, max_k + 1)), users=users)
    return np.array([result[f"recall@{k}"] for k in range(1, max_k + 1)])
