"""`whyrec insights`: a JSON with every number and a self-contained HTML report in plain words."""

from __future__ import annotations

import html
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from whyrec._io import write_json_atomic, write_text_atomic
from whyrec.errors import ModelFormatError, ParameterError
from whyrec.insights.importance import (
    bootstrap_mean,
    co_relevance,
    dependence,
    explain_recommendations,
    rank_stability,
    segment_importance,
    what_if,
)
from whyrec.insights.segments import segment_labels


def insights(
    model: Any,
    *,
    segment_by: Sequence[str] = (),
    k: int = 5,
    method: str = "lrp",
    max_users: int | None = None,
    retrained: Sequence[Any] = (),
    seed: int = 0,
) -> dict[str, Any]:
    """Every number of the insights report (see the module docstrings of whyrec.insights)."""
    model._check_fitted()
    fs = model.feature_space_
    if fs.n_users == 0 or model.train_matrix_.nnz == 0:
        raise ParameterError("the model has no users or no training interactions to explain")
    rng = np.random.default_rng(seed)
    lengths = np.diff(model.user_profiles(np.arange(fs.n_users)).indptr)
    users = np.flatnonzero(lengths > 0)
    if max_users is not None and len(users) > max_users:
        users = np.sort(rng.choice(users, max_users, replace=False))
    started = time.perf_counter()
    table, recommended = explain_recommendations(model, users, k=k, method=method)
    shares = table.user_shares("field")
    fields = list(shares.mean().sort_values(ascending=False).index)
    global_rows = []
    for n, f in enumerate(fields):
        mean, low, high = bootstrap_mean(shares[f].to_numpy(), seed=seed + n)
        global_rows.append({"field": f, "share": mean, "ci95": [low, high]})
    by_kind = table.global_importance("kind")
    by_token = table.global_importance("name").head(30)

    segments = {}
    for spec in segment_by:
        labels, unit = segment_labels(model, spec, users, recommended.ravel())
        source = shares if unit == "user" else table.pair_shares("field")
        segments[spec] = {"unit": unit, **segment_importance(source, labels, fields=fields, seed=seed)}

    half = rng.permutation(users)
    first, second = np.isin(shares.index, half[: len(half) // 2]), np.isin(shares.index, half[len(half) // 2 :])
    replication = rank_stability([shares[first].mean(), shares[second].mean()])
    stability = None
    if retrained:
        runs = [shares.mean()]
        for other in retrained:
            other_table, _ = explain_recommendations(other, users, k=k, method=method)
            runs.append(other_table.user_shares("field").mean())
        stability = rank_stability(runs)

    example = fs.user_ids[users[0]]
    example_change = None
    if fs.user_fields:
        field = fs.user_fields[0]
        current = [str(fs.token_names[t]) for t in model.user_attributes_[users[0]].indices]
        other = next((v for v in field.values if f"user.{field.name}={v}" not in current), None)
        if other is not None:
            raw = field.edges[field.values.index(other)] if field.kind == "numeric" else other
            example_change = what_if(model, example, change={field.name: raw}, k=10)
            example_change["changed"] = {field.name: other}
    return {
        "method": method,
        "k": k,
        "users": len(users),
        "pairs": len(table.items),
        "seconds": time.perf_counter() - started,
        "global": {"fields": global_rows, "kinds": _records(by_kind), "tokens": _records(by_token)},
        "segments": segments,
        "replication": replication,
        "stability": stability,
        "co_relevance": co_relevance(table),
        "dependence": dependence(model, table, recommended),
        "what_if": example_change,
    }


def retrain_for_stability(
    model_dir: str | os.PathLike, runs: int, *, seed: int = 0, resample: float = 0.9
) -> list[Any]:
    """RecoNet retrained `runs` times from the model's saved run: new seeds, resampled training data."""
    from whyrec.models.reconet import RecoNet
    from whyrec.pipeline import RunConfig, prepare

    try:
        config = RunConfig.from_manifest(model_dir)
    except ModelFormatError as exc:
        raise ModelFormatError(f"stability needs a model saved by `whyrec train` or the demo: {exc}") from None
    parts = prepare(config)
    models = []
    for run in range(1, runs + 1):
        rng = np.random.default_rng([seed, run])
        keep = np.sort(rng.choice(parts.train_index, int(resample * len(parts.train_index)), replace=False))
        params = {**(config.params or {}), "seed": config.seed + run, "progress": False}
        models.append(RecoNet(**params).fit(parts.dataset.subset(keep), parts.validation))
    return models


def write_report(
    result: dict[str, Any], out: str | os.PathLike, *, title: str = "whyrec insights"
) -> tuple[Path, Path]:
    """insights.json and insights.html (plotly.js inlined) in directory `out`."""
    out = Path(out)
    json_path = out / "insights.json"
    write_json_atomic(json_path, result)
    figures = [_importance_figure(result), *(_segment_heatmap(spec, seg) for spec, seg in result["segments"].items())]
    if result["stability"]:
        figures.append(_stability_figure(result["stability"]))
    figures.extend(_dependence_figure(name, buckets) for name, buckets in result["dependence"].items())
    figures.append(_graph_figure(result["co_relevance"]))
    body = [f"<h1>{html.escape(title)}</h1>"] + [f"<p>{html.escape(line)}</p>" for line in summary_lines(result)]
    body += [f.to_html(full_html=False, include_plotlyjs=(n == 0)) for n, f in enumerate(figures)]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>whyrec insights</title><style>"
        "body{font-family:sans-serif;max-width:1100px;margin:auto;line-height:1.45}</style></head><body>"
        + "\n".join(body)
        + "</body></html>"
    )
    html_path = out / "insights.html"
    write_text_atomic(html_path, page)
    return json_path, html_path


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The findings in words a product manager can read, each with its uncertainty."""
    lines = [
        f"Method: each of {result['users']:,} users' top {result['k']} recommendations was explained with "
        f"{result['method'].upper()} ({result['pairs']:,} explanations). A field's importance is its share of "
        "the explanation's total absolute relevance, averaged over users; ranges are 95% bootstrap intervals.",
    ]
    top = result["global"]["fields"][:3]
    lines.append(
        "What drives recommendations overall: "
        + "; ".join(f"{r['field']} {r['share']:.0%} (between {r['ci95'][0]:.0%} and {r['ci95'][1]:.0%})" for r in top)
        + "."
    )
    for spec, seg in result["segments"].items():
        found = [(f, t) for f, t in seg["tests"].items() if t["significant"]]
        small = [s for s, v in seg["segments"].items() if "note" in v]
        if found:
            parts = [
                f"{f} matters more for {t['highest']} than for {t['lowest']} (by {t['spread']:.0%} of the explanation)"
                for f, t in sorted(found, key=lambda x: -x[1]["spread"])[:5]
            ]
            lines.append(f"By {spec}: " + "; ".join(parts) + ".")
        else:
            lines.append(f"By {spec}: no field's importance differs materially between segments.")
        if small:
            lines.append(f"By {spec}: segments too small for an interval: {', '.join(small)}.")
    rep = result["replication"]
    lines.append(
        f"Replication: on two random halves of the users the field ranking agrees with Spearman "
        f"{rep['min_spearman']:.2f}" + (f"; unstable fields: {', '.join(rep['unstable'])}." if rep["unstable"] else ".")
    )
    if result["stability"]:
        st = result["stability"]
        lines.append(
            f"Stability: across {len(st['spearman'])} pairs of retrained models the field ranking agrees with "
            f"Spearman >= {st['min_spearman']:.2f}"
            + (f"; unstable fields: {', '.join(st['unstable'])}." if st["unstable"] else "; no field is unstable.")
        )
    if result["what_if"]:
        w = result["what_if"]
        lines.append(
            f"What-if: changing user {w['user_id']}'s {', '.join(f'{k} to {v}' for k, v in w['changed'].items())} "
            f"keeps {w['overlap']:.0%} of their top 10."
        )
    return lines


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{"name": str(index), **{k: float(v) for k, v in row.items()}} for index, row in frame.iterrows()]


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
