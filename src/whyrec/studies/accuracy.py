"""The RecoNet paper's accuracy study (Table 1) and cold-start curve (Figure 4), in one harness.

Every model gets the same tuning budget: `trials` Optuna trials over its search space
(:data:`CANDIDATES`, :func:`~whyrec.studies.tuning.tune`: seeded TPE, pruning for the models trained
by epochs); each trial is fitted on the training split and scored by recall@50 on the validation
split (training positives excluded). Tuning runs on the first seed's split; the winning
configuration is then refitted on every seed's split (split and model seeds both follow the seed),
with its fit timed, and scored once on its test split (training and validation positives
excluded), over the full catalogue. Cold start: 10% of the test users lose all their training and
validation history, and models are compared on them by recall@k, k = 1..50, once given their
profile without retraining and once from attributes alone (:func:`coldstart_study`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from whyrec.data.dataset import Dataset
from whyrec.data.profiles import build_profiles
from whyrec.data.splits import Split, split
from whyrec.errors import DataError, ParameterError
from whyrec.metrics import evaluate, evaluate_curve
from whyrec.studies.catalogue import CANDIDATES, build, is_reconet, require_known
from whyrec.studies.provenance import run_of
from whyrec.studies.tuning import require_grow, require_sampler, require_trials, tune


def accuracy_study(
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
    """Table 1: tuned models, test recall@20/50 and NDCG@50 per seed, with mean, median and spread.

    `storage` (an SQLite file) keeps every model's study, so that a killed run resumes. The Optuna
    studies themselves are under ``"figures"`` (for :func:`tuning_figures`; not JSON).
    """
    names = list(models or CANDIDATES)
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        raise ParameterError(f"unknown model(s) {unknown}; known models: {', '.join(CANDIDATES)}")
    if not seeds:
        raise ParameterError("the study needs at least one seed")
    splits = {s: split(dataset, seed=s) for s in seeds}
    require_trials(trials)
    require_sampler(sampler)
    require_grow(grow)
    out: dict[str, Any] = {"models": {}, "seeds": list(seeds), "trials": trials, "sampler": sampler, "figures": {}}
    if grow:  # named only when used, so that tables stored before the option still take rows
        out["grow"] = grow
    for name in names:
        tuned = tune(name, splits[seeds[0]], trials=trials, seed=seeds[0], storage=storage, jobs=jobs,
                     sampler=sampler, grow=grow, log=log)  # fmt: skip
        params = tuned["params"]
        runs, summary = score_on_seeds(name, params, splits)
        out["models"][name] = {
            "params": params, "runs": runs, "trials": tuned["trials"], "search_seconds": tuned["search_seconds"],
            "validation": tuned["validation"], "boundary": tuned["boundary"], "pruned": tuned["pruned"],
            "failed": tuned["failed"], "best_stage": tuned["best_stage"],
            **({"sampler_trials_from": tuned["restored"]} if tuned["restored"] else {}),
            **summary,
        }  # fmt: skip
        out["figures"][name] = tuned["study"]
        if log:
            log(f"{name}: test recall@50 median {summary['recall@50_median']:.4f} (± {summary['recall@50_std']:.4f})")
    ranking = sorted(out["models"], key=lambda n: -out["models"][n]["recall@50_median"])
    out["ranking_by_median_recall@50"] = ranking
    return out


def add_to_study(previous: Mapping[str, Any], results: Mapping[str, Any], data: str) -> dict[str, Any]:
    """A stored Table 1 (`previous`, its result JSON) with the rows of `results` added.

    The new rows must come from the same data, seeds, number of trials, sampler and growth trials, or the
    comparison would not be fair; a model already in the table is replaced. The provenance of the
    runs behind the rows kept is carried along under ``"earlier_runs"`` (command, revision, date,
    the models each one still contributes), since the file's own provenance names the last run.
    """
    old = previous["results"]
    settings = {
        "data": (previous.get("data"), data),
        "seeds": (old["seeds"], results["seeds"]),
        "trials": (old.get("trials"), results["trials"]),
        "sampler": (old.get("sampler", "tpe"), results["sampler"]),  # studies before the option used TPE
        "grow": (old.get("grow", 0), results.get("grow", 0)),
    }
    _require_same_settings(settings, "rows to a study")
    models = {**old["models"], **results["models"]}
    return {
        **{k: v for k, v in old.items() if k not in ("models", "ranking_by_median_recall@50")},
        "models": models,
        "ranking_by_median_recall@50": sorted(models, key=lambda n: -models[n]["recall@50_median"]),
        "earlier_runs": earlier_runs(previous, list(old["models"]), results["models"]),
    }


def add_to_coldstart(previous: Mapping[str, Any], results: Mapping[str, Any], data: str) -> dict[str, Any]:
    """A stored cold-start study (`previous`, its result JSON) with the curves of `results` added.

    The new curves must come from the same data, seeds, share of cold users and tuned parameters'
    source; a curve already there is replaced, and the provenance of the runs behind the curves
    kept is carried along under ``"earlier_runs"``, as :func:`add_to_study` does.
    """
    old = previous["results"]
    settings = {
        "data": (previous.get("data"), data),
        "seeds": (old["seeds"], results["seeds"]),
        "fraction": (old["fraction"], results["fraction"]),
        "params_from": (old.get("params_from"), results.get("params_from")),
    }
    _require_same_settings(settings, "curves to a cold-start study")
    merged: dict[str, Any] = {
        **{k: v for k, v in old.items() if k not in PROTOCOLS},
        "params": {**old["params"], **results["params"]},
        "per_seed": {
            seed: {**runs, **{p: {**runs[p], **results["per_seed"][seed][p]} for p in PROTOCOLS}}
            for seed, runs in old["per_seed"].items()
        },
        "earlier_runs": earlier_runs(previous, list(old["params"]), results["params"]),
    }
    for protocol in PROTOCOLS:
        curves = {**old[protocol]["curves"], **results[protocol]["curves"]}
        merged[protocol] = {
            "curves": curves,
            **_over_popularity(curves),
            "recall@50_per_seed": {**old[protocol]["recall@50_per_seed"], **results[protocol]["recall@50_per_seed"]},
        }
    return merged


def _require_same_settings(settings: Mapping[str, tuple[Any, Any]], what: str) -> None:
    """Refuse to add `what` when a stored setting (first of each pair) differs from this run's, naming each."""
    differ = [f"{key} {was!r} there, {now!r} here" for key, (was, now) in settings.items() if was != now]
    if differ:
        raise ParameterError(f"cannot add {what} run with other settings: " + "; ".join(differ))


