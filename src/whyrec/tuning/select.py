"""The best model for your data within a time budget: every exactly explained family, searched
fairly under one wall clock, and blends of the best of them.

:func:`select` splits the data (random 60/20/20), then searches each family with Optuna (seeded TPE,
ask-and-tell), starting from known good configurations (:data:`PRIORS`: Rendle et al. 2022's
recipe for iALS, EASE's λ at the scale Steck 2019 reports, and the winners of whyrec's accuracy
benchmark, which are data-independent starting points). The next trial always goes to the family
that has spent the least time, and a trial may use at most what its family's share of the budget
has left: a model trained by epochs stops at the end of the epoch that passes it, keeping its best
epoch (:class:`~whyrec.models.training.StopTraining`); a closed-form model whose last fit says it
would not fit in its share is not started. A family whose trial cannot fit at all stops, and its
share goes to the others.

With the searches done (at 85% of the budget), pairs of the three best families' models are
blended (:class:`~whyrec.models.Blend`, weights on validation). The winner, single model or blend,
is the one with the best validation recall@50; it is the trial's own fit (trained on the training
split, early-stopped on validation), so what was validated is what is returned: no refit.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna

from whyrec.data.dataset import Dataset
from whyrec.data.splits import Split, split
from whyrec.errors import ParameterError, TrainingDivergedError
from whyrec.metrics import evaluate
from whyrec.models.blend import Blend, normalised_scores
from whyrec.models.recommender import Recommender
from whyrec.models.training import EpochRecord, StopTraining, TrainingOptions
from whyrec.tuning.catalogue import CANDIDATES, build, require_known
from whyrec.tuning.search import METRIC, describe, suggest

# every family whyrec explains exactly, fast ones first; RecoNet's fast objective before its full softmax
FAMILIES = ("item_knn", "rp3beta", "ease", "ials", "reconet_masked_fast", "reconet_attribute_output", "reconet_by_kind")
PRIORS: dict[str, tuple[dict[str, Any], ...]] = {
    # plain cosine first, then the variants Dacrema et al. 2019 found strong on MovieLens
    "item_knn": (
        {"neighbours": 30, "alpha": 0.5, "shrink": 0.0, "weighting": "none"},
        {"neighbours": 100, "alpha": 0.5, "shrink": 10.0, "weighting": "bm25"},
    ),
    # Paudel et al. 2017's walk with a moderate popularity penalty
    "rp3beta": ({"neighbours": 200, "alpha": 0.8, "beta": 0.4, "normalize": True},),
    "ease": ({"l2": 500.0},),
    # Rendle et al. 2022: many factors, a small weight on unobserved pairs, regularisation relative to it
    "ials": (
        {"factors": 256, "unobserved_weight": 0.05, "relative_l2": 4.0, "iterations": 10},
        {"factors": 1024, "unobserved_weight": 0.039, "relative_l2": 4.18, "iterations": 8},
        {"factors": 712, "unobserved_weight": 0.0549, "relative_l2": 3.89, "iterations": 16},
    ),
    # the accuracy benchmark's winners, with RecoNet's default weight decay: at no measured cost in
    # recall, it makes the exact reasons name well-attested neighbours (see RecoNet's weight_decay)
    "reconet_masked_fast": (
        {"dim": 135, "mask_rate": 0.201, "weight_decay": 3e-6, "lr": 0.0596, "lr_decay": 0.919, "batch_size": 128},
        {"dim": 52, "mask_rate": 0.389, "weight_decay": 3e-6, "lr": 0.0458, "lr_decay": 0.925, "batch_size": 512},
    ),
    # the removal objective at the weight decay its sweep chose (benchmarks/plausibility, decay on
    # ml-100k): recall as at no decay, reasons among co-occurrence neighbours far more often
    "reconet_attribute_output": (
        {"dim": 231, "beta": 0.286, "weight_decay": 1e-5, "lr": 0.0089, "lr_decay": 0.736, "batch_size": 512},
        {"dim": 239, "beta": 2.41, "weight_decay": 1e-5, "lr": 0.0281, "lr_decay": 0.752, "batch_size": 4096},
    ),
    "reconet_by_kind": (
        {"dim": 512, "beta": 2.85, "weight_decay": 4e-4, "lr": 0.0017, "lr_decay": 0.795, "batch_size": 512},
    ),
}
SEARCH_SHARE = 0.85  # of the budget; the rest blends the best families
_MIN_TRIAL = 0.5  # seconds a trial must be able to run for it to start


@dataclass
class _Family:
    name: str
    study: Any
    queue: list[dict[str, Any]]
    spent: float = 0.0
    last_fit: float = 0.0
    active: bool = True
    best: tuple[float, Recommender, dict[str, Any], str] | None = None  # validation, model, params, family


@dataclass
class Selection:
    """What :func:`select` found: the winning model, its name and parameters, and every trial."""

    model: Recommender
    name: str
    params: dict[str, Any]
    validation: float
    split: Split
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    candidates: dict[str, Recommender] = field(default_factory=dict)  # each family's best, and each blend

    def to_dict(self) -> dict[str, Any]:
        """The selection as JSON (the model itself excluded)."""
        return {
            "winner": self.name,
            "params": self.params,
            "validation": self.validation,
            "seconds": self.seconds,
            "leaderboard": self.leaderboard,
        }


def select(
    dataset: Dataset,
    *,
    budget: float = 120.0,
    families: Sequence[str] | None = None,
    seed: int = 0,
    blends: bool = True,
    parts: Split | None = None,
    log: Callable[[str], None] | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> Selection:
    """The best model for `dataset` found within `budget` seconds (see the module docstring).

    `families` are catalogue names (default :data:`FAMILIES`); `parts` a split of `dataset` to use
    instead of the random 60/20/20 one drawn with `seed`. `log` receives a line per trial and blend,
    `on_row` its leaderboard row as it ends (so a progress display can show the leader).
    """
    if isinstance(budget, bool) or not isinstance(budget, int | float) or not math.isfinite(budget) or budget <= 0:
        raise ParameterError(f"budget must be a positive number of seconds, got {budget!r}")
    names = list(families or FAMILIES)
    for name in names:
        require_known(name)
    started = time.perf_counter()
    parts = parts or split(dataset, seed=seed)
    optuna.logging.set_verbosity(logging.ERROR)
    search = [_family(name, seed) for name in names]
    board: list[dict[str, Any]] = []
    deadline = started + SEARCH_SHARE * budget
    while True:
        active = [f for f in search if f.active]
        if not active or time.perf_counter() >= deadline:
            break
        family = min(active, key=lambda f: f.spent)
        share = (SEARCH_SHARE * budget - sum(f.spent for f in search if not f.active)) / len(active)
        cap = min(share - family.spent, deadline - time.perf_counter())
        board.append(_trial(family, parts, seed, cap, log))
        if on_row:
            on_row(board[-1])
    candidates = sorted((f.best for f in search if f.best), key=lambda b: -b[0])
    if not candidates:
        raise TrainingDivergedError("no model finished a trial within the budget; give a larger --budget")
    if blends:
        for row in _blends(candidates[:3], parts, started + budget, log):
            board.append(row)
            if on_row:
                on_row({k: v for k, v in row.items() if k != "blend"})
    return _winner(candidates, board, parts, time.perf_counter() - started)


def _family(name: str, seed: int) -> _Family:
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    priors = [dict(p) for p in PRIORS.get(name, ()) if set(p) == set(CANDIDATES[name].space)]
    return _Family(name, study, priors, active=bool(CANDIDATES[name].space) or not priors)


def _trial(family: _Family, parts: Split, seed: int, cap: float, log: Callable[[str], None] | None) -> dict:
    """One trial of `family` within `cap` seconds; its leaderboard row."""
    candidate = CANDIDATES[family.name]
    if cap < _MIN_TRIAL or (not candidate.epochs and family.last_fit > cap):
        family.active = False  # even its cheapest known fit would not fit in what is left
        return {"model": family.name, "state": "stopped", "reason": f"{max(cap, 0):.1f} s left of its share"}
    if family.queue:
        family.study.enqueue_trial(family.queue.pop(0))
    trial = family.study.ask()
    params = suggest(trial, candidate.space)
    start = time.perf_counter()

    def within_share(record: EpochRecord) -> None:
        if time.perf_counter() - start > cap:
            raise StopTraining  # its share is spent: keep the best epoch so far

    options = TrainingOptions(callbacks=(within_share,) if candidate.epochs else ())
    row: dict[str, Any] = {"model": family.name, "params": params, "trial": trial.number}
    try:
        model = build(family.name, params, seed, parts.train).fit(parts.train, parts.validation, options=options)
        score = float(evaluate(model, parts.validation, exclude=parts.train.matrix(), k=50)[METRIC])
        if not math.isfinite(score):
            raise TrainingDivergedError(f"{family.name} scored {score} on validation")
    except TrainingDivergedError as exc:
        family.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        row.update(state="failed", reason=str(exc))
    else:
        family.study.tell(trial, score)
        row.update(state="complete", validation=score)
        if family.best is None or score > family.best[0]:
            family.best = (score, model, params, family.name)
    seconds = time.perf_counter() - start
    family.spent += seconds
    family.last_fit = seconds
    row["seconds"] = seconds
    if not candidate.space:
        family.active = False  # nothing to search: one fit says it all
    if log:
        shown = f"validation {METRIC} {row['validation']:.4f}" if "validation" in row else row["state"]
        log(f"  {family.name} trial {trial.number}: {describe(params)} -> {shown} ({seconds:.1f} s)")
    return row


Candidate = tuple[float, Recommender, dict[str, Any], str]


def entry_name(row: dict[str, Any]) -> str:
    """A leaderboard row's name: its family, or ``blend A + B`` for a blend of families A and B."""
    return "blend " + " + ".join(row["members"]) if row["model"] == "blend" else row["model"]


