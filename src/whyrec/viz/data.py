"""The data report (`whyrec data inspect --html`) as a self-contained page of plotly charts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from whyrec.data.inspect import summary_lines
from whyrec.viz.page import write_page


def write_data_report(report: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write the report's sentences and charts to `path` (plotly.js inlined from the package)."""
    blocks: list[Any] = [*summary_lines(report)]
    for name, what in (("activity", "users by interactions"), ("popularity", "items by interactions")):
        hist = report["histograms"][name]
        labels = [f"{int(e)}-{int(2 * e - 1)}" if e > 1 else "1" for e in hist["edges"]]
        figure = go.Figure(go.Bar(x=labels, y=hist["entities"]))
        figure.update_layout(
            title=f"{what.capitalize()} (powers-of-two bins)",
            xaxis_title="interactions",
            yaxis_title=what.split()[0],
            template="plotly_white",
        )
        blocks.append(figure)
    if report["fields"]:
        fields = report["fields"]
        coverage = go.Figure(go.Bar(x=[f["coverage"] for f in fields], y=[f["field"] for f in fields], orientation="h"))
        coverage.update_layout(
            title="Attribute coverage: share of users (items) with a value",
            xaxis_tickformat=".0%",
            template="plotly_white",
            height=200 + 28 * len(fields),
        )
        blocks.append(coverage)
    return write_page(path, f"whyrec data report: {report['name']}", blocks, plotly="inline")
