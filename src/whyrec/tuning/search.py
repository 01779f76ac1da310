"""Tuning with Optuna: one study per model, the same number of trials for every model.

Each trial draws a configuration from the model's search space
(:data:`~whyrec.tuning.catalogue.CANDIDATES`) with a seeded TPE sampler, fits it on the training
split (validation for early stopping) and scores recall@50 on the validation split, training
positives excluded. Models trained epoch by epoch report their validation recall after every
epoch, and a median pruner stops trials that trail the others at the same epoch.

``sampler="tpe_multivariate"`` models the parameters jointly (Optuna's multivariate TPE) rather
than one at a time; every trial draws every parameter, so no conditional grouping is needed.
``sampler="gp"`` is Optuna's Gaussian-process Bayesian optimisation (`optuna.samplers.GPSampler`):
after the same 10 random start-up trials, a GP models the validation recall over the whole space
and each trial maximises its expected improvement; pruned trials do not enter its model. A
comparison gives one sampler to every model or to none.

A study can live in Optuna's SQLite storage: a killed run keeps every finished trial, and the next
run with the same settings only runs the trials still missing. A storage holding a study of the same
name run with other settings (another search space, seed, metric or data) is refused, not mixed.
A best value within the outer 5% of a numeric range (on its own scale), or at the end of an ordered
choice, is flagged: that search has not found the model's optimum yet.

``grow`` > 0 adds that many trials after the sampler's, the capacity stage of Rendle et al. (2022),
who tune iALS at a small size and then grow it: a sampler that met large sizes only with poor
regularisation learns that large is bad, and settles on a size far below the best one. Each growth
trial takes the best configuration so far and doubles its capacity (the candidate's ``capacity``
parameter, capped at its range's top), run to the end without pruning. Growth stops at the first doubling that
does not beat the best, or at the top; the slots left, and all of them for a model without a
capacity parameter, go to the sampler, so every model still gets the same number of trials. Growth
trials carry ``stage="grow"`` among their user attributes, and a killed growth stage resumes.

With ``jobs`` > 1, trials run in parallel threads and the machine's cores are shared between them
(torch, OpenMP and BLAS threads per trial = cores // jobs): threads that oversubscribe the cores
slow every trial down several times over.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from threadpoolctl import threadpool_limits

from whyrec.data.splits import Split
from whyrec.errors import DataError, ParameterError, TrainingDivergedError, first_line
from whyrec.metrics import evaluate
from whyrec.models.training import EpochRecord, TrainingOptions, require_precision
from whyrec.tuning.catalogue import (
    CANDIDATES,
    Choice,
    Dimension,
    FloatRange,
    IntRange,
    build,
    check_space,
    require_known,
)

METRIC = "recall@50"
EDGE = 0.05  # the outer share of a range where a best value is flagged
SAMPLERS = ("tpe", "tpe_multivariate", "gp")
_ENDED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
STATES = {state.name.lower(): state for state in _ENDED}  # as result JSONs record them


def suggest(trial: optuna.Trial, space: Mapping[str, Dimension]) -> dict[str, Any]:
    """One configuration of `space`, drawn through the trial."""
    params: dict[str, Any] = {}
    for key, dim in space.items():
        if isinstance(dim, IntRange):
            params[key] = trial.suggest_int(key, dim.low, dim.high, log=dim.log)
        elif isinstance(dim, FloatRange):
            params[key] = trial.suggest_float(key, dim.low, dim.high, log=dim.log)
        else:
            params[key] = trial.suggest_categorical(key, list(dim.values))
    return params


def on_boundary(space: Mapping[str, Dimension], params: Mapping[str, Any]) -> list[str]:
    """The parameters whose value sits at the edge of its range (see the module docstring)."""
    flagged = []
    for key, dim in space.items():
        if key not in params:
            continue
        value = params[key]
        if isinstance(dim, Choice):
            ordered = all(isinstance(v, int | float) for v in dim.values) and len(dim.values) > 2
            if ordered and value in (min(dim.values), max(dim.values)):
                flagged.append(key)
            continue
        scale: Callable[[float], float] = math.log if dim.log else float
        low, high = scale(dim.low), scale(dim.high)
        position = (scale(value) - low) / (high - low)
        if position <= EDGE or position >= 1 - EDGE:
            flagged.append(key)
    return flagged


def settings_of(name: str, parts: Split, seed: int, sampler: str = "tpe", precision: str = "float32") -> dict[str, Any]:
    """What a study's trials depend on: a stored study with other settings is not resumed."""
    train = parts.train
    digest = hashlib.sha256()
    for array in (train.users, train.items, parts.validation.users, parts.validation.items):
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    space = {k: {"type": type(d).__name__, **d.__dict__} for k, d in CANDIDATES[name].space.items()}
    settings = {
        "model": name,
        "space": _plain(space),
        "fixed": _plain(CANDIDATES[name].fixed),
        "seed": seed,
        "metric": f"validation {METRIC}",
        "data": digest.hexdigest()[:16],
    }
    if sampler != "tpe":  # named only when not the default, so that studies stored before the option still resume
        settings["sampler"] = sampler
    if precision != "float32":  # likewise; the training precision changes every trial's score
        settings["precision"] = precision
    return settings


