"""Training speed side by side: RecoNet (the default, with attributes), EASE and iALS in one run, on one split.

For each model: the total fit (early-stopping patience included), the time to the epoch whose
weights are kept (the best validation epoch; models without epochs: the whole fit), and test
recall@50. Parameters are the tuned ones (see `tuned_params`), else the settings named below. Each
model is fitted `--repeat` times and the median is reported.

`--reconet NAME` picks the RecoNet row of Table 1 to time (default: `reconet_attribute_output`, the
default model). `--sampled N ...` also times that RecoNet trained with a sampled softmax of N shared
negatives per batch (`loss="sampled"`), with its tuned parameters otherwise, twice: with sparse
gradients (weight decay 0, as they take none; the tuned one is near 0 on ml-1m-half: 9.3e-8) and
with dense ones (`_dense`, the tuned weight decay). `--bfloat16` also times that RecoNet with its
tuned parameters and bfloat16 training passes (`TrainingOptions(precision="bfloat16")`). `--masked`
also times Table 1's `reconet_masked` and `reconet_masked_fast` rows (the default's layer trained with
the masked objective, `sampling="masked"`, tuned for accuracy; and tuned in a space bounded for cost)
when they have been tuned, else that objective with `MASKED` below: the default's tuned dim and
weight decay, and settings picked by hand on the seed-0 validation split. The
sampled, bfloat16 and hand-picked rows are speed/accuracy trades measured in the same run, not
tuned models.

    python -m benchmarks.training_speed.run --data ml-1m --seed 0 --repeat 1 --sampled 256 --bfloat16 --masked

Writes benchmarks/training_speed/results/training_speed_<name>.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.common import MOVIELENS_NAMES, data_dir, results_dir
from benchmarks.provenance import write_result
from whyrec._runtime import tune_allocator
from whyrec.data import Split, load_movielens, split
from whyrec.evaluate import evaluate
from whyrec.models import RecoNet
from whyrec.models.training import TrainingOptions
from whyrec.tuning.catalogue import CANDIDATES, build
from whyrec.tuning.search import stored_best

RESULTS = results_dir("training_speed")

NAMES = MOVIELENS_NAMES
BASELINES = ("ease", "ials")
RECONET_ROWS = sorted(name for name, candidate in CANDIDATES.items() if candidate.factory is RecoNet)
# Used only when no tuned study exists: iALS from the 24-point grid of issue 15, EASE's usual λ.
FALLBACK: dict[str, dict[str, Any]] = {
    "ials": {"factors": 512, "unobserved_weight": 0.05, "relative_l2": 5.0, "iterations": 15},  # reg 100, alpha 20
    "ease": {"l2": 800.0},
}
# The masked objective before it has a Table 1 row: chosen in a short hand sweep on ml-1m-half's seed-0
# validation split (mask rates 0.05-0.5, learning rates 0.003-0.03, 32-128 users a batch).
MASKED = {"mask_rate": 0.05, "lr": 0.01, "lr_decay": 0.965, "batch_size": 128}
# Table 1's rows trained with the masked objective: tuned for accuracy, and tuned in a space bounded for cost
MASKED_ROWS = ("reconet_masked", "reconet_masked_fast")


def table_1(name: str) -> tuple[Path, dict[str, Any]]:
    """Table 1's JSON for `name` and its results (empty when it has not been run)."""
    path = results_dir("accuracy") / f"accuracy_{name}.json"
    return path, json.loads(path.read_text())["results"] if path.exists() else {}


