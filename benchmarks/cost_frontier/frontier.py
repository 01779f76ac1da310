"""Accuracy against training cost: a two-objective Optuna study per model, and its Pareto front.

Table 1 (``benchmarks/accuracy``) tunes every model for validation recall alone, and the
training-speed benchmark times the winners. Neither answers "what is the most accurate
configuration that fits in t seconds?". Here one study per model searches the model's Table 1
space (:data:`whyrec.tuning.catalogue.CANDIDATES`) for two objectives at once, validation
recall@50 (maximised) and the fit's wall-clock seconds (minimised), with Optuna's multi-objective
TPE sampler (Ozaki et al., 2020), seeded. Its front is the set of finished trials that no other
trial beats on both.

A fit that passes `cap` seconds is stopped at the end of the epoch where it does (a model without
epochs, such as iALS or EASE, at its end) and its trial is recorded as pruned: the front stops at
the cap, and a search costs at most `trials` x `cap`. Trials run one at a time with all the cores,
so that their times compare; run the search alone on the machine. Every trial also scores recall@50
on the test split from the same fit (training and validation positives excluded). That figure is
recorded, never used to choose.

A study can live in Optuna's SQLite storage: a killed run keeps every finished trial. A stored
study run with other settings (search space, seed, data, cap) is refused, not mixed.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
import plotly.graph_objects as go

from whyrec.data.splits import Split
from whyrec.errors import ParameterError, TrainingDivergedError, first_line
from whyrec.metrics import evaluate
from whyrec.models.training import EpochRecord, TrainingOptions
from whyrec.tuning.catalogue import CANDIDATES, build, check_space, require_known
from whyrec.tuning.search import METRIC, describe, open_study, require_trials, settings_of, suggest, within
from whyrec.viz.figures import colour

OBJECTIVES = (f"validation {METRIC}", "fit seconds")


class _OverCap(optuna.TrialPruned):
    """A fit that passed the cost cap."""


def cost_frontier(
    name: str,
    parts: Split,
    *,
    cap: float,
    trials: int = 40,
    seed: int = 0,
    storage: str | Path | None = None,
    first: Sequence[Mapping[str, Any]] = (),
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Search model `name` for validation recall@50 and fit seconds at once (see the module
    docstring); returns every trial, the Pareto front sorted by fit time, the search's wall-clock
    seconds and the cap. `cap` is in seconds: a fit that passes it is stopped and its trial pruned.

    `first` are configurations the study tries before its sampler draws, counted among its `trials`
    (for example Table 1's, tuned for accuracy alone, which a search that also weighs cost may not
    find again); each must lie in the model's search space."""
    require_known(name)
    require_trials(trials)
    if isinstance(cap, bool) or not isinstance(cap, int | float) or not math.isfinite(cap) or cap <= 0:
        raise ParameterError(f"cap must be a positive number of seconds, got {cap!r}")
    candidate = CANDIDATES[name]
    if not candidate.space:
        raise ParameterError(f"{name!r} has no search space, so it has no front; models with one: {_searched()}")
    check_space(name, candidate.space)
    optuna.logging.set_verbosity(logging.ERROR)
    if len(first) > trials:
        raise ParameterError(f"{len(first)} configurations given to try first, more than the {trials} trials")
    for number, params in enumerate(first):
        outside = sorted(set(params) ^ set(candidate.space)) or [
            k for k, v in params.items() if not within(candidate.space[k], v)
        ]
        if outside:
            raise ParameterError(f"configuration {number} of `first` does not fit {name}'s search space: {outside}")
    settings = {**settings_of(name, parts, seed), "objectives": list(OBJECTIVES), "cap": float(cap)}
    if first:
        settings["first"] = [dict(params) for params in first]
    study = _study(name, settings, seed, storage)
    if not study.trials:
        for params in first:
            study.enqueue_trial(dict(params))
    done = [t for t in study.trials if t.state.is_finished()]
    remaining = max(0, trials - len(done))
    train_known = parts.train.matrix()
    test_known = train_known + parts.validation.matrix()

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        params = suggest(trial, candidate.space)
        start = time.perf_counter()

        def stop_over_cap(record: EpochRecord) -> None:
            elapsed = time.perf_counter() - start
            if elapsed > cap:
                raise _OverCap(f"the fit passed the cap ({elapsed:.1f} s > {cap:.1f} s) at epoch {record.epoch}")

        try:
            model = build(name, params, seed, parts.train)
            model.fit(parts.train, parts.validation, options=TrainingOptions(callbacks=(stop_over_cap,)))
            seconds = time.perf_counter() - start
            if seconds > cap:
                raise _OverCap(f"the fit took {seconds:.1f} s, over the cap of {cap:.1f} s")
            score = float(evaluate(model, parts.validation, exclude=train_known, k=50)[METRIC])
            if not math.isfinite(score):
                raise TrainingDivergedError(f"{name} scored {score} on validation")
        except (_OverCap, TrainingDivergedError) as exc:
            trial.set_user_attr("stopped", first_line(exc))
            if log:
                log(f"  {name} trial {trial.number}: {describe(params)} -> stopped: {first_line(exc)}")
            raise
        trial.set_user_attr("fit_seconds", seconds)
        trial.set_user_attr("test", float(evaluate(model, parts.test, exclude=test_known, k=50)[METRIC]))
        if log:
            log(f"  {name} trial {trial.number}: {describe(params)} -> validation {score:.4f} ({seconds:.1f} s)")
        return score, seconds

    before = float(study.user_attrs.get("search_seconds", 0.0))
    started = time.perf_counter()

    def record_time(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        study.set_user_attr("search_seconds", before + time.perf_counter() - started)

    if remaining:
        # a diverged trial is recorded as failed and the search goes on
        study.optimize(
            objective, n_trials=remaining, gc_after_trial=True, callbacks=[record_time], catch=(TrainingDivergedError,)
        )
    records = [_trial(t) for t in study.trials]
    front = sorted((_trial(t) for t in study.best_trials), key=lambda r: (r["fit_seconds"], -r["validation"]))
    return {
        "model": name,
        "objectives": list(OBJECTIVES),
        "cap_seconds": float(cap),
        "trials": records,
        "front": front,
        "search_seconds": before + time.perf_counter() - started if remaining else before,
        "trials_run_now": remaining,
        "pruned": sum(r["state"] == "pruned" for r in records),
        "failed": sum(r["state"] == "fail" for r in records),
    }


def best_within(front: Sequence[Mapping[str, Any]], seconds: float) -> Mapping[str, Any] | None:
    """The front's most accurate trial (on validation) whose fit took at most `seconds`, or None."""
    within = [r for r in front if r["fit_seconds"] <= seconds]
    return max(within, key=lambda r: r["validation"]) if within else None


def _study(name: str, settings: dict[str, Any], seed: int, storage: str | Path | None) -> Any:
    return open_study(
        name,
        settings,
        storage,
        study_name=f"{name}-cost",
        label="study storage",
        sampler=optuna.samplers.TPESampler(seed=seed),
        directions=["maximize", "minimize"],
    )


def _trial(t: Any) -> dict[str, Any]:
    values = t.values if t.state == optuna.trial.TrialState.COMPLETE else None
    return {
        "number": t.number,
        "state": t.state.name.lower(),
        "params": dict(t.params),
        "validation": None if values is None else float(values[0]),
        "fit_seconds": None if values is None else float(values[1]),
        "test": t.user_attrs.get("test"),
        "stopped": t.user_attrs.get("stopped"),
    }


def _searched() -> str:
    return ", ".join(n for n, c in CANDIDATES.items() if c.space)


def cost_frontier_figure(
    studies: Mapping[str, Mapping[str, Any]], *, title: str, reference: float | None = None, budget: float = 4.0
) -> go.Figure:
    """Each model's finished trials (validation recall@50 against fit seconds, log scale) and its
    Pareto front as a step line, from :func:`cost_frontier` results; with a
    `reference` fit time, a dashed line at `budget` times it."""
    figure = go.Figure()
    for n, (name, study) in enumerate(studies.items()):
        tint = colour(n)
        done = [t for t in study["trials"] if t["state"] == "complete"]
        front = study["front"]
        for label, points, style in (
            ("trials", done, {"mode": "markers", "marker": {"color": tint, "opacity": 0.35}}),
            ("front", front, {"mode": "lines+markers", "line": {"color": tint, "shape": "hv"}}),
        ):
            figure.add_trace(
                go.Scatter(
                    x=[t["fit_seconds"] for t in points],
                    y=[t["validation"] for t in points],
                    name=f"{name} {label}",
                    text=["<br>".join(describe({k: v}) for k, v in t["params"].items()) for t in points],
                    **style,
                )
            )
    if reference is not None:
        figure.add_vline(x=budget * reference, line_dash="dash", annotation_text=f"{budget:g}x the reference fit")
    figure.update_layout(
        title=title,
        xaxis_title="fit (s)",
        xaxis_type="log",
        yaxis_title="validation recall@50",
        template="plotly_white",
    )
    return figure
