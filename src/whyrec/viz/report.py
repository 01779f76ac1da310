"""`whyrec report`: the dashboard's views as one self-contained HTML file."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from whyrec._io import write_text_atomic
from whyrec.explain import explain_pairs
from whyrec.viz.sankey import sankey_figure


def field_shares(model: Any, users: np.ndarray, *, method: str = "lrp") -> pd.DataFrame:
    """Mean share of |relevance| per field over each user's top recommendation (global drivers)."""
    recs = model.top_k(model.score_users(users), 1, model.train_matrix_[users])
    result = explain_pairs(model, model.user_profiles(users), recs.items[:, 0], method=method)
    fields = model.feature_space_.token_fields
    pair = np.repeat(np.arange(len(users)), np.diff(result.relevance.indptr))
    frame = pd.DataFrame(
        {"pair": pair, "field": fields[result.relevance.indices], "abs": np.abs(result.relevance.data)}
    )
    per_pair = frame.groupby(["pair", "field"])["abs"].sum()
    shares = per_pair / per_pair.groupby(level="pair").transform("sum")
    table = shares.groupby(level="field").sum() / len(users)
    return table.sort_values(ascending=False).rename("share").reset_index()


def model_report(
    model: Any,
    out: str | os.PathLike,
    *,
    users: list[Any] | None = None,
    n_users: int = 4,
    k: int = 5,
    method: str = "lrp",
    sample: int = 500,
    seed: int = 0,
) -> Path:
    """Write a static HTML report: global drivers, then each user's recommendations with Sankeys."""
    fs = model.feature_space_
    rng = np.random.default_rng(seed)
    active = np.flatnonzero(np.diff(model.user_profiles(np.arange(fs.n_users)).indptr) > 0)
    chosen = fs.user_index(users) if users else np.sort(rng.choice(active, min(n_users, len(active)), replace=False))
    shares = field_shares(model, np.sort(rng.choice(active, min(sample, len(active)), replace=False)), method=method)
    bars = go.Figure(go.Bar(x=shares["share"], y=shares["field"], orientation="h"))
    bars.update_layout(
        title="What drives the top recommendation: mean share of |relevance| per field "
        f"({min(sample, len(active))} users)",
        yaxis={"autorange": "reversed"},
        height=max(300, 28 * len(shares)),
    )
    parts = [_figure_html(bars, first=True)]
    for user in chosen:
        user_id = fs.user_ids[user]
        recs = model.recommend(user_id, k=k)
        explanations = model.explain([user_id] * k, list(recs.item_ids[0]), method=method)
        attributes = ", ".join(str(fs.token_names[t]) for t in model.user_attributes_[user].indices)
        parts.append(f"<h2>User {html.escape(str(user_id))}</h2><p class='muted'>{html.escape(attributes)}</p><ol>")
        for e in explanations:
            parts.append(
                f"<li><b>{html.escape(e.item_name)}</b> (score {e.score:.2f}): {html.escape(e.sentence())}</li>"
            )
        parts.append("</ol>")
        for e in list(explanations)[:3]:
            parts.append(_figure_html(sankey_figure(e)))
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>whyrec report</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}.muted{color:#666}</style></head><body>"
        f"<h1>whyrec report: {html.escape(type(model).__name__)}</h1>"
        f"<p>{fs.n_users} users, {fs.n_items} items, {fs.n_tokens} tokens; explanations by {html.escape(method)}.</p>"
        + "\n".join(parts)
        + "</body></html>"
    )
    out = Path(out)
    write_text_atomic(out, page)
    return out


def _figure_html(figure: go.Figure, first: bool = False) -> str:
    # the first figure carries plotly.js inline, so the file works offline and alone
    return figure.to_html(full_html=False, include_plotlyjs=first)
