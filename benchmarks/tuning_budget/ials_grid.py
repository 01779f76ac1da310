"""The 24-point iALS grid of issue 15, as a check on the Optuna tuner: does TPE find what a grid finds?

The grid (factors 256/512 x regularisation 20/50/100/200 x alpha 5/10/20, 15 iterations, implicit's
coordinates) is searched on the first seed's validation split by recall@50, like a tuning study;
the winner is refitted on every seed's split and scored once on test, like Table 1.

    python -m benchmarks.tuning_budget.ials_grid --data ml-1m --seeds 3

Writes benchmarks/tuning_budget/results/ials_grid_<name>.json; `report.py` sets it beside the tuned iALS row.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from sklearn.model_selection import ParameterGrid

from benchmarks.common import MOVIELENS_NAMES, data_dir, results_dir
from benchmarks.provenance import write_result
from whyrec.data import load_movielens, split
from whyrec.evaluate import evaluate
from whyrec.tuning import score_on_seeds
from whyrec.tuning.catalogue import build

RESULTS = results_dir("tuning_budget")

NAMES = MOVIELENS_NAMES
GRID = {
    "factors": [256, 512],
    "regularization": [20.0, 50.0, 100.0, 200.0],
    "alpha": [5.0, 10.0, 20.0],
    "iterations": [15],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="ml-1m", choices=sorted(NAMES))
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    name = NAMES[args.data]
    dataset = load_movielens(data_dir(args.data), min_rating=3)
    splits = {s: split(dataset, seed=s) for s in range(args.seeds)}
    first = splits[0]
    trials: list[dict[str, Any]] = []
    started = time.perf_counter()
    for params in ParameterGrid(GRID):
        start = time.perf_counter()
        model = build("ials", params, 0, first.train).fit(first.train, first.validation)
        score = float(evaluate(model, first.validation, exclude=first.train.matrix(), k=50)["recall@50"])
        trials.append({"params": params, "validation": score, "fit_seconds": time.perf_counter() - start})
        print(f"  {params} -> validation recall@50 {score:.4f}")
    search_seconds = time.perf_counter() - started
    best = max(trials, key=lambda t: t["validation"])
    runs, summary = score_on_seeds("ials", best["params"], splits)
    results = {
        "grid": GRID,
        "trials": trials,
        "search_seconds": search_seconds,
        "params": best["params"],
        "validation": best["validation"],
        "runs": runs,
        **summary,
    }
    path = write_result(
        RESULTS / f"ials_grid_{name}.json",
        data=f"{name} (ratings >= 3, random 60/20/20, seeds 0..{args.seeds - 1})",
        seed=list(splits),
        results=results,
    )
    print(
        f"grid best {best['params']} validation {best['validation']:.4f}; "
        f"test recall@50 median {results['recall@50_median']:.4f} -> {path}"
    )


if __name__ == "__main__":
    main()
