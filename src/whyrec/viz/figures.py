"""Figures of explanation quality (curves with confidence bands, Δŷ histograms, agreement) and of
accuracy against training cost."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from whyrec.evaluate.pertinence import Curve


def curve_figure(curves: Mapping[str, Curve], *, title: str, yaxis: str) -> go.Figure:
    """Mean curve per method with its 95% confidence band."""
    figure = go.Figure()
    for n, (name, curve) in enumerate(curves.items()):
        colour = _colour(n)
        mean, half = curve.mean, curve.ci95
        ks = curve.ks.tolist()
        figure.add_trace(
            go.Scatter(
                x=ks + ks[::-1],
                y=(mean + half).tolist() + (mean - half)[::-1].tolist(),
                fill="toself",
                fillcolor=colour.replace("rgb", "rgba").replace(")", ",0.15)"),
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
            )
        )
        figure.add_trace(go.Scatter(x=ks, y=mean.tolist(), name=name, line={"color": colour}))
    figure.update_layout(title=title, xaxis_title="k (tokens)", yaxis_title=yaxis, template="plotly_white")
    return figure


def delta_histogram(samples: Mapping[str, np.ndarray], *, title: str) -> go.Figure:
    """Overlaid histograms of Δŷ (the paper's Figure 7)."""
    figure = go.Figure()
    for n, (name, values) in enumerate(samples.items()):
        figure.add_trace(go.Histogram(x=np.asarray(values).tolist(), name=name, opacity=0.6, marker_color=_colour(n)))
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


def cost_frontier_figure(
    studies: Mapping[str, Mapping[str, Any]], *, title: str, reference: float | None = None, budget: float = 4.0
) -> go.Figure:
    """Each model's finished trials (validation recall@50 against fit seconds, log scale) and its
    Pareto front as a step line, from :func:`whyrec.studies.frontier.cost_frontier` results; with a
    `reference` fit time, a dashed line at `budget` times it."""
    figure = go.Figure()
    for n, (name, study) in enumerate(studies.items()):
        colour = _colour(n)
        done = [t for t in study["trials"] if t["state"] == "complete"]
        front = study["front"]
        for label, points, style in (
            ("trials", done, {"mode": "markers", "marker": {"color": colour, "opacity": 0.35}}),
            ("front", front, {"mode": "lines+markers", "line": {"color": colour, "shape": "hv"}}),
        ):
            figure.add_trace(go.Scatter(
                x=[t["fit_seconds"] for t in points], y=[t["validation"] for t in points], name=f"{name} {label}",
                text=[_params_text(t["params"]) for t in points], **style,
            ))  # fmt: skip
    if reference is not None:
        figure.add_vline(x=budget * reference, line_dash="dash", annotation_text=f"{budget:g}x the reference fit")
    figure.update_layout(title=title, xaxis_title="fit (s)", xaxis_type="log", yaxis_title="validation recall@50",
                         template="plotly_white")  # fmt: skip
    return figure


def _params_text(params: Mapping[str, Any]) -> str:
    return "<br>".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _colour(n: int) -> str:
    palette = [
        "rgb(31,119,180)", "rgb(214,39,40)", "rgb(44,160,44)", "rgb(255,127,14)", "rgb(148,103,189)",
        "rgb(140,86,75)", "rgb(227,119,194)", "rgb(127,127,127)", "rgb(188,189,34)", "rgb(23,190,207)",
        "rgb(0,0,0)",
    ]  # fmt: skip
    return palette[n % len(palette)]
