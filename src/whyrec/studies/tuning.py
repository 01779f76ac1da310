"""Tuning: every model gets the same budget of configurations, scored on the validation split."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from whyrec.data.splits import Split
from whyrec.errors import ParameterError
from whyrec.metrics import evaluate
from whyrec.studies.catalogue import CANDIDATES, Candidate, build


def configurations(candidate: Candidate, budget: int, seed: int) -> list[dict[str, Any]]:
    """`budget` distinct configurations of the grid, drawn with `seed` (all of them if fewer)."""
    if budget < 1:
        raise ParameterError(f"the search budget must be at least 1, got {budget}")
    keys = list(candidate.grid)
    for key in keys:
        if not candidate.grid[key]:
            raise ParameterError(f"the search space of {key!r} is empty")
    grid = [dict(zip(keys, values, strict=True)) for values in itertools.product(*(candidate.grid[k] for k in keys))]
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(len(grid))[:budget]
    return [grid[i] for i in sorted(chosen)]


def tune(
    name: str, parts: Split, *, budget: int, seed: int, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Fit each drawn configuration on train; keep the best by validation recall@50."""
    trials = []
    best: dict[str, Any] | None = None
    for params in configurations(CANDIDATES[name], budget, seed):
        start = time.perf_counter()
        model = build(name, params, seed, parts.train).fit(parts.train, parts.validation)
        seconds = time.perf_counter() - start
        score = evaluate(model, parts.validation, exclude=parts.train.matrix(), k=50)["recall@50"]
        trials.append({"params": params, "validation_recall@50": score, "fit_seconds": seconds})
        if best is None or score > best["validation_recall@50"]:
            best = {**trials[-1], "model": model}
        if log:
            log(f"  {name} {params}: validation recall@50 {score:.4f} ({seconds:.1f} s)")
    assert best is not None
    return {"best": best, "trials": trials}
