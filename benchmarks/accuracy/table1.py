"""Table 1 of the RecoNet paper: every model tuned with the same budget, on each data set.

The harness is whyrec's own :func:`whyrec.tuning.compare` (the same one ``whyrec compare`` runs);
this module adds what a stored table needs: rows added by later runs under the same settings, the
Markdown table and the figures of each search.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks.provenance import earlier_runs, require_same_settings
from whyrec.tuning import CANDIDATES
from whyrec.tuning.compare import RANKING, rank


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
    require_same_settings(settings, "rows to a study")
    models = {**old["models"], **results["models"]}
    return {
        **{k: v for k, v in old.items() if k not in ("models", RANKING)},
        "models": models,
        RANKING: rank(models),
        "earlier_runs": earlier_runs(previous, list(old["models"]), results["models"]),
    }


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
        lines += [
            "",
            f"Each model had {results['trials']} sampler trials and {results['grow']} growth trials; "
            "(grown) marks a capacity reached by the growth trials.",
        ]
    flagged = [n for n in results["ranking_by_median_recall@50"] if results["models"][n].get("boundary")]
    if flagged:
        lines += [
            "",
            "(edge!) marks a best value at the edge of its search range: "
            + ", ".join(flagged)
            + " may improve with a wider range.",
        ]
    return "\n".join(lines) + "\n"


def tuning_figures(results: Mapping[str, Any]) -> list[Any]:
    """Optuna's optimisation history and parameter importances of every tuned model."""
    from optuna.visualization import plot_optimization_history, plot_param_importances

    figures = []
    for name, study in results.get("studies", {}).items():
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
