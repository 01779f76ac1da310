"""Figures of detected feature interactions: a field graph and the global ranking."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from whyrec.interactions.glider import InteractionReport


def interaction_graph(report: InteractionReport, *, top: int = 20) -> go.Figure:
    """Fields on a circle; an edge per strong pair, its width and opacity scaled by the strength."""
    fields = report.fields
    angle = 2 * np.pi * np.arange(len(fields)) / max(len(fields), 1)
    x, y = np.cos(angle), np.sin(angle)
    pairs = [p for p in report.pair_ranking()[:top] if p[1] > 0]
    strongest = pairs[0][1] if pairs else 1.0
    figure = go.Figure()
    for (a, b), strength in pairs:
        i, j = fields.index(a), fields.index(b)
        share = strength / strongest
        figure.add_trace(
            go.Scatter(
                x=[x[i], x[j]],
                y=[y[i], y[j]],
                mode="lines",
                hoverinfo="text",
                showlegend=False,
                text=f"{a} × {b}: {strength:.3f}",
                line={"width": 1 + 9 * share, "color": f"rgba(214,39,40,{0.25 + 0.75 * share:.2f})"},
            )
        )
    degree = report.pairwise.sum(axis=1)
    figure.add_trace(
        go.Scatter(
            x=x,
            y=y,
            mode="markers+text",
            text=fields,
            textposition="top center",
            showlegend=False,
            marker={"size": 10 + 20 * degree / max(degree.max(), 1e-12), "color": "rgb(31,119,180)"},
            hovertext=[f"{f}: total pairwise strength {d:.3f}" for f, d in zip(fields, degree, strict=True)],
            hoverinfo="text",
        )
    )
    figure.update_layout(
        title=f"Field interactions ({report.method}, top {len(pairs)} pairs)",
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x"},
        height=650,
        template="plotly_white",
    )
    return figure


def interaction_bars(report: InteractionReport, *, top: int = 15) -> go.Figure:
    """Share of instances whose top interactions include each interaction."""
    rows = report.ranking[:top][::-1]
    figure = go.Figure(
        go.Bar(
            x=[r["share"] for r in rows],
            y=[" × ".join(r["fields"]) for r in rows],
            orientation="h",
            hovertext=[f"{r['count']} instances, mean relative strength {r['strength']:.2f}" for r in rows],
        )
    )
    figure.update_layout(
        title="Global interaction ranking: share of instances",
        xaxis_title="share of instances",
        height=200 + 28 * len(rows),
        template="plotly_white",
        margin={"l": 220},
    )
    return figure
