"""Restore Table 1's Optuna studies from its result JSON, so that growth trials can follow them.

A Table 1 search keeps its study in an SQLite file beside the results (not committed). Where that
file is gone, the result JSON (benchmarks/accuracy/results/accuracy_<name>.json) still holds every trial:
its parameters, state, validation recall@50 and epochs. This writes those trials back into
benchmarks/accuracy/results/tuning_<name>.db with :func:`restore_study`, on the same data
spec and first seed's split as the table, so that

    python -m benchmarks.accuracy.run --data SPEC --name NAME --seeds 3 --trials 40 --grow 4

runs only each model's growth trials (and the sampler's trials that fill the growth slots left)
instead of the 40 sampler trials again. Each restored study keeps the command and revision that ran
its trials; the new table names them per model under "sampler_trials_from". A study the storage
already holds is left as it is.

    python -m benchmarks.accuracy.restore_studies --name ml-1m-half
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna

from benchmarks.common import results_dir
from benchmarks.provenance import earlier_runs, run_of
from whyrec.data.spec import load_spec
from whyrec.data.splits import Split, split
from whyrec.errors import DataError, ParameterError
from whyrec.tuning.catalogue import CANDIDATES, require_known
from whyrec.tuning.search import STATES, distribution, model_study, require_sampler, settings_of, within

RESULTS = results_dir("accuracy")


def restore_study(
    name: str,
    parts: Split,
    records: Sequence[Mapping[str, Any]],
    *,
    storage: str | Path,
    seed: int = 0,
    sampler: str = "tpe",
    search_seconds: float = 0.0,
    source: Mapping[str, Any] | None = None,
) -> int:
    """Write the trials of a finished search, as its result JSON records them (``tune(...)["trials"]``),
    into `storage`, so that :func:`tune` resumes from them; returns how many were written.

    For a search whose SQLite file is gone while its result JSON, which keeps every trial, is not:
    growth trials can then follow its sampler's trials without running those again. A pruned trial
    keeps its last validation score, as its value and at its last epoch (the JSON has no earlier
    epochs); a trial left running by a killed run is skipped, as :func:`tune` skips it. `source`
    (the command and revision that ran the trials) is kept with the study and returned by
    :func:`tune` as ``"restored"``. A storage that already holds trials of `name` is refused.
    """
    require_known(name)
    require_sampler(sampler)
    space = CANDIDATES[name].space
    distributions = {key: distribution(dim) for key, dim in space.items()}
    optuna.logging.set_verbosity(logging.ERROR)
    frozen = []
    for number, record in enumerate(records):
        if record.get("state") in ("running", "waiting"):
            continue  # a trial of a killed run, which never ended: tune() does not count it either
        params = dict(record.get("params", {}))
        if set(params) != set(space):
            raise DataError(f"trial {number} of {name} has parameters {sorted(params)}; its space has {sorted(space)}")
        for key, value in params.items():
            if not within(space[key], value):
                raise DataError(f"trial {number} of {name}: {key}={value!r} lies outside its search range")
        state = STATES.get(str(record.get("state")))
        if state is None:
            raise DataError(f"trial {number} of {name} has state {record.get('state')!r}; one of {', '.join(STATES)}")
        value = record.get("validation")
        steps = int(record.get("epochs_reported") or 0)
        frozen.append(
            optuna.trial.create_trial(
                state=state,
                value=None if state == optuna.trial.TrialState.FAIL else value,
                params=params,
                distributions={k: distributions[k] for k in params},
                intermediate_values={steps: float(value)} if steps and value is not None else None,
                user_attrs={"fit_seconds": record.get("fit_seconds"), "stage": record.get("stage", "search")},
            )
        )
    # every record is checked before the study is opened: a bad one leaves no study behind
    study = model_study(
        name, settings_of(name, parts, seed, sampler), seed, storage, pruning=CANDIDATES[name].epochs, sampler=sampler
    )
    if study.trials:
        raise ParameterError(f"the tuning storage {storage} already holds {len(study.trials)} trials of {name!r}")
    study.add_trials(frozen)
    study.set_user_attr("search_seconds", float(search_seconds))
    if source is not None:
        study.set_user_attr("restored", {**dict(source), "trials": len(frozen)})
    return len(frozen)


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
        written = restore_study(
            name,
            parts,
            row["trials"],
            storage=storage,
            seed=results["seeds"][0],
            sampler=results.get("sampler", "tpe"),
            search_seconds=row["search_seconds"],
            source=source,
        )
        print(f"{name}: restored {written} trials (run at {source['git_revision']})")


if __name__ == "__main__":
    main()
