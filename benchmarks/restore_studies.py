"""Restore Table 1's Optuna studies from its result JSON, so that growth trials can follow them.

A Table 1 search keeps its study in an SQLite file beside the results (not committed). Where that
file is gone, the result JSON (benchmarks/results/accuracy_<name>.json) still holds every trial:
its parameters, state, validation recall@50 and epochs. This writes those trials back into
benchmarks/results/tuning_<name>.db with `whyrec.studies.tuning.restore_study`, on the same data
spec and first seed's split as the table, so that

    whyrec benchmark accuracy --data SPEC --name NAME --seeds 3 --trials 40 --grow 4

runs only each model's growth trials (and the sampler's trials that fill the growth slots left)
instead of the 40 sampler trials again. Each restored study keeps the command and revision that ran
its trials; the new table names them per model under "sampler_trials_from". A study the storage
already holds is left as it is.

    python benchmarks/restore_studies.py --name ml-1m-half
"""

from __future__ import annotations

import argparse
import json
import sys

import optuna

from _common import RESULTS
from whyrec.data.spec import load_spec
from whyrec.data.splits import split
from whyrec.studies.accuracy import earlier_runs
from whyrec.studies.provenance import run_of
from whyrec.studies.tuning import restore_study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="the table's name: accuracy_NAME.json")
    parser.add_argument("--models", nargs="*", default=None, help="default: every model of the table")
    args = parser.parse_args()
    table = RESULTS / f"accuracy_{args.name}.json"
    if not table.is_file():
        sys.exit(f"{table} does not exist")
    stored = json.loads(table.read_text())
    results = stored["results"]
    if results.get("grow"):
        sys.exit(f"{table} already has growth trials: its studies are not a sampler's alone")
    storage = RESULTS / f"tuning_{args.name}.db"
    held = {s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{storage}")} if storage.exists() else set()
    parts = split(load_spec(stored["data"]), seed=results["seeds"][0])
    # the run behind each row: earlier_runs attributes every row of the table to the run that made it
    runs = earlier_runs(stored, list(results["models"]), ())
    for name in args.models or list(results["models"]):
        row = results["models"][name]
        if not row["trials"]:
            continue  # nothing searched (popularity)
        if name in held:
            print(f"{name}: kept the study {storage.name} holds")
            continue
        source = run_of(next(run for run in runs if name in run["models"]))
        written = restore_study(name, parts, row["trials"], storage=storage, seed=results["seeds"][0],
                                sampler=results.get("sampler", "tpe"), search_seconds=row["search_seconds"],
                                source=source)  # fmt: skip
        print(f"{name}: restored {written} trials (run at {source['git_revision']})")


if __name__ == "__main__":
    main()