def tuned_params(
    name: str, tuned_on: Split, reconet: str, trials: int = 40
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Each model's parameters and where they come from: Table 1's JSON, else a finished study in the
    tuning storage (a Table 1 run still under way, tuned on `tuned_on`: the seed-0 split), else the
    settings above. The 24-point grid's iALS (`ials_grid_<name>.json`) is timed too when present, as `ials_grid`."""
    params: dict[str, dict[str, Any]] = {}
    sources: dict[str, str] = {}
    path, table = table_1(name)
    storage = results_dir("accuracy") / f"tuning_{name}.db"
    for model in (reconet, *BASELINES):
        if "trials" in table and model in table["models"]:
            params[model], sources[model] = table["models"][model]["params"], f"tuned: {path.name}"
            continue
        best = stored_best(model, tuned_on, storage=storage, trials=trials, seed=0)
        if best is not None:
            params[model], sources[model] = best, f"tuned: {storage.name} ({trials} trials)"
        else:
            params[model], sources[model] = FALLBACK.get(model, {}), "default settings (no finished study)"
    grid = results_dir("tuning_budget") / f"ials_grid_{name}.json"
    if grid.exists():
        params["ials_grid"] = json.loads(grid.read_text())["results"]["params"]
        sources["ials_grid"] = f"grid: {grid.name}"
    return params, sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="ml-1m", choices=sorted(NAMES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reconet", default="reconet_attribute_output", choices=RECONET_ROWS)
    parser.add_argument("--sampled", type=int, nargs="*", default=[], metavar="N", help="negatives per batch")
    parser.add_argument("--bfloat16", action="store_true", help="also time RecoNet with bfloat16 training passes")
    parser.add_argument("--masked", action="store_true", help="also time RecoNet trained with the masked objective")
    args = parser.parse_args()
    tune_allocator()
    name = NAMES[args.data]
    dataset = load_movielens(data_dir(args.data), min_rating=3)
    parts = split(dataset, "random", seed=args.seed)
    known = parts.train.matrix() + parts.validation.matrix()
    reconet = args.reconet
    params, sources = tuned_params(name, parts if args.seed == 0 else split(dataset, "random", seed=0), reconet)
    catalogue = {model: model for model in params} | {"ials_grid": "ials"}
    variants = {"": {"weight_decay": 0.0}, "_dense": {"sparse_gradients": False}}
    for n, (suffix, change) in itertools.product(args.sampled, variants.items()):
        row = f"{reconet}_sampled_{n}{suffix}"
        sampled = {"loss": "sampled", "negatives": n, **change}
        params[row], catalogue[row] = {**params[reconet], **sampled}, reconet
        gradients = "dense gradients" if suffix else "sparse gradients, weight decay 0"
        sources[row] = f"{sources[reconet]}; sampled softmax, {n} negatives, {gradients}"
    options = {model: TrainingOptions() for model in params}
    if args.bfloat16:
        row = f"{reconet}_bfloat16"
        params[row], catalogue[row], options[row] = params[reconet], reconet, TrainingOptions(precision="bfloat16")
        sources[row] = f"{sources[reconet]}; bfloat16 training passes"
    if args.masked:
        path, table = table_1(name)
        for row in MASKED_ROWS:
            if "trials" in table and row in table["models"]:
                params[row], sources[row] = table["models"][row]["params"], f"tuned: {path.name}"
            else:
                kept = {key: params[reconet][key] for key in ("dim", "weight_decay")}
                params[row] = {**kept, **MASKED}
                sources[row] = f"{reconet}'s dim and weight decay; masked settings by hand"
            catalogue[row], options[row] = row, TrainingOptions()
    results: dict[str, Any] = {"reconet": reconet, "params_from": sources, "models": {}}
    for model_name in params:
        fits, to_best, recalls, epochs = [], [], [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            catalogue_name = catalogue[model_name]
            model = build(catalogue_name, params[model_name], args.seed, parts.train)
            model.fit(parts.train, parts.validation, options=options[model_name])
            fits.append(time.perf_counter() - start)
            best = getattr(model, "time_to_best_", None)
            to_best.append(fits[-1] if best is None else float(best))
            epochs.append(getattr(model, "best_epoch_", None))
            recalls.append(evaluate(model, parts.test, exclude=known, k=50)["recall@50"])
        results["models"][model_name] = {
            "params": params[model_name],
            "fit_seconds": fits,
            "fit_seconds_median": statistics.median(fits),
            "seconds_to_best_median": statistics.median(to_best),
            "best_epoch": epochs,
            "epochs_run": len(model.history_) if hasattr(model, "history_") else None,
            "test_recall@50": recalls,
        }
        m = results["models"][model_name]
        print(
            f"{model_name}: fit {m['fit_seconds_median']:.1f} s (to best {m['seconds_to_best_median']:.1f} s), "
            f"recall@50 {statistics.median(recalls):.4f}"
        )
    ials = results["models"]["ials"]["fit_seconds_median"]
    reconet_fit = results["models"][reconet]["fit_seconds_median"]
    results["reconet_over_ials_fit"] = reconet_fit / ials
    if "ials_grid" in results["models"]:
        results["reconet_over_ials_grid_fit"] = reconet_fit / results["models"]["ials_grid"]["fit_seconds_median"]
    if args.bfloat16:
        results["reconet_bfloat16_over_ials_fit"] = (
            results["models"][f"{reconet}_bfloat16"]["fit_seconds_median"] / ials
        )
    for row in MASKED_ROWS if args.masked else ():
        results[f"{row}_over_ials_fit"] = results["models"][row]["fit_seconds_median"] / ials
    for n, suffix in itertools.product(args.sampled, variants):
        sampled = results["models"][f"{reconet}_sampled_{n}{suffix}"]["fit_seconds_median"]
        results[f"reconet_sampled_{n}{suffix}_over_ials_fit"] = sampled / ials
    path = write_result(
        RESULTS / f"training_speed_{name}.json",
        data=f"{name} (ratings >= 3, random 60/20/20, seed {args.seed} split)",
        seed=args.seed,
        results=results,
    )
    print(f"RecoNet / iALS total fit: {results['reconet_over_ials_fit']:.1f}x -> {path}")


if __name__ == "__main__":
    main()
