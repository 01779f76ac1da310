"""Compare models on your data under one tuning budget: the harness behind ``whyrec compare``.

Every model gets the same budget: `trials` Optuna trials over its search space
(:data:`~whyrec.tuning.catalogue.CANDIDATES`, searched by :func:`~whyrec.tuning.search.tune`),
each fitted on the training split and scored by recall@50 on the validation split. The search
runs on the first seed's split; the winning configuration is then refitted on every seed's split
(split and model seeds both follow the seed), its fit timed, and scored once on its test split
over the full catalogue, with training and validation positives excluded. This is the protocol of
RecoNet's accuracy comparison (section 5.1), written for any data set, as cornac's ``Experiment``
is for its models.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from whyrec.data.dataset import Dataset
from whyrec.data.splits import Split, split
from whyrec.errors import ParameterError
from whyrec.metrics import evaluate
from whyrec.tuning.catalogue import CANDIDATES, build
from whyrec.tuning.search import require_grow, require_sampler, require_trials, tune

RANKING = "ranking_by_median_recall@50"


def compare(
    dataset: Dataset,
    *,
    models: Sequence[str] | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    trials: int = 40,
    jobs: int = 1,
    storage: str | Path | None = None,
    sampler: str = "tpe",
    grow: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Tune every model in `models` with the same budget and score the winners on every seed's test split.

    Returns, per model, the tuned parameters, every trial, the search's cost and the test recall@20/50,
    NDCG@50 and fit time per seed with their mean, median and spread; models are ranked by median test
    recall@50 under ``"ranking_by_median_recall@50"``. `storage` (an SQLite file) keeps every model's
    study, so that a killed run resumes. The Optuna studies themselves are under ``"studies"`` (not
    JSON; for figures of the search).
    """
    names = list(models or CANDIDATES)
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        raise ParameterError(f"unknown model(s) {unknown}; known models: {', '.join(CANDIDATES)}")
    if not seeds:
        raise ParameterError("a comparison needs at least one seed")
    require_trials(trials)
    require_sampler(sampler)
    require_grow(grow)
    splits = {s: split(dataset, seed=s) for s in seeds}
    out: dict[str, Any] = {"models": {}, "seeds": list(seeds), "trials": trials, "sampler": sampler, "studies": {}}
    if grow:  # named only when used, so that results stored before the option still compare
        out["grow"] = grow
    for name in names:
        tuned = tune(
            name,
            splits[seeds[0]],
            trials=trials,
            seed=seeds[0],
            storage=storage,
            jobs=jobs,
            sampler=sampler,
            grow=grow,
            log=log,
        )
        runs, summary = score_on_seeds(name, tuned["params"], splits)
        out["models"][name] = {**_search_record(tuned), "runs": runs, **summary}
        out["studies"][name] = tuned["study"]
        if log:
            log(f"{name}: test recall@50 median {summary['recall@50_median']:.4f} (± {summary['recall@50_std']:.4f})")
    out[RANKING] = rank(out["models"])
    return out


def rank(models: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Model names, best median test recall@50 first."""
    return sorted(models, key=lambda n: -models[n]["recall@50_median"])


def _search_record(tuned: Mapping[str, Any]) -> dict[str, Any]:
    """What a comparison keeps of one model's search (see :func:`~whyrec.tuning.search.tune`)."""
    keys = ("params", "trials", "search_seconds", "validation", "boundary", "pruned", "failed", "best_stage")
    record = {key: tuned[key] for key in keys}
    if tuned.get("restored"):
        record["sampler_trials_from"] = tuned["restored"]
    return record


def score_on_seeds(
    name: str, params: Mapping[str, Any], splits: Mapping[int, Split], *, with_validation: bool = False
) -> tuple[list, dict[str, float]]:
    """Model `name` with `params` refitted on every seed's split and scored once on test: the runs and
    their mean, median and std of recall@20/50, NDCG@50 and fit time. `with_validation` also keeps
    each run's validation recall@50 (training positives excluded), the figure tuning maximises."""
    runs = []
    for s, parts in splits.items():
        start = time.perf_counter()
        model = build(name, params, s, parts.train).fit(parts.train, parts.validation)
        seconds = time.perf_counter() - start
        known = parts.train.matrix() + parts.validation.matrix()
        metrics = evaluate(model, parts.test, exclude=known, k=(20, 50))
        runs.append(
            {"seed": s, "fit_seconds": seconds, **{k: metrics[k] for k in ("recall@20", "recall@50", "ndcg@50")}}
        )
        if with_validation:
            runs[-1]["validation"] = evaluate(model, parts.validation, exclude=parts.train.matrix(), k=50)["recall@50"]
    summary = {
        f"{metric}_{stat}": float(fn([r[metric] for r in runs]))
        for metric in ("recall@20", "recall@50", "ndcg@50", "fit_seconds")
        for stat, fn in (("mean", np.mean), ("median", np.median), ("std", np.std))
    }
    return runs, summary
