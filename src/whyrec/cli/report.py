"""``whyrec report`` and ``whyrec insights``: what drives a model, as HTML pages and JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from whyrec.cli._common import MethodOption, ModelDir, console, method_name


def report(
    model: ModelDir,
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("runs/report.html"),
    user: Annotated[list[str] | None, typer.Option(help="Users to show (repeatable); default a random few.")] = None,
    method: MethodOption = None,
) -> None:
    """The dashboard's views (global drivers, recommendations with Sankeys) as one static HTML file."""
    from whyrec.models import Recommender
    from whyrec.viz.report import model_report

    path = model_report(Recommender.load(model), out, users=user or None, method=method_name(method))
    console.print(f"Wrote {path}")


def insights(
    model: ModelDir,
    segment_by: Annotated[
        list[str] | None, typer.Option("--segment-by", help="user.FIELD, item.FIELD, activity or cold (repeatable).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for insights.json and insights.html.")] = Path("runs/insights"),
    k: Annotated[int, typer.Option("-k", "--k", help="Recommendations explained per user.")] = 5,
    method: MethodOption = None,
    stability: Annotated[int, typer.Option(help="Retrained runs for the stability check (0: none).")] = 0,
    users: Annotated[int | None, typer.Option(help="Sample this many users (default: all).")] = None,
) -> None:
    """What drives the recommendations overall and per segment, with uncertainty, as HTML + JSON."""
    from whyrec.errors import ParameterError

    if k <= 0 or stability < 0:
        raise ParameterError(f"-k must be positive and --stability non-negative, got {k} and {stability}")
    from whyrec.insights import insights as run_insights
    from whyrec.insights import summary_lines
    from whyrec.models import Recommender
    from whyrec.runs import retrain_for_stability
    from whyrec.viz.insights import write_report

    loaded = Recommender.load(model)
    retrained = retrain_for_stability(model, stability) if stability else ()
    result = run_insights(
        loaded,
        segment_by=segment_by or (),
        k=k,
        method=method_name(method),
        max_users=users,
        retrained=retrained,
    )
    json_path, html_path = write_report(result, out, title=f"whyrec insights: {model}")
    for line in summary_lines(result):
        console.print(line)
    console.print(f"Wrote {json_path} and {html_path}")
