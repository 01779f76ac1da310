"""``whyrec evaluate``: ranking metrics of a saved model."""

from __future__ import annotations

from typing import Annotated

import typer

from whyrec.cli._common import DATA_HELP, AsJson, ModelDir, console, dumps, with_data_options


@with_data_options
def evaluate(
    model: ModelDir,
    k: Annotated[list[int], typer.Option("--k", help="Cut-offs (repeatable).")] = [20, 50],  # noqa: B006
    data: Annotated[
        str | None, typer.Option(help="Evaluate on these interactions instead of the saved test split: " + DATA_HELP)
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Ranking metrics of a saved model, on its saved test split or on other interactions.

    With --data (the next period's interactions, say), users and items the model does not know are
    left out, and so are the interactions it trained on.
    """
    from whyrec.runs import evaluate_on, evaluate_saved

    metrics = evaluate_saved(model, k=tuple(k)) if data is None else evaluate_on(model, data, k=tuple(k))
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
