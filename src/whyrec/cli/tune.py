"""``whyrec tune`` and ``whyrec compare``: the best configuration of one model, and models side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from whyrec.cli._common import (
    DATA_HELP,
    GrowOption,
    Precision,
    SamplerOption,
    comma_list,
    console,
    with_data_options,
)

Trials = Annotated[int, typer.Option(help="Optuna trials per model (the same for every model).")]
Jobs = Annotated[int, typer.Option(help="Trials run at once (threads).")]


@with_data_options
def tune(
    data: Annotated[str, typer.Option(help=DATA_HELP)] = "synthetic",
    model: Annotated[
        str, typer.Option(help="The model to tune (`whyrec compare --list` names them all).")
    ] = "reconet_attributes",
    out: Annotated[Path, typer.Option(help="Where to save the best model.")] = Path("runs/tuned"),
    trials: Trials = 40,
    jobs: Jobs = 1,
    storage: Annotated[Path | None, typer.Option(help="SQLite file keeping the study: a killed run resumes.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the split, the sampler and the model.")] = 0,
    sampler: SamplerOption = "tpe",
    grow: GrowOption = 0,
    precision: Annotated[
        Precision | None,
        typer.Option(help="Every trial's training passes, and the best model's, in float32 or bfloat16."),
    ] = None,
) -> None:
    """Tune one model on your data (validation recall@50), then save the best configuration's model."""
    from whyrec.data.spec import load_spec
    from whyrec.data.splits import split
    from whyrec.metrics import evaluate
    from whyrec.models.training import TrainingOptions
    from whyrec.tuning import build
    from whyrec.tuning import tune as run_tuning

    chosen = precision.value if precision else TrainingOptions.precision
    options = TrainingOptions(precision=chosen)  # type: ignore[arg-type]  # checked by TrainingOptions
    parts = split(load_spec(data, seed=seed), seed=seed)
    search = _search(trials, jobs, storage, sampler, grow)
    tuned = run_tuning(model, parts, seed=seed, precision=options.precision, **search)
    best = build(model, tuned["params"], seed, parts.train).fit(parts.train, parts.validation, options=options)
    known = parts.train.matrix() + parts.validation.matrix()
    metrics = evaluate(best, parts.test, exclude=known, k=(20, 50))
    info = {"data": data, "tuning": {k: v for k, v in tuned.items() if k != "study"}, "test_metrics": metrics}
    best.save(out, split=parts, info=info)  # with its split, so `whyrec evaluate` reads it like a trained model
    edge = f"; at the edge of its range: {', '.join(tuned['boundary'])}" if tuned["boundary"] else ""
    console.print(
        f"Best of {len(tuned['trials'])} trials: {tuned['params']} (validation recall@50 {tuned['validation']:.4f}"
        f"{edge}); test recall@50 {metrics['recall@50']:.4f}. Saved to {out}"
    )


@with_data_options
def compare(
    data: Annotated[str, typer.Option(help=DATA_HELP)] = "synthetic",
    models: Annotated[
        str | None, typer.Option(help="Comma-separated models (default: every model; --list names them).")
    ] = None,
    out: Annotated[Path, typer.Option(help="JSON file of the leaderboard and every trial.")] = Path(
        "runs/compare.json"
    ),
    seeds: Annotated[int, typer.Option(help="Seeds 0..N-1: the split and model seeds the winners are scored on.")] = 3,
    trials: Trials = 40,
    jobs: Jobs = 1,
    storage: Annotated[Path | None, typer.Option(help="SQLite file keeping the studies: a killed run resumes.")] = None,
    sampler: SamplerOption = "tpe",
    grow: GrowOption = 0,
    list_models: Annotated[
        bool, typer.Option("--list", help="Print the models that can be compared, and stop.")
    ] = False,
) -> None:
    """Tune every model with the same budget on your data, then score each winner on every seed's test split."""
    if list_models:
        from whyrec.tuning import CANDIDATES

        for name, candidate in CANDIDATES.items():
            console.print(f"{name:<28} {candidate.factory.__name__}")
        return
    from whyrec._io import write_json_atomic
    from whyrec.data.spec import load_spec
    from whyrec.tuning import compare as run_comparison

    search = _search(trials, jobs, storage, sampler, grow)
    results = run_comparison(load_spec(data), models=comma_list(models) or None, seeds=list(range(seeds)), **search)
    results.pop("studies")
    write_json_atomic(out, {"data": data, **results})
    _print_leaderboard(results)
    console.print(f"Wrote {out}")


def _search(trials: int, jobs: int, storage: Path | None, sampler: str, grow: int) -> dict[str, Any]:
    """The search settings `tune` and `compare` share, with the trials logged to the console."""
    return {"trials": trials, "jobs": jobs, "storage": storage, "sampler": sampler, "grow": grow, "log": console.print}


def _print_leaderboard(results: dict[str, Any]) -> None:
    from rich.table import Table

    from whyrec.tuning.compare import RANKING

    table = Table(title=f"Test recall@50 over {len(results['seeds'])} seed(s), {results['trials']} trials each")
    for column in ("model", "recall@50", "± std", "NDCG@50", "fit s", "edge of its range"):
        table.add_column(column, justify="left" if column in ("model", "edge of its range") else "right")
    for name in results[RANKING]:
        m = results["models"][name]
        table.add_row(
            name,
            f"{m['recall@50_median']:.4f}",
            f"{m['recall@50_std']:.4f}",
            f"{m['ndcg@50_median']:.4f}",
            f"{m['fit_seconds_median']:.1f}",
            ", ".join(m["boundary"]) or "-",
        )
    console.print(table)
