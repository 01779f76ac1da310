"""Table 1: every model tuned with the same number of Optuna trials; test recall and NDCG over seeds.

    python -m benchmarks.accuracy.run --data movielens:../shared/datasets/ml-100k --name ml-100k
    python -m benchmarks.accuracy.run --data movielens:../shared/datasets/ml-1m --name ml-1m-half
    python -m benchmarks.accuracy.run --data synthetic --name synthetic

Each model's study is kept in ``results/tuning_NAME.db`` (not committed), so that a killed run resumes.
``--add --models a,b`` adds rows to a stored table run with the same data, seeds, trials, sampler
and growth trials. Writes ``results/accuracy_NAME.json``, its Markdown table and a page of the
searches' figures.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from benchmarks.accuracy.table1 import accuracy_table, add_to_study, tuning_figures
from benchmarks.common import results_dir
from benchmarks.provenance import run_main, stored_result, write_result
from whyrec._io import write_text_atomic
from whyrec.data.spec import load_spec
from whyrec.tuning import compare
from whyrec.viz.page import write_page

RESULTS = results_dir("accuracy")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="synthetic", help="a whyrec data spec (see `whyrec train --help`)")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON, Markdown and HTML results")
    p.add_argument("--name", help="name used in the file names (default: from the data)")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (0..N-1): splits and model initialisations")
    p.add_argument("--trials", type=int, default=40, help="Optuna trials per model (the same for all)")
    p.add_argument("--jobs", type=int, default=1, help="trials run at once (threads)")
    p.add_argument("--storage", type=Path, help="SQLite file keeping the studies (default: OUT/tuning_NAME.db)")
    p.add_argument("--models", help="comma-separated subset of the models (default: all)")
    p.add_argument("--sampler", default="tpe", help="tpe, tpe_multivariate or gp")
    p.add_argument("--grow", type=int, default=0, help="growth trials after the sampler's (capacity doubled)")
    p.add_argument("--add", action="store_true", help="add the --models' rows to the stored table")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    name = args.name or args.data.split(":")[0]
    chosen = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    target = args.out / f"accuracy_{name}.json"
    previous = stored_result(target, "models", "an accuracy study", chosen) if args.add else None
    dataset = load_spec(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    storage = args.storage or args.out / f"tuning_{name}.db"
    seeds = list(range(args.seeds))
    results = compare(
        dataset,
        models=chosen,
        seeds=seeds,
        trials=args.trials,
        jobs=args.jobs,
        storage=storage,
        sampler=args.sampler,
        grow=args.grow,
        log=print,
    )
    figures = tuning_figures(results)
    results.pop("studies")
    if previous is not None:
        results = add_to_study(previous, results, args.data)
    # with --add, this run's figures get their own page: the others' studies may not be at hand
    page = args.out / (f"tuning_{name}_{'_'.join(chosen or [])}.html" if args.add else f"tuning_{name}.html")
    path = write_result(target, data=args.data, seed=seeds, results=results)
    write_text_atomic(args.out / f"accuracy_{name}.md", accuracy_table(results))
    budget = f"{args.trials} Optuna trials per model (seeded {args.sampler})"
    budget += f" and {args.grow} growth trials" if args.grow else ""
    write_page(page, f"Tuning on {name}", figures, notes=[f"{budget}; source {path.name}"])
    print(accuracy_table(results))
    print(f"Wrote {path}, {args.out / f'accuracy_{name}.md'} and {page}")


if __name__ == "__main__":
    run_main(main)
