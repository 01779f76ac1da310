"""The insights report as a self-contained HTML page (plotly.js inlined) plus its JSON."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from whyrec._io import write_json_atomic
from whyrec.insights.analysis import summary_lines
from whyrec.viz.page import write_page


def write_report(
    result: dict[str, Any], out: str | os.PathLike, *, title: str = "whyrec insights"
) -> tuple[Path, Path]:
    """insights.json and insights.html in directory `out`: the findings in words, then the figures."""
    out = Path(out)
    json_path = out / "insights.json"
    write_json_atomic(json_path, result)
    figures = [_importance_figure(result), *(_segment_heatmap(spec, seg) for spec, seg in result["segments"].items())]
    if result["stability"]:
        figures.append(_stability_figure(result["stability"]))
    figures.extend(_dependence_figure(name, buckets) for name, buckets in result["dependence"].items())
    figures.append(_graph_figure(result["co_relevance"]))
    html_path = write_page(out / "insights.html", title, [*summary_lines(result), *figures], plotly="inline")
    return json_path, html_path


def _importance_figure(result: dict[str, Any]) -> go.Figure:
    rows = result["global"]["fields"]
    share = [r["share"] for r in rows]
    figure = go.Figure(
        go.Bar(
            x=share,
            y=[r["field"] for r in rows],
            orientation="h",
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [r["ci95"][1] - r["share"] for r in rows],
                "arrayminus": [r["share"] - r["ci95"][0] for r in rows],
            },
        )
    )
    figure.update_layout(title="Importance per field (share of |relevance|, 95% CI)", yaxis={"autorange": "reversed"})
    return figure


def _segment_heatmap(spec: str, seg: dict[str, Any]) -> go.Figure:
    names = list(seg["segments"])
    fields = list(next(iter(seg["segments"].values()))["fields"]) if names else []
    z = [[seg["segments"][s]["fields"][f]["share"] or 0.0 for s in names] for f in fields]
    marks = [["*" if seg["tests"].get(f, {}).get("significant") else "" for _ in names] for f in fields]
    figure = go.Figure(go.Heatmap(z=z, x=names, y=fields, text=marks, texttemplate="%{text}", colorscale="Blues"))
    figure.update_layout(
        title=f"Field x {spec} (share; * = material, significant difference)", height=max(350, 28 * len(fields))
    )
    return figure


def _stability_figure(stability: dict[str, Any]) -> go.Figure:
    figure = go.Figure()
    for field, values in stability["shares"].items():
        figure.add_trace(go.Scatter(x=list(range(len(values))), y=values, mode="lines+markers", name=field))
    figure.update_layout(title="Stability: share per field in each retrained run", xaxis_title="run")
    return figure


def _dependence_figure(name: str, buckets: list[dict[str, Any]]) -> go.Figure:
    figure = go.Figure(
        go.Scatter(x=[b["bucket"] for b in buckets], y=[b["mean_relevance"] for b in buckets], name="mean relevance")
    )
    if buckets and "recommended_share" in buckets[0]:
        figure.add_trace(
            go.Bar(
                x=[b["bucket"] for b in buckets],
                y=[b["recommended_share"] for b in buckets],
                name="recommended share",
                opacity=0.4,
                yaxis="y2",
            )
        )
        figure.update_layout(yaxis2={"overlaying": "y", "side": "right", "title": "share"})
    figure.update_layout(title=f"Dependence on {name}", yaxis_title="mean relevance")
    return figure


def _graph_figure(graph: dict[str, Any]) -> go.Figure:
    nodes = [n["name"] for n in graph["nodes"]]
    angle = np.linspace(0, 2 * np.pi, len(nodes), endpoint=False)
    position = {n: (np.cos(a), np.sin(a)) for n, a in zip(nodes, angle, strict=True)}
    figure = go.Figure()
    for edge in graph["edges"]:
        (x0, y0), (x1, y1) = position[edge["source"]], position[edge["target"]]
        figure.add_trace(
            go.Scatter(
                x=[x0, x1],
                y=[y0, y1],
                mode="lines",
                line={"width": 1 + 8 * edge["weight"], "color": "rgba(31,119,180,0.4)"},
                hoverinfo="text",
                text=f"{edge['weight']:.2f}",
                showlegend=False,
            )
        )
    figure.add_trace(
        go.Scatter(
            x=[position[n][0] for n in nodes],
            y=[position[n][1] for n in nodes],
            mode="markers+text",
            text=nodes,
            textposition="top center",
            showlegend=False,
        )
    )
    figure.update_layout(
        title="Dependency graph: tokens often among the same explanation's top 5 (Jaccard)",
        xaxis={"visible": False},
        yaxis={"visible": False},
        height=650,
    )
    return figure
