"""Explanation correctness against planted drivers (synthetic data only, where truth is known)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from whyrec.data.synthetic import SyntheticData
from whyrec.explain.explanation import Explanations
from whyrec.explain.topk import explain_top_k
from whyrec.models.recommender import Recommender


def planted_driver_recovery(
    model: Recommender,
    data: SyntheticData,
    users: np.ndarray,
    *,
    k: int = 5,
    top: int = 3,
    method: str | None = None,
) -> dict[str, Any]:
    """Share of recommended (user, item) pairs whose planted driver is in the explanation's top `top`.

    Every user in `users` gets their top-`k` recommendations (training items excluded); pairs
    without a clear planted driver (see :meth:`SyntheticData.planted_drivers`) are left out.
    """
    top_k = explain_top_k(model, users, k=k, method=method)
    return driver_hits(data, top_k.explanations, top_k.users, model.train_matrix_, top=top)


def driver_hits(
    data: SyntheticData, explanations: Explanations, users: np.ndarray, history: Any, *, top: int = 3
) -> dict[str, Any]:
    """Planted-driver recovery of explanations already computed for (users[i], explanations.targets[i])."""
    drivers = data.planted_drivers(np.asarray(users), explanations.targets, history)
    names = explanations.vocabulary.token_names
    by_driver: dict[str, list[bool]] = defaultdict(list)
    for n, planted in enumerate(drivers):
        if planted:
            kind = planted[0].split("=")[0].split(":")[0]  # user.country, user.device or item
            by_driver[kind].append(bool(set(names[explanations[n].tokens[:top]]) & set(planted)))
    hits = [h for values in by_driver.values() for h in values]
    return {
        "pairs": len(explanations),
        "pairs_with_driver": len(hits),
        "share": float(np.mean(hits)) if hits else float("nan"),
        "by_driver": {kind: {"pairs": len(v), "share": float(np.mean(v))} for kind, v in sorted(by_driver.items())},
    }
