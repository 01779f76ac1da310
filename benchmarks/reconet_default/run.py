"""Is RecoNet fast by default, and still accurate?

    python -m benchmarks.reconet_default.run --data ml-100k ml-1m --seeds 3

For each MovieLens data set and seed (Table 1's split: random 60/20/20), fits ``RecoNet()`` with
its defaults and Table 1's tuned iALS, each timed from the training split to the fitted model, and
scores both on test (recall@50). Beside them: RecoNet's Table 1 row (the attribute-aware output
layer, the paper's objective, tuned with 40 trials) and the fit time of RecoNet's paper objective
at its defaults (``RecoNet(sampling="removal")``) on the first seed.

Then a shop of ``--items`` items and about ``--interactions`` interactions
(``whyrec.data.synthetic``) stands in for a user's file: the default's fit on its training split.
Writes ``results/reconet_default.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from benchmarks.common import MOVIELENS_NAMES, data_dir, results_dir
from benchmarks.provenance import run_main, write_result
from whyrec.data import load_movielens, split, synthetic
from whyrec.data.splits import Split
from whyrec.metrics import evaluate
from whyrec.models import RecoNet
from whyrec.tuning.catalogue import build

RESULTS = results_dir("reconet_default")
ROW = "reconet_attribute_output"


def _fit(make: Any, parts: Split) -> tuple[float, float]:
    """Fit seconds and test recall@50 of one model."""
    start = time.perf_counter()
    model = make().fit(parts.train, parts.validation)
    seconds = time.perf_counter() - start
    known = parts.train.matrix() + parts.validation.matrix()
    return seconds, float(evaluate(model, parts.test, exclude=known, k=50)["recall@50"])


def movielens(data: str, seeds: int) -> dict[str, Any]:
    name = MOVIELENS_NAMES[data]
    table = json.loads((results_dir("accuracy") / f"accuracy_{name}.json").read_text())["results"]["models"]
    dataset = load_movielens(data_dir(data))
    runs = []
    for seed in range(seeds):
        parts = split(dataset, seed=seed)
        default = _fit(lambda s=seed: RecoNet(seed=s), parts)
        ials = _fit(lambda s=seed, p=parts: build("ials", table["ials"]["params"], s, p.train), parts)
        runs.append({"seed": seed, "reconet_default": default, "ials_tuned": ials})
        print(name, runs[-1], flush=True)
    paper = _fit(lambda: RecoNet(sampling="removal", seed=0), split(dataset, seed=0))
    default_s = float(np.median([r["reconet_default"][0] for r in runs]))
    ials_s = float(np.median([r["ials_tuned"][0] for r in runs]))
    return {
        "runs": runs,
        "reconet_default_fit_seconds_median": default_s,
        "reconet_default_recall@50_median": float(np.median([r["reconet_default"][1] for r in runs])),
        "ials_tuned_fit_seconds_median": ials_s,
        "ials_tuned_recall@50_median": float(np.median([r["ials_tuned"][1] for r in runs])),
        "fit_ratio_to_ials": default_s / ials_s,
        "table1_reconet_row": ROW,
        "table1_reconet_recall@50_median": table[ROW]["recall@50_median"],
        "table1_reconet_fit_seconds_mean": table[ROW]["fit_seconds_mean"],
        "paper_objective_defaults_seed0": {"fit_seconds": paper[0], "recall@50": paper[1]},
    }


def shop(items: int, interactions: int, seed: int) -> dict[str, Any]:
    users = max(1, interactions // 20)
    data = synthetic(n_users=users, n_items=items, seed=seed, mean_interactions=20.0).dataset
    parts = split(data, seed=seed)
    seconds, recall = _fit(lambda: RecoNet(seed=seed), parts)
    return {
        "users": users,
        "items": items,
        "interactions": int(data.n_interactions),
        "train_interactions": int(parts.train.n_interactions),
        "fit_seconds": seconds,
        "recall@50": recall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=list(MOVIELENS_NAMES), choices=list(MOVIELENS_NAMES))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--interactions", type=int, default=100_000)
    args = parser.parse_args()
    results: dict[str, Any] = {MOVIELENS_NAMES[d]: movielens(d, args.seeds) for d in args.data}
    results["shop"] = shop(args.items, args.interactions, seed=0)
    print(results["shop"])
    path = write_result(
        RESULTS / "reconet_default.json", data=[*args.data, "synthetic"], seed=list(range(args.seeds)), results=results
    )
    print(f"Wrote {path}")


if __name__ == "__main__":
    run_main(main)