def tune(
    name: str,
    parts: Split,
    *,
    trials: int = 40,
    seed: int = 0,
    storage: str | Path | None = None,
    jobs: int = 1,
    sampler: str = "tpe",
    grow: int = 0,
    precision: str = "float32",
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Tune model `name` on `parts` with `trials` sampler trials and then `grow` growth trials (see
    the module docstring); returns the best parameters, every trial, the search's wall-clock time
    and the boundary flags. `precision` is every trial's training precision
    (:class:`~whyrec.models.training.TrainingOptions`); a study keeps to one."""
    require_known(name)
    require_trials(trials)
    require_grow(grow)
    if jobs < 1:
        raise ParameterError(f"jobs must be at least 1, got {jobs}")
    require_sampler(sampler)
    candidate = CANDIDATES[name]
    check_space(name, candidate.space)
    optuna.logging.set_verbosity(logging.ERROR)  # failed trials are logged by `log`, without tracebacks
    require_precision(precision)
    settings = settings_of(name, parts, seed, sampler, precision)
    study = model_study(name, settings, seed, storage, pruning=candidate.epochs, sampler=sampler)
    done = [t for t in study.trials if t.state in _ENDED]
    remaining = max(0, trials - len(done)) if candidate.space else 0
    objective = _objective(name, parts, seed, precision, log)
    before = float(study.user_attrs.get("search_seconds", 0.0))
    started = time.perf_counter()

    def record_time(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        # kept after every trial, so that a resumed search reports the wall-clock of all its runs
        study.set_user_attr("search_seconds", before + time.perf_counter() - started)

    def run(n: int, n_jobs: int) -> None:
        with _cores_shared(n_jobs):
            # a diverged trial is recorded as failed (a region of the space that does not train) and the search goes on
            study.optimize(
                objective,
                n_trials=n,
                n_jobs=n_jobs,
                gc_after_trial=True,
                callbacks=[record_time],
                catch=(TrainingDivergedError,),
            )

    if remaining:
        run(remaining, jobs)
    ran_now = remaining
    if grow and candidate.space:
        ran_now += _growth_stage(study, candidate.space, candidate.capacity, trials, grow, run, jobs)
    seconds = before + time.perf_counter() - started if ran_now else before
    return {**_outcome(name, study), "search_seconds": seconds, "trials_run_now": ran_now, "precision": precision}


def _objective(
    name: str, parts: Split, seed: int, precision: str, log: Callable[[str], None] | None
) -> Callable[[optuna.Trial], float]:
    """One trial of model `name`: a configuration drawn from its space, fitted on the training split
    (pruned on validation recall while it trails, unless a growth trial) and scored on validation."""
    candidate = CANDIDATES[name]
    known = parts.train.matrix()

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, candidate.space)
        grown = trial.user_attrs.get("stage") == "grow"  # a growth trial runs to the end: it is not pruned
        pruning = (_pruning(trial),) if candidate.epochs and not grown else ()
        options = TrainingOptions(callbacks=pruning, precision=precision)  # type: ignore[arg-type]
        start = time.perf_counter()
        try:
            model = build(name, params, seed, parts.train).fit(parts.train, parts.validation, options=options)
            score = float(evaluate(model, parts.validation, exclude=known, k=50)[METRIC])
            if not math.isfinite(score):
                raise TrainingDivergedError(f"{name} scored {score} on validation")
        except TrainingDivergedError as exc:
            if log:
                log(f"  {name} trial {trial.number}: {describe(params)} -> failed: {exc}")
            raise
        seconds = time.perf_counter() - start
        trial.set_user_attr("fit_seconds", seconds)
        if log:
            trial_name = f"{name} trial {trial.number}{' (growth)' if grown else ''}"
            log(f"  {trial_name}: {describe(params)} -> validation {METRIC} {score:.4f} ({seconds:.1f} s)")
        return score

    return objective


def _outcome(name: str, study: Any) -> dict[str, Any]:
    """What a finished search found: the best parameters and score, every trial, the boundary flags."""
    candidate = CANDIDATES[name]
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if candidate.space and not finished:
        raise TrainingDivergedError(
            f"no trial of {name} finished ({len(study.trials)} diverged or were pruned); narrow its search space"
        )
    best_params = dict(study.best_trial.params) if finished else {}
    return {
        "params": best_params,
        "validation": float(study.best_value) if finished else None,
        "best_stage": study.best_trial.user_attrs.get("stage", "search") if finished else None,
        "trials": [_trial(t) for t in study.trials],
        "restored": study.user_attrs.get("restored"),
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        "failed": sum(t.state == optuna.trial.TrialState.FAIL for t in study.trials),
        "boundary": on_boundary(candidate.space, best_params),
        "study": study,
    }


def stored_best(
    name: str, parts: Split, *, storage: str | Path, trials: int = 40, seed: int = 0, sampler: str = "tpe"
) -> dict[str, Any] | None:
    """The best parameters of a finished study of `name` in `storage`, without running a trial.

    None when the storage, or a study of `name` in it, does not exist yet, or when fewer than
    `trials` trials have ended (a search still under way). A stored study run with other settings
    is refused, as :func:`tune` refuses to resume it."""
    require_known(name)
    require_sampler(sampler)
    if not Path(storage).is_file():
        return None
    optuna.logging.set_verbosity(logging.ERROR)
    try:
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{storage}")
    except KeyError:  # no study of this model in the storage yet
        return None
    except Exception as exc:
        raise _unreadable(storage, exc) from None
    check_settings(study, name, settings_of(name, parts, seed, sampler), storage)
    ended = [t for t in study.trials if t.state.is_finished()]
    complete = [t for t in ended if t.state == optuna.trial.TrialState.COMPLETE]
    if len(ended) < trials or not complete:
        return None
    return dict(study.best_trial.params)


@contextlib.contextmanager
def _cores_shared(jobs: int) -> Iterator[None]:
    """Each of `jobs` parallel trials gets its share of the cores (torch, OpenMP, BLAS), restored after."""
    if jobs <= 1:
        yield
        return
    before = torch.get_num_threads()
    share = max(1, (os.cpu_count() or 1) // jobs)
    torch.set_num_threads(share)
    try:
        with threadpool_limits(share):
            yield
    finally:
        torch.set_num_threads(before)


def within(dim: Dimension, value: Any) -> bool:
    """Whether `value` is one that :func:`suggest` can draw from `dim`."""
    if isinstance(dim, Choice):
        return value in dim.values
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(dim, IntRange) and not float(value).is_integer():
        return False
    return dim.low <= value <= dim.high


def distribution(dim: Dimension) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution that :func:`suggest` draws `dim` from."""
    if isinstance(dim, IntRange):
        return optuna.distributions.IntDistribution(dim.low, dim.high, log=dim.log)
    if isinstance(dim, FloatRange):
        return optuna.distributions.FloatDistribution(dim.low, dim.high, log=dim.log)
    return optuna.distributions.CategoricalDistribution(list(dim.values))


def _growth_stage(
    study: Any,
    space: Mapping[str, Dimension],
    capacity: str | None,
    trials: int,
    grow: int,
    run: Callable[[int, int], None],
    jobs: int,
) -> int:
    """Run the growth trials still missing after the first `trials` (see the module docstring);
    returns how many trials ran."""
    ran = 0
    while True:
        ended = [t for t in study.trials if t.state in _ENDED]
        slots = trials + grow - len(ended)
        if slots <= 0:
            return ran
        waiting = any(t.state == optuna.trial.TrialState.WAITING for t in study.trials)  # enqueued by a killed run
        following = None if waiting else next_growth(study.trials, space, capacity, trials)
        if following is None and not waiting:
            run(slots, jobs)  # growth has stopped: the sampler fills the slots left
            return ran + slots
        if following is not None:
            study.enqueue_trial(following, user_attrs={"stage": "grow"})
        run(1, 1)  # one at a time, each decides the next; each gets all the cores
        ran += 1


def next_growth(
    trials: Sequence[Any], space: Mapping[str, Dimension], capacity: str | None, first: int
) -> dict[str, Any] | None:
    """The next growth trial's parameters: the best configuration so far with its `capacity`
    doubled (capped at the top of its range), or None once growth has stopped (see the module
    docstring). `trials` are a study's frozen trials, the first `first` of them the sampler's."""
    if capacity is None or capacity not in space:
        return None
    dim = space[capacity]
    if not isinstance(dim, IntRange):
        raise ParameterError(f"the capacity parameter {capacity!r} must be an integer range, not {type(dim).__name__}")
    ended = sorted((t for t in trials if t.state in _ENDED), key=lambda t: t.number)
    if len(ended) < first:
        return None  # the sampler's trials come first
    best: Any = None
    for position, t in enumerate(ended):
        complete = t.state == optuna.trial.TrialState.COMPLETE
        if t.user_attrs.get("stage") == "grow":
            if not complete or best is None or t.value <= best.value:
                return None  # this doubling did not beat the best: growth has stopped
        elif position >= first:
            return None  # the sampler has been filling the slots since growth stopped
        if complete and (best is None or t.value > best.value):
            best = t
    if best is None:
        return None
    size = int(best.params[capacity])
    grown = min(dim.high, 2 * size)
    if grown <= size:
        return None  # already at the top of the range
    return {**best.params, capacity: grown}


def require_trials(trials: int) -> None:
    """Refuse a number of sampler trials that is not a positive integer."""
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ParameterError(f"trials must be a positive integer, got {trials!r}")


def require_grow(grow: int) -> None:
    """Refuse a number of growth trials that is not a non-negative integer."""
    if isinstance(grow, bool) or not isinstance(grow, int) or grow < 0:
        raise ParameterError(f"grow must be a non-negative integer (growth trials after the sampler's), got {grow!r}")


def require_sampler(sampler: str) -> None:
    """Refuse a sampler name that is not one of :data:`SAMPLERS`."""
    if sampler not in SAMPLERS:
        raise ParameterError(f"unknown sampler {sampler!r}; known samplers: {', '.join(SAMPLERS)}")


def model_study(
    name: str, settings: dict[str, Any], seed: int, storage: str | Path | None, *, pruning: bool, sampler: str
) -> Any:
    """The study :func:`tune` runs for model `name`: maximising, seeded `sampler`, median pruning when
    `pruning` (models trained epoch by epoch), created or resumed in `storage` (see :func:`open_study`)."""
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2) if pruning else optuna.pruners.NopPruner()
    )
    return open_study(name, settings, storage, sampler=_sampler(sampler, seed), pruner=pruner, direction="maximize")


