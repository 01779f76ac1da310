"""whyrec's command line: demo, train, evaluate, recommend, explain.

Every user error ends in a one-line message on stderr and exit status 2; never a stack trace.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from whyrec.errors import WhyrecError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Recommenders that explain themselves: train RecoNet, recommend, and say why.",
)
console = Console()


class SplitKind(StrEnum):
    random = "random"
    user = "user"
    temporal = "temporal"


_METHODS = (
    "lrp", "shapley", "occlusion", "saliency", "input_x_gradient", "integrated_gradients", "deeplift",
    "lime", "kernel_shap", "sampled_shapley",
)  # fmt: skip
ModelDir = Annotated[Path, typer.Option("--model", "-m", help="A model directory written by `whyrec train`.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where to save the model, metrics.json and summary.md.")] = Path(
        "runs/demo"
    ),
    seed: Annotated[int, typer.Option(help="Seed for data, split and training.")] = 0,
) -> None:
    """Synthetic data -> RecoNet -> metrics against popularity -> recommendations with reasons."""
    from whyrec.pipeline import demo as run_demo

    run_demo(out, seed=seed, console=console)


@app.command()
def train(
    data: Annotated[
        str, typer.Option(help="synthetic | movielens:PATH | csv:INTERACTIONS[,USERS,ITEMS]")
    ] = "synthetic",
    out: Annotated[Path, typer.Option(help="Model directory to write.")] = Path("runs/model"),
    config: Annotated[
        Path | None, typer.Option(help="Repeat a saved run: a model directory or its whyrec.json.")
    ] = None,
    attributes: Annotated[
        bool, typer.Option("--attributes/--no-attributes", help="Use user and item attributes.")
    ] = True,
    split: Annotated[SplitKind, typer.Option(help="How to split the interactions.")] = SplitKind.random,
    cold_start: Annotated[float, typer.Option(help="Share of test users made cold-start.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed for split and training.")] = 0,
    dim: Annotated[int | None, typer.Option(help="Embedding size.")] = None,
    hidden: Annotated[str | None, typer.Option(help="Hidden layer widths, e.g. '256' or '256,128'.")] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate.")] = None,
    lr_decay: Annotated[float | None, typer.Option(help="Per-epoch learning-rate factor.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Examples per batch.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs.")] = None,
    beta: Annotated[float | None, typer.Option(help="Removal exponent β of the sampler.")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="Adam weight decay.")] = None,
    patience: Annotated[int | None, typer.Option(help="Epochs without improvement before stopping.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Train RecoNet and save it, with its split and config, to OUT."""
    from whyrec.pipeline import RunConfig, train_run

    overrides = {
        "dim": dim, "lr": lr, "lr_decay": lr_decay, "batch_size": batch_size, "epochs": epochs,
        "beta": beta, "weight_decay": weight_decay, "patience": patience,
    }  # fmt: skip
    if hidden is not None:
        overrides["hidden"] = _widths(hidden)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if config is not None:
        run = RunConfig.from_manifest(config)
        run = RunConfig(**{**run.__dict__, "params": {**(run.params or {}), **overrides}})
    else:
        run = RunConfig(
            data=data, attributes=attributes, split=split.value, cold_start=cold_start, seed=seed, params=overrides
        )
    model, _, metrics = train_run(run, out, progress=not quiet)
    console.print(
        f"Saved RecoNet to {out} (best epoch {model.best_epoch_}, {model.time_to_best_:.1f}s); "
        f"test recall@50 {metrics['recall@50']:.4f}"
    )