def earlier_runs(
    previous: Mapping[str, Any], names: Sequence[str], replaced: Collection[str], key: str = "models"
) -> list[dict]:
    """The runs behind a stored result's rows `names` that survive `replaced`: command, revision, date,
    and the rows each one still contributes under `key` (the file's own run made the rows no earlier
    run claims)."""
    runs = list(previous["results"].get("earlier_runs", []))
    attributed = {m for run in runs for m in run[key]}
    latest = [m for m in names if m not in attributed]
    runs.append({**run_of(previous), key: latest})
    earlier = [{**run, key: [m for m in run[key] if m not in replaced]} for run in runs]
    return [run for run in earlier if run[key]]


def _over_popularity(curves: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """Each curve's last recall over popularity's, when popularity has one above zero."""
    popularity = curves.get("popularity")
    if popularity is None or popularity[-1] <= 0:
        return {}
    return {"recall@50_over_popularity": {n: c[-1] / popularity[-1] for n, c in curves.items()}}


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


COLD_RECIPE = {"cold_rate": 0.2}  # whyrec's cold-start recipe for RecoNet (see whyrec.models.sampler)
PROTOCOLS = ("new_users", "attributes_only")


def serves_new_users(name: str) -> bool:
    """Whether model `name` scores a profile it never trained on (fold-in or bag input)."""
    return bool(CANDIDATES[name].factory.supports_profiles)


def coldstart_study(
    dataset: Dataset,
    *,
    models: Sequence[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    seeds: Sequence[int] = (0,),
    fraction: float = 0.1,
    max_k: int = 50,
) -> dict[str, Any]:
    """Figure 4: recall@k (k = 1..max_k) of users whose whole history was removed from training.

    Each seed draws its own split and cold users and seeds the models; curves are averaged over
    the seeds and each seed's curves are kept under ``per_seed``.

    Every model is trained once, without the cold users, and compared under two protocols:

    - ``new_users`` (the paper's section 5.2): at serving time a cold user brings their profile,
      that is the attributes and the training/validation interactions the model never saw, and
      the model scores it without retraining (RecoNet's bag, iALS/OCuLaR fold-in, EASE and kNN
      rows, Mult-VAE's encoder; FM uses the attributes only). Those interactions are excluded
      from the ranking.
    - ``attributes_only``: the user arrives with attributes and no history at all; only models
      that read user attributes (and popularity) take part.

    RecoNet variants with attributes are also trained with :data:`COLD_RECIPE`, reported as
    ``<name>+cold_recipe``.
    """
    names = list(models or [n for n in CANDIDATES if serves_new_users(n)])
    for name in names:
        require_known(name)
        if not serves_new_users(name):
            capable = ", ".join(n for n in CANDIDATES if serves_new_users(n))
            raise ParameterError(f"{name} cannot score users it was not trained on; cold-start models: {capable}")
    if not seeds:
        raise ParameterError("the cold-start study needs at least one seed")
    variants = [(name, dict((params or {}).get(name, {}))) for name in names]
    variants += [
        (f"{name}+cold_recipe", {**dict((params or {}).get(name, {})), **COLD_RECIPE})
        for name in names
        if is_reconet(name) and CANDIDATES[name].fixed.get("use_attributes")
    ]
    per_seed = {seed: _coldstart_curves(dataset, variants, seed, fraction, max_k) for seed in seeds}
    out: dict[str, Any] = {
        "cold_users": int(np.mean([r["cold_users"] for r in per_seed.values()])),
        "fraction": fraction,
        "seeds": list(seeds),
        "params": {label: params for label, params in variants},  # the configuration each curve was drawn with
    }
    for protocol in PROTOCOLS:
        curves = {
            label: np.mean([per_seed[s][protocol][label] for s in seeds], axis=0).tolist()
            for label in per_seed[seeds[0]][protocol]
        }
        result: dict[str, Any] = {"curves": curves, **_over_popularity(curves)}
        result["recall@50_per_seed"] = {
            label: [per_seed[s][protocol][label][max_k - 1] for s in seeds] for label in curves
        }
        out[protocol] = result
    out["per_seed"] = {str(s): r for s, r in per_seed.items()}
    return out


def _coldstart_curves(
    dataset: Dataset, variants: Sequence[tuple[str, dict[str, Any]]], seed: int, fraction: float, max_k: int
) -> dict[str, Any]:
    full = split(dataset, seed=seed)
    parts = split(dataset, seed=seed, cold_start=fraction)
    if len(parts.cold_users) == 0:
        raise DataError("no test user became a cold-start user; the dataset is too small or the fraction is 0")
    known = full.train.matrix() + full.validation.matrix()  # what each user had before the test
    out: dict[str, Any] = {"cold_users": len(parts.cold_users), **{p: {} for p in PROTOCOLS}}
    for label, options in variants:
        name = label.split("+")[0]
        model = build(name, options, seed, parts.train).fit(parts.train, parts.validation)
        out["new_users"][label] = evaluate_curve(
            _ProfileScorer(model, known), parts.test, exclude=known, users=parts.cold_users, max_k=max_k
        ).tolist()
        if CANDIDATES[name].cold_start:
            out["attributes_only"][label] = evaluate_curve(
                model, parts.test, users=parts.cold_users, max_k=max_k
            ).tolist()
    return out


class _ProfileScorer:
    """`score_users` of users the model never saw, from bags built out of `history` rows."""

    def __init__(self, model: Any, history: sp.csr_matrix) -> None:
        self.model, self.history = model, history

    def score_users(self, users: np.ndarray) -> np.ndarray:
        m = self.model
        return m.score(build_profiles(self.history[users], m.user_attributes_[users], m.item_attributes_))


def accuracy_table(results: Mapping[str, Any]) -> str:
    """Table 1 as Markdown: models ranked by median test recall@50, with each search's cost."""
    lines = [
        "| model | recall@50 median | recall@50 mean ± std | recall@20 median | NDCG@50 median | fit s (mean) "
        "| trials (pruned, diverged) | search s | best params |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in results["ranking_by_median_recall@50"]:
        m = results["models"][name]
        edge = set(m.get("boundary", []))
        grown = CANDIDATES[name].capacity if m.get("best_stage") == "grow" and name in CANDIDATES else None
        marks = {k: (" (grown)" if k == grown else "") + (" (edge!)" if k in edge else "") for k in m["params"]}
        params = ", ".join(f"{k}={_fmt(v)}{marks[k]}" for k, v in m["params"].items()) or "-"
        lines.append(
            f"| {name} | {m['recall@50_median']:.4f} | {m['recall@50_mean']:.4f} ± {m['recall@50_std']:.4f} "
            f"| {m['recall@20_median']:.4f} | {m['ndcg@50_median']:.4f} | {m['fit_seconds_mean']:.1f} "
            f"| {len(m['trials'])} ({m.get('pruned', 0)}, {m.get('failed', 0)}) "
            f"| {m.get('search_seconds', 0):.0f} | {params} |"
        )
    if results.get("grow"):
        lines += ["", f"Each model had {results['trials']} sampler trials and {results['grow']} growth trials; "
                  "(grown) marks a capacity reached by the growth trials."]  # fmt: skip
    flagged = [n for n in results["ranking_by_median_recall@50"] if results["models"][n].get("boundary")]
    if flagged:
        lines += ["", "(edge!) marks a best value at the edge of its search range: " + ", ".join(flagged)
                  + " may improve with a wider range."]  # fmt: skip
    return "\n".join(lines) + "\n"


def tuning_figures(results: Mapping[str, Any]) -> list[Any]:
    """Optuna's optimisation history and parameter importances of every tuned model."""
    from optuna.visualization import plot_optimization_history, plot_param_importances

    figures = []
    for name, study in results.get("figures", {}).items():
        completed = [t for t in study.trials if t.state.name == "COMPLETE"]
        if not completed:
            continue
        history = plot_optimization_history(study)
        history.update_layout(title=f"{name}: validation recall@50 by trial")
        figures.append(history)
        if len(completed) > 1 and study.best_trial.params:
            importance = plot_param_importances(study)
            importance.update_layout(title=f"{name}: parameter importances (fANOVA)")
            figures.append(importance)
    return figures


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def coldstart_figure(results: Mapping[str, Any], protocol: str = "new_users") -> Any:
    import plotly.graph_objects as go

    figure = go.Figure()
    for name, curve in results[protocol]["curves"].items():
        figure.add_trace(go.Scatter(x=list(range(1, len(curve) + 1)), y=curve, mode="lines", name=name))
    what = "profile given at serving time" if protocol == "new_users" else "attributes only"
    figure.update_layout(
        title=f"Cold-start users ({results['cold_users']}, {what}): recall@k", xaxis_title="k",
        yaxis_title="recall@k", template="plotly_white",
    )  # fmt: skip
    return figure
