"""``whyrec data inspect``: look at a data set before training on it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from whyrec.cli._common import DATA_HELP, AsJson, SplitKind, console, dumps, with_data_options

app = typer.Typer(help="Look at a dataset before training on it.")


@app.command("inspect")
@with_data_options
def inspect(
    data: Annotated[str, typer.Argument(help=DATA_HELP)],
    split: Annotated[SplitKind, typer.Option(help="The split to preview.")] = SplitKind.random,
    cold_start: Annotated[float, typer.Option(help="Share of test users made cold-start.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 0,
    html: Annotated[Path | None, typer.Option(help="Also write a self-contained HTML page of charts here.")] = None,
    as_json: AsJson = False,
) -> None:
    """Sizes, activity and popularity, what loading filtered, attribute coverage, and what a split gives."""
    from whyrec.data.inspect import inspect_dataset, summary_lines
    from whyrec.data.spec import load_spec

    report = inspect_dataset(load_spec(data, seed=seed), kind=split.value, cold_start=cold_start, seed=seed)
    report["spec"] = data
    if html is not None:
        from whyrec.viz.data import write_data_report

        write_data_report(report, html)
    if as_json:
        typer.echo(dumps(report))
        return
    for line in summary_lines(report):
        console.print(line, soft_wrap=True)
    if html is not None:
        console.print(f"Wrote {html}")
