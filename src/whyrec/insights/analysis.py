"""`whyrec insights`: every number of the report, and the findings in plain words.

The HTML page is drawn by :mod:`whyrec.viz.insights`; retraining for the stability check is a
training run (:func:`whyrec.runs.retrain_for_stability`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from whyrec.errors import ParameterError
from whyrec.explain.topk import explain_top_k
from whyrec.insights.importance import (
    bootstrap_mean,
    co_relevance,
    dependence,
    rank_stability,
    segment_importance,
    what_if,
)
from whyrec.insights.segments import segment_labels
from whyrec.models.recommender import Recommender


def insights(
    model: Recommender,
    *,
    segment_by: Sequence[str] = (),
    k: int = 5,
    method: str | None = None,
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
    explained = explain_top_k(model, users, k=k, method=method)
    table, recommended = explained.table(), explained.items
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
            runs.append(explain_top_k(other, users, k=k, method=method).table().user_shares("field").mean())
        stability = rank_stability(runs)

    example = fs.user_ids[users[0]]
    example_change = None
    if fs.user_fields:
        field = fs.user_fields[0]
        current = [str(fs.token_names[t]) for t in model.user_attributes_[users[0]].indices]
        other = next((v for v in field.values if f"user.{field.name}={v}" not in current), None)
        if other is not None:
            raw = field.edges[field.values.index(other)] if field.edges is not None else other
            example_change = what_if(model, example, change={field.name: raw}, k=10)
            example_change["changed"] = {field.name: other}
    return {
        "method": explained.explanations.method,
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
    return [{"name": str(index), **{str(k): float(v) for k, v in row.items()}} for index, row in frame.iterrows()]