def _blends(
    candidates: Sequence[Candidate],
    parts: Split,
    deadline: float,
    log: Callable[[str], None] | None,
) -> list[dict[str, Any]]:
    """Pairs of the best families' models, blended with weights chosen on validation."""
    rows = []
    users = np.unique(parts.validation.users)
    validation_scores: dict[str, Any] = {}  # each candidate's validation scores, computed once
    for (_, a, _, first), (_, b, _, second) in itertools.combinations(candidates, 2):
        if time.perf_counter() >= deadline:
            break
        start = time.perf_counter()
        for name, model in ((first, a), (second, b)):
            if name not in validation_scores:
                validation_scores[name] = normalised_scores(model.score_users(users))
        blend = Blend.of([a, b], [0.5, 0.5])
        weights, score = blend.weigh(parts.validation, [validation_scores[first], validation_scores[second]])
        blend.weights, blend.weights_ = [float(w) for w in weights], weights
        row = {"model": "blend", "members": [first, second], "weights": blend.weights, "state": "complete"}
        rows.append({**row, "validation": float(score), "seconds": time.perf_counter() - start, "blend": blend})
        if log:
            log(f"  blend of {first} + {second} {blend.weights} -> validation {score:.4f}")
    return rows


def _winner(candidates: Sequence[Candidate], board: list[dict[str, Any]], parts: Split, seconds: float) -> Selection:
    """The best single model, unless a blend beats it on validation."""
    score, model, params, name = candidates[0]
    best_blend = max((r for r in board if r["model"] == "blend"), key=lambda r: r["validation"], default=None)
    if best_blend is not None and best_blend["validation"] > score:
        blend = best_blend["blend"]
        score, model, name, params = best_blend["validation"], blend, "blend", blend.get_params()
    rows = [{k: v for k, v in r.items() if k != "blend"} for r in board]
    kept = {c[3]: c[1] for c in candidates}
    kept |= {entry_name(r): r["blend"] for r in board if r["model"] == "blend"}
    return Selection(model, name, dict(params), score, parts, rows, seconds, kept)