def open_study(
    name: str,
    settings: dict[str, Any],
    storage: str | Path | None,
    *,
    study_name: str | None = None,
    label: str = "tuning storage",
    **create: Any,
) -> Any:
    """The Optuna study of model `name` in the SQLite file `storage` (in memory when None), created
    with `create` (sampler, pruner, direction or directions) or resumed. A new study records
    `settings`; a stored one run with other settings is refused (:func:`check_settings`). `label`
    names the storage in errors; `study_name` defaults to `name`."""
    url = None
    if storage is not None:
        path = Path(storage)
        if not path.parent.is_dir():
            raise ParameterError(f"the {label}'s folder {path.parent} does not exist")
        url = f"sqlite:///{path}"
    try:
        study = optuna.create_study(study_name=study_name or name, storage=url, load_if_exists=True, **create)
    except Exception as exc:
        raise _unreadable(storage, exc, label) from None
    if study.user_attrs.get("settings") is None:
        study.set_user_attr("settings", settings)
    check_settings(study, name, settings, storage)
    return study


def _sampler(sampler: str, seed: int) -> optuna.samplers.BaseSampler:
    if sampler == "gp":
        # the GP draws ints and log-scaled ranges in Optuna's own transforms; its random start-up
        # trials are TPE's, so every sampler begins from the same 10 configurations
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.TPESampler(seed=seed, multivariate=sampler == "tpe_multivariate")


