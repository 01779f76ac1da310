"""`whyrec report`: the dashboard's views as one self-contained HTML file."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from whyrec.explain.base import explain
from whyrec.explain.topk import explain_top_k
from whyrec.models.recommender import Recommender
from whyrec.viz.page import Html, write_page
from whyrec.viz.sankey import sankey_figure


def model_report(
    model: Recommender,
    out: str | os.PathLike,
    *,
    users: list[Any] | None = None,
    n_users: int = 4,
    k: int = 5,
    method: str | None = None,
    sample: int = 500,
    seed: int = 0,
) -> Path:
    """Write a static HTML report: global drivers, then each user's recommendations with Sankeys."""
    fs = model.feature_space_
    rng = np.random.default_rng(seed)
    active = np.flatnonzero(np.diff(model.user_profiles(np.arange(fs.n_users)).indptr) > 0)
    chosen = fs.user_index(users) if users else np.sort(rng.choice(active, min(n_users, len(active)), replace=False))
    sampled = np.sort(rng.choice(active, min(sample, len(active)), replace=False))
    drivers = explain_top_k(model, sampled, k=1, method=method)
    shares = drivers.table().field_shares()
    bars = go.Figure(go.Bar(x=shares.to_numpy(), y=list(shares.index), orientation="h"))
    bars.update_layout(
        title=f"What drives the top recommendation: mean share of |relevance| per field ({len(sampled)} users)",
        yaxis={"autorange": "reversed"},
        height=max(300, 28 * len(shares)),
    )
    method_name = drivers.explanations.method
    blocks: list[Any] = [
        Html(
            f"<p>{fs.n_users} users, {fs.n_items} items, {fs.n_tokens} tokens; explanations by "
            f"{html.escape(method_name)}.</p>"
        ),
        bars,
    ]
    for user in chosen:
        user_id = fs.user_ids[user]
        recs = model.recommend(user_id, k=k)
        explanations = explain(model, user_id, list(recs.item_ids[0]), method=method_name)
        attributes = ", ".join(str(fs.token_names[t]) for t in model.user_attributes_[user].indices)
        items = "".join(
            f"<li><b>{html.escape(e.item_name)}</b> (score {e.score:.2f}): {html.escape(e.sentence())}</li>"
            for e in explanations
        )
        heading = f"<h2>User {html.escape(str(user_id))}</h2><p class='muted'>{html.escape(attributes)}</p>"
        blocks.append(Html(f"{heading}<ol>{items}</ol>"))
        blocks.extend(sankey_figure(e) for e in list(explanations)[:3])
    return write_page(out, f"whyrec report: {type(model).__name__}", blocks, plotly="inline")
