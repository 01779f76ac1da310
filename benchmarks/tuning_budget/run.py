"""Is a tuner's shortfall its budget or its sampler? One model's study, grown trial budget by budget.

Issue 15 asks the tuner to find at least what the 24-point iALS grid finds. On ml-1m-half, 40 TPE
trials did not (Table 1). Here one model is tuned on the first seed's split with each sampler
(`whyrec.tuning.search.SAMPLERS`), one trial at a time (`jobs` 1, so the run repeats exactly). The
study grows from one budget to the next, and at each budget the best configuration so far is refitted
on every seed's split and scored once on test, as in Table 1. This is a diagnostic: Table 1 gives
every model the same sampler and budget, and a change of either must be given to all of them.

    python -m benchmarks.tuning_budget.run --data ml-1m --model ials --budgets 40 80 120
    python -m benchmarks.tuning_budget.run --data ml-1m --model ials --samplers --capacity factors 64 128 256 512 1024

`--capacity PARAM V...` takes the model's tuned configuration from Table 1
(benchmarks/accuracy/results/accuracy_<name>.json) and refits it with only PARAM changed to each value
(validation on seed 0, and test on every seed): whether what the search missed is that one
parameter (values outside its search range show whether the range is too narrow). Probes are kept
by parameter: a probe of another parameter replaces none. Give every model of a comparison the
same probe. With `--samplers` and no names, no study is run or grown.

Writes benchmarks/tuning_budget/results/tuning_budget_<name>_<model>.json after every budget; the samplers not run
this time keep their stored rows, and `earlier_runs` names the command and revision behind each. The
studies are kept in benchmarks/tuning_budget/results/tuning_budget_<name>_<sampler>.db (not committed), so that a
killed run resumes.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from benchmarks.common import MOVIELENS_NAMES, data_dir, results_dir
from benchmarks.provenance import earlier_runs, run_of, write_result
from whyrec.data import load_movielens, split
from whyrec.tuning import score_on_seeds
from whyrec.tuning.catalogue import CANDIDATES, Choice, Dimension, IntRange
from whyrec.tuning.search import SAMPLERS, tune

RESULTS = results_dir("tuning_budget")

NAMES = MOVIELENS_NAMES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="ml-1m", choices=sorted(NAMES))
    parser.add_argument("--model", default="ials")
    parser.add_argument("--budgets", type=int, nargs="+", default=[40, 80, 120])
    parser.add_argument("--samplers", nargs="*", default=list(SAMPLERS), choices=SAMPLERS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--capacity",
        nargs="+",
        default=None,
        metavar="PARAM V",
        help="a parameter and the values to refit the best configuration with",
    )
    args = parser.parse_args()
    name = NAMES[args.data]
    dataset = load_movielens(data_dir(args.data), min_rating=3)
    splits = {s: split(dataset, seed=s) for s in range(args.seeds)}
    out = RESULTS / f"tuning_budget_{name}_{args.model}.json"
    data = f"{name} (ratings >= 3, random 60/20/20, seeds 0..{args.seeds - 1}; tuned on seed 0)"
    results: dict[str, Any] = {"model": args.model, "budgets": sorted(args.budgets), "samplers": {}}
    probes: dict[str, Any] = {}  # by parameter
    if out.exists():  # keep the rows of the samplers not run now, with the runs that made them
        previous = json.loads(out.read_text())
        if previous["data"] == data and previous["results"]["model"] == args.model:
            stored = previous["results"]["samplers"]
            kept = {k: v for k, v in stored.items() if k not in args.samplers}
            results["samplers"] = kept
            results["earlier_runs"] = earlier_runs(previous, list(stored), args.samplers, key="samplers")
            run_now = set(args.budgets) if args.samplers else set()
            results["budgets"] = sorted({row["trials"] for rows in kept.values() for row in rows} | run_now)
            stored_probes = dict(previous["results"].get("probes", {}))
            if previous["results"].get("capacity"):  # a file from before probes were kept by parameter
                stored_probes.setdefault(previous["results"]["capacity"]["parameter"], previous["results"]["capacity"])
            # a stored probe of another parameter stays, with the run that made it
            probes = {p: {"run": run_of(previous), **probe} for p, probe in stored_probes.items()}
            if args.capacity:
                probes.pop(args.capacity[0], None)
            if probes:
                results["probes"] = probes
    for sampler in args.samplers:
        rows = []
        storage = RESULTS / f"tuning_budget_{name}_{sampler}.db"  # each sampler's study grows in its own file
        for budget in sorted(args.budgets):
            # jobs=1 keeps the run exactly repeatable
            tuned = tune(args.model, splits[0], trials=budget, seed=0, storage=storage, sampler=sampler)
            runs, summary = score_on_seeds(args.model, tuned["params"], splits)
            rows.append(
                {
                    "trials": budget,
                    "params": tuned["params"],
                    "validation": tuned["validation"],
                    "boundary": tuned["boundary"],
                    "search_seconds": tuned["search_seconds"],
                    "runs": runs,
                    **summary,
                }
            )
            print(
                f"{sampler} {budget} trials: validation {tuned['validation']:.4f}, test recall@50 median "
                f"{summary['recall@50_median']:.4f}, {tuned['params']}"
            )
            results["samplers"][sampler] = rows
            path = write_result(out, data=data, seed=list(splits), results=results)  # after every budget
            print(f"-> {path}")
    if args.capacity:
        probes[args.capacity[0]] = capacity_probe(args.model, splits, args.capacity, name)
        results["probes"] = probes
        path = write_result(out, data=data, seed=list(splits), results=results)
        print(f"-> {path}")


def capacity_probe(model: str, splits: dict, spec: list[str], name: str) -> dict[str, Any]:
    """The model's Table 1 configuration refitted with one parameter changed to each value."""
    parameter, space = spec[0], CANDIDATES[model].space
    if parameter not in space or len(spec) < 2:
        raise SystemExit(f"--capacity needs one of {model}'s searched parameters ({', '.join(space)}) and values")
    values = [_as_drawn(space[parameter], v) for v in spec[1:]]
    source = results_dir("accuracy") / f"accuracy_{name}.json"
    row = json.loads(source.read_text())["results"]["models"][model]
    rows = []
    for value in values:
        params = {**row["params"], parameter: value}
        runs, summary = score_on_seeds(model, params, splits, with_validation=True)
        validation = float(runs[0]["validation"])  # the first seed's split is the one the studies tuned on
        rows.append({"value": value, "validation": validation, "runs": runs, **summary})
        print(f"{parameter}={value}: validation {validation:.4f}, test {summary['recall@50_median']:.4f}", flush=True)
    return {
        "source": source.name,
        "params": row["params"],
        "validation": row["validation"],
        "recall@50_median": row["recall@50_median"],
        "parameter": parameter,
        "rows": rows,
    }


def _as_drawn(dimension: Dimension, value: str) -> Any:
    """`value` in the type the model's search draws for `dimension` (a batch size is an int, not 8192.0)."""
    if isinstance(dimension, Choice) and not isinstance(dimension.values[0], int | float):
        return value
    if isinstance(dimension, IntRange) or (isinstance(dimension, Choice) and isinstance(dimension.values[0], int)):
        return int(float(value))
    return float(value)


if __name__ == "__main__":
    main()