def _unreadable(storage: str | Path | None, exc: Exception, label: str = "tuning storage") -> DataError:
    return DataError(f"cannot open the {label} {storage}: {first_line(exc)}")


def check_settings(study: Any, name: str, settings: dict[str, Any], storage: str | Path | None) -> None:
    """Refuse a stored study of `name` whose settings differ from `settings`, naming the keys that differ."""
    stored = study.user_attrs.get("settings")
    if stored is not None and stored != settings:
        changed = sorted(k for k in set(stored) | set(settings) if stored.get(k) != settings.get(k))
        raise ParameterError(
            f"the tuning storage {storage} holds a study of {name!r} run with other settings ({', '.join(changed)} "
            "differ); use another storage file or the same settings"
        )


def _pruning(trial: optuna.Trial) -> Callable[[EpochRecord], None]:
    def report(record: EpochRecord) -> None:
        if record.best_metric is None:
            return
        trial.report(float(record.best_metric), step=record.epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"validation {METRIC} {record.best_metric:.4f} trails at epoch {record.epoch}")

    return report


def _trial(t: Any) -> dict[str, Any]:
    return {
        "number": t.number,
        "state": t.state.name.lower(),
        "params": dict(t.params),
        "validation": t.value,
        "fit_seconds": t.user_attrs.get("fit_seconds"),
        "epochs_reported": len(t.intermediate_values),
        "stage": t.user_attrs.get("stage", "search"),
    }


def describe(params: Mapping[str, Any]) -> str:
    """A configuration on one line, floats to 3 significant digits (for logs)."""
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(dict(value), default=list))