@app.command()
def evaluate(
    model: ModelDir,
    k: Annotated[list[int], typer.Option("--k", help="Cut-offs (repeatable).")] = [20, 50],  # noqa: B006
    as_json: AsJson = False,
) -> None:
    """Ranking metrics of a saved model on the test split saved with it."""
    from whyrec.pipeline import dumps, evaluate_saved

    metrics = evaluate_saved(model, k=tuple(k))
    if as_json:
        typer.echo(dumps(metrics))
        return
    from rich.table import Table

    table = Table(title=f"Test metrics of {model} ({metrics['n_users']} users)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
    if "cold_start" in metrics:
        for kk in k:
            table.add_row(f"cold-start recall@{kk}", f"{metrics['cold_start'][f'recall@{kk}']:.4f}")
    console.print(table)


@app.command()
def recommend(
    model: ModelDir,
    user: Annotated[str, typer.Option(help="External user ID.")],
    k: Annotated[int, typer.Option("-k", "--k", help="Number of items.")] = 10,
    as_json: AsJson = False,
) -> None:
    """Top-k items for a known user, best first."""
    from whyrec.models import load_model
    from whyrec.pipeline import dumps

    loaded = load_model(model)
    recs = loaded.recommend(user, k=k)
    names = loaded.feature_space_.item_names
    rows = [
        {"rank": r + 1, "item_id": item_id, "item": names[index], "score": float(score)}
        for r, (item_id, index, score) in enumerate(zip(recs.item_ids[0], recs.items[0], recs.scores[0], strict=True))
    ]
    if as_json:
        typer.echo(dumps({"user": user, "recommendations": rows}))
        return
    for row in rows:
        console.print(f"{row['rank']:>3}. {row['item']} [dim](id {row['item_id']}, score {row['score']:.3f})[/dim]")


@app.command()
def explain(
    model: ModelDir,
    user: Annotated[str, typer.Option(help="External user ID.")],
    item: Annotated[str, typer.Option(help="External item ID to explain.")],
    top: Annotated[int, typer.Option(help="Number of reasons to show.")] = 10,
    method: Annotated[str, typer.Option(help="Attribution method: " + ", ".join(_METHODS) + ".")] = "lrp",
    as_json: AsJson = False,
) -> None:
    """Which profile tokens drove the score of ITEM for USER (signed relevance)."""
    from whyrec.errors import ParameterError
    from whyrec.models import load_model
    from whyrec.pipeline import dumps

    if top <= 0:
        raise ParameterError(f"--top must be positive, got {top}")
    loaded = load_model(model)
    explanation = loaded.explain(user, item, method=method)[0]
    if as_json:
        typer.echo(dumps({"user": user, **explanation.to_dict(top=top)}))
        return
    console.print(
        f"[bold]{explanation.item_name}[/bold] for user {user}: score {explanation.score:.3f} "
        f"(bias {explanation.baseline:+.3f}, method {explanation.method})"
    )
    console.print(explanation.sentence())
    for reason in explanation.top(top):
        colour = "green" if reason.relevance > 0 else "red"
        console.print(f"  [{colour}]{reason.relevance:+.4f}[/{colour}]  {reason.name}")


@app.command()
def serve(
    model: Annotated[
        list[str], typer.Option("--model", "-m", help="A model directory, or NAME=DIR; repeat to serve several.")
    ],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve the HTTP API (OpenAPI page at /docs) and the dashboard (at /)."""
    import uvicorn

    from whyrec.serve import create_app

    models = {}
    for entry in model:
        name, sep, path = entry.partition("=")
        if not sep:
            name, path = Path(entry).name, entry
        models[name] = path
    console.print(f"Serving {', '.join(models)} on http://{host}:{port}/ (API reference at /docs)")
    uvicorn.run(create_app(models), host=host, port=port, log_level="warning")


@app.command()
def report(
    model: ModelDir,
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("runs/report.html"),
    user: Annotated[list[str] | None, typer.Option(help="Users to show (repeatable); default a random few.")] = None,
    method: Annotated[str, typer.Option(help="Attribution method.")] = "lrp",
) -> None:
    """The dashboard's views (global drivers, recommendations with Sankeys) as one static HTML file."""
    from whyrec.models import load_model
    from whyrec.viz.report import model_report

    path = model_report(load_model(model), out, users=user or None, method=method)
    console.print(f"Wrote {path}")


@app.command()
def insights(
    model: ModelDir,
    segment_by: Annotated[
        list[str] | None, typer.Option("--segment-by", help="user.FIELD, item.FIELD, activity or cold (repeatable).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for insights.json and insights.html.")] = Path("runs/insights"),
    k: Annotated[int, typer.Option("-k", "--k", help="Recommendations explained per user.")] = 5,
    method: Annotated[str, typer.Option(help="Attribution method.")] = "lrp",
    stability: Annotated[int, typer.Option(help="Retrained runs for the stability check (0: none).")] = 0,
    users: Annotated[int | None, typer.Option(help="Sample this many users (default: all).")] = None,
) -> None:
    """What drives the recommendations overall and per segment, with uncertainty, as HTML + JSON."""
    from whyrec.insights.report import insights as run_insights
    from whyrec.insights.report import retrain_for_stability, summary_lines, write_report
    from whyrec.models import load_model

    if k <= 0 or stability < 0:
        from whyrec.errors import ParameterError

        raise ParameterError(f"-k must be positive and --stability non-negative, got {k} and {stability}")
    loaded = load_model(model)
    retrained = retrain_for_stability(model, stability) if stability else ()
    result = run_insights(loaded, segment_by=segment_by or (), k=k, method=method, max_users=users, retrained=retrained)
    json_path, html_path = write_report(result, out, title=f"whyrec insights: {model}")
    for line in summary_lines(result):
        console.print(line)
    console.print(f"Wrote {json_path} and {html_path}")


benchmark_app = typer.Typer(help="Reproducible studies that write JSON + HTML under benchmarks/results.")
app.add_typer(benchmark_app, name="benchmark")


@benchmark_app.command("explanations")
def benchmark_explanations(
    data: Annotated[str, typer.Option(help="synthetic | movielens:PATH | csv:...")] = "synthetic",
    out: Annotated[Path, typer.Option(help="Folder for the JSON and HTML results.")] = Path("benchmarks/results"),
    name: Annotated[str | None, typer.Option(help="Name used in the file names (default: from the data).")] = None,
    pairs: Annotated[int, typer.Option(help="(user, top recommendation) pairs explained by every method.")] = 200,
    speed_pairs: Annotated[int, typer.Option(help="Pairs in the batched speed measurement.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed for data, split, training and sampling.")] = 0,
) -> None:
    """Deletion/insertion curves, significance, agreement, ground truth and speed of every method."""
    from whyrec.errors import ParameterError
    from whyrec.evaluate.explanation_study import explanation_study

    if pairs < 2 or speed_pairs < 1:
        raise ParameterError(f"--pairs must be at least 2 and --speed-pairs at least 1, got {pairs} and {speed_pairs}")
    results = explanation_study(
        data, out, name=name, n_pairs=pairs, speed_pairs=speed_pairs, seed=seed, log=console.print
    )
    lrp = results["methods"]["lrp"]
    console.print(
        f"LRP deletion area {lrp['deletion']['area']:.3f} vs random {results['random']['deletion']['area']:.3f}; "
        f"top-1 vs random-1 p = {lrp['top1_vs_random1']['p_value']:.2e}; "
        f"LIME/LRP time ratio {results['lime_to_lrp_speed_ratio']:,.0f}"
    )


@benchmark_app.command("attribution-network")
def benchmark_attribution_network(
    task: Annotated[str, typer.Option(help="synthetic | movielens:PATH")] = "synthetic",
    out: Annotated[Path, typer.Option(help="Folder for the JSON and HTML results.")] = Path("benchmarks/results"),
    name: Annotated[str | None, typer.Option(help="Name used in the file names (default: from the task).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs (default 80 synthetic, 30 MovieLens).")] = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
) -> None:
    """Attribution networks (tower and masked) against a black-box MLP: accuracy and read-out."""
    from whyrec.evaluate.attribution_study import attribution_study

    attribution_study(task, out, name=name, seed=seed, epochs=epochs, log=console.print)


def _widths(text: str) -> tuple[int, ...]:
    from whyrec.errors import ParameterError

    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ParameterError(f"--hidden takes comma-separated integers, not {text!r}") from None


def main() -> None:
    """Console entry point: run the typer app, turning whyrec errors into one-line messages."""
    from whyrec._runtime import tune_allocator

    tune_allocator()
    try:
        app(standalone_mode=False)
    except WhyrecError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:
        # usage errors (missing option, bad value) know their message and exit code; typer
        # raises its own or click's class depending on the version, so match on behaviour
        if hasattr(exc, "exit_code") and hasattr(exc, "show"):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
