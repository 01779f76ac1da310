"""Accuracy against fit time: each model's Pareto front, searched with two objectives, in one run.

Issue 15 asks for RecoNet's fit on ml-1m-half within 4x the tuned iALS's. Table 1 tunes for
accuracy alone, so its configurations say little about what fits in a given time. Here each model's
Table 1 search space is searched again for validation recall@50 and fit seconds at once
(`benchmarks.cost_frontier.frontier.cost_frontier`: multi-objective TPE, every model the same number of
trials, one trial at a time on the seed-0 split). Each study's first trial is the model's Table 1
configuration, tuned for accuracy alone: in a first run without it, 40 two-objective trials left
iALS's front at validation 0.3900 (Table 1's iALS: 0.4037). The reference is Table 1's tuned iALS, fitted
`--repeat` times at the start of the run (median); a fit that passes `--cap` times the reference is
stopped and its trial pruned. For each model the run reports its front and the front's most accurate
trial within 1x, 2x, 4x and the cap's multiple of the reference, with the test recall@50 of the same fit.

    python -m benchmarks.cost_frontier.run --data ml-1m --trials 40

Run it alone: trials are timed. The studies are kept in benchmarks/cost_frontier/results/cost_frontier_<name>.db (not
committed), so that a killed run resumes. A resumed run keeps the reference fit its studies were run
with, refuses another `--reference` or `--cap`, and names in `earlier_runs` the command and revision
behind the models it did not search.
Writes benchmarks/cost_frontier/results/cost_frontier_<name>.json and an HTML figure beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

from benchmarks.common import MOVIELENS_NAMES, data_dir, results_dir
from benchmarks.cost_frontier.frontier import best_within, cost_frontier
from benchmarks.provenance import earlier_runs, write_result
from whyrec._runtime import tune_allocator
from whyrec.data import load_movielens, split
from whyrec.evaluate import evaluate
from whyrec.tuning.catalogue import build
from whyrec.viz.figures import cost_frontier_figure
from whyrec.viz.page import write_page

RESULTS = results_dir("cost_frontier")

NAMES = MOVIELENS_NAMES
MULTIPLES = (1.0, 2.0, 4.0)
# the peers that Table 1 ranks highest on ml-1m-half, and RecoNet's default and masked rows
MODELS = ("ials", "ease", "reconet_masked_fast", "reconet_masked", "reconet_attribute_output")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="ml-1m", choices=sorted(NAMES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--reference", default="ials", help="the Table 1 row whose fit is the unit of cost")
    parser.add_argument("--repeat", type=int, default=3, help="fits of the reference (median)")
    parser.add_argument("--cap", type=float, default=8.0, help="stop a fit past this multiple of the reference")
    args = parser.parse_args()
    tune_allocator()
    name = NAMES[args.data]
    parts = split(load_movielens(data_dir(args.data), min_rating=3), "random", seed=args.seed)
    out = RESULTS / f"cost_frontier_{name}.json"
    storage = RESULTS / f"cost_frontier_{name}.db"
    table = json.loads((results_dir("accuracy") / f"accuracy_{name}.json").read_text())["results"]["models"]
    data = f"{name} (ratings >= 3, random 60/20/20, seed {args.seed})"
    previous = json.loads(out.read_text()) if out.exists() else None
    if previous is not None and previous["data"] == data and storage.exists():
        # the stored studies were run with this cap: a re-measured reference would give another and be refused
        results: dict[str, Any] = previous["results"]
        stored = (results["reference"]["model"], results["cap_multiple"])
        if stored != (args.reference, args.cap):
            sys.exit(
                f"the studies in {storage.name} were run with reference {stored[0]} and cap {stored[1]:g}x; "
                f"run with those, or delete {storage.name} and {out.name} to start over"
            )
        # the runs behind the models not searched now (the command and revision that made each row)
        results["earlier_runs"] = earlier_runs(previous, list(results["models"]), args.models)
        print(f"reference kept from {out.name}: {results['reference']['fit_seconds']:.2f} s")
    else:
        results = {"reference": reference_fit(args.reference, table[args.reference]["params"], parts, args)}
        results["cap_multiple"] = args.cap
        results["models"] = {}
    unit = results["reference"]["fit_seconds"]
    cap = results["cap_multiple"] * unit
    print(f"reference {args.reference}: {unit:.2f} s; cap {cap:.1f} s")
    for model in args.models:
        # each study tries Table 1's configuration first: a search that also weighs cost may not find it again
        first = [table[model]["params"]] if model in table else []
        study = cost_frontier(
            model, parts, cap=cap, trials=args.trials, seed=args.seed, storage=storage, first=first, log=print
        )
        multiples = sorted({*MULTIPLES, results["cap_multiple"]})
        study["within"] = {f"{m:g}x": best_within(study["front"], m * unit) for m in multiples}
        study["table_1"] = {
            k: table[model][k] for k in ("params", "validation", "recall@50_median") if k in table[model]
        }
        results["models"][model] = study
        write_result(out, data=data, seed=args.seed, results=results)
        for label, best in study["within"].items():
            shown = (
                "none"
                if best is None
                else f"validation {best['validation']:.4f}, test {best['test']:.4f}, {best['fit_seconds']:.1f} s"
            )
            print(f"{model} within {label}: {shown}")
    figure = cost_frontier_figure(
        results["models"], title=f"Validation recall@50 against fit time, {name}", reference=unit
    )
    write_page(
        out.with_suffix(".html"),
        f"Accuracy against fit time, {name}",
        [figure],
        notes=[
            f"Reference: Table 1's {args.reference}, {unit:.2f} s a fit "
            f"(median of {len(results['reference']['fits'])}). "
            f"Fits past {cap:.1f} s were stopped."
        ],
    )
    print(f"wrote {out}")


def reference_fit(model: str, params: dict[str, Any], parts: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Table 1's configuration of `model` fitted `args.repeat` times: its median fit seconds and test recall@50."""
    fits, recalls = [], []
    known = parts.train.matrix() + parts.validation.matrix()
    for _ in range(args.repeat):
        start = time.perf_counter()
        fitted = build(model, params, args.seed, parts.train).fit(parts.train, parts.validation)
        fits.append(time.perf_counter() - start)
        recalls.append(float(evaluate(fitted, parts.test, exclude=known, k=50)["recall@50"]))
    return {
        "model": model,
        "params": params,
        "fit_seconds": statistics.median(fits),
        "fits": fits,
        "test": statistics.median(recalls),
    }


if __name__ == "__main__":
    main()
