"""Figures of explanation quality: curves with confidence bands, Δŷ histograms, agreement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from whyrec.evaluate.pertinence import Curve


def curve_figure(curves: Mapping[str, Curve], *, title: str, yaxis: str) -> go.Figure:
    """Mean curve per method with its 95% confidence band."""
    figure = go.Figure()
    for n, (name, curve) in enumerate(curves.items()):
        tint = colour(n)
        mean, half = curve.mean, curve.ci95
        ks = curve.ks.tolist()
        figure.add_trace(
            go.Scatter(
                x=ks + ks[::-1],
                y=(mean + half).tolist() + (mean - half)[::-1].tolist(),
                fill="toself",
                fillcolor=tint.replace("rgb", "rgba").replace(")", ",0.15)"),
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
            )
        )
        figure.add_trace(go.Scatter(x=ks, y=mean.tolist(), name=name, line={"color": tint}))
    figure.update_layout(title=title, xaxis_title="k (tokens)", yaxis_title=yaxis, template="plotly_white")
    return figure


def delta_histogram(samples: Mapping[str, np.ndarray], *, title: str) -> go.Figure:
    """Overlaid histograms of Δŷ (the paper's Figure 7)."""
    figure = go.Figure()
    for n, (name, values) in enumerate(samples.items()):
        figure.add_trace(go.Histogram(x=np.asarray(values).tolist(), name=name, opacity=0.6, marker_color=colour(n)))
    figure.update_layout(barmode="overlay", title=title, xaxis_title="Δŷ", yaxis_title="pairs", template="plotly_white")
    return figure


def agreement_heatmap(matrix: np.ndarray, names: Sequence[str], *, title: str) -> go.Figure:
    """Method x method agreement (Kendall τ or top-k overlap)."""
    figure = go.Figure(
        go.Heatmap(
            z=np.asarray(matrix).tolist(), x=list(names), y=list(names), colorscale="RdBu", zmid=0, zmin=-1, zmax=1
        )
    )
    figure.update_layout(title=title, template="plotly_white")
    return figure


def colour(n: int) -> str:
    """The `n`-th colour of the figures' palette (plotly's, cycled), so that one model keeps its colour."""
    palette = [
        "rgb(31,119,180)",
        "rgb(214,39,40)",
        "rgb(44,160,44)",
        "rgb(255,127,14)",
        "rgb(148,103,189)",
        "rgb(140,86,75)",
        "rgb(227,119,194)",
        "rgb(127,127,127)",
        "rgb(188,189,34)",
        "rgb(23,190,207)",
        "rgb(0,0,0)",
    ]
    return palette[n % len(palette)]
