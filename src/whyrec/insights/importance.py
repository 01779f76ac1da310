"""What drives the recommendations, across users and segments, with uncertainty.

Everything starts from an :class:`~whyrec.explain.AttributionTable`: every token of every explained
(user, recommended item) pair with its relevance, and each user's share of every field. Users are
the unit of resampling (bootstrap intervals) and of testing (segment differences).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from whyrec.explain.topk import AttributionTable

MIN_SEGMENT_USERS = 20


def bootstrap_mean(values: np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap 95% interval of the mean of `values` (rows = users)."""
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(values), size=(n_boot, len(values)))
    means = values[index].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5], axis=0)
    return float(values.mean()), float(low), float(high)


def segment_importance(
    shares: pd.DataFrame,
    labels: pd.Series,
    *,
    fields: Sequence[str] | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    min_users: int = MIN_SEGMENT_USERS,
    min_spread: float = 0.01,
    min_relative: float = 0.25,
    seed: int = 0,
) -> dict[str, Any]:
    """Per-segment field shares with bootstrap intervals, and tests of differences between segments.

    `shares` is users x fields (from :meth:`AttributionTable.user_shares`), `labels` maps each user
    to a segment. Each field gets a Kruskal–Wallis test across the segments with enough users;
    p-values are adjusted over fields with Benjamini–Hochberg. A difference is called significant
    when it is both statistically significant (adjusted p < `alpha`) and material: the segments'
    shares differ by at least `min_spread` absolute and `min_relative` of the largest. Shares are
    compositional (one field gaining moves all others a little), and with thousands of users
    such second-order shifts are "significant" without mattering.
    """
    labels = labels.reindex(shares.index)
    fields = list(fields) if fields is not None else list(shares.columns)
    segments: dict[str, Any] = {}
    usable = []
    for segment, members in labels.groupby(labels, dropna=True).groups.items():
        values = shares.loc[members, fields]
        entry: dict[str, Any] = {"users": len(values)}
        if len(values) < min_users:
            entry["note"] = f"only {len(values)} users; at least {min_users} are needed for an interval"
            entry["fields"] = {f: {"share": float(values[f].mean()) if len(values) else None} for f in fields}
        else:
            usable.append(segment)
            entry["fields"] = {}
            for n, f in enumerate(fields):
                mean, low, high = bootstrap_mean(values[f].to_numpy(), n_boot=n_boot, seed=seed + n)
                entry["fields"][f] = {"share": mean, "ci95": [low, high]}
        segments[str(segment)] = entry
    tests: dict[str, Any] = {}
    if len(usable) >= 2:
        raw = []
        for f in fields:
            groups = [shares.loc[labels[labels == s].index, f].to_numpy() for s in usable]
            if all(np.ptp(g) == 0 for g in groups) and len({float(g[0]) for g in groups}) == 1:
                raw.append(1.0)  # identical constants: no evidence of a difference
            else:
                raw.append(float(stats.kruskal(*groups).pvalue))
        adjusted = stats.false_discovery_control(np.asarray(raw), method="bh")
        for f, p, q in zip(fields, raw, adjusted, strict=True):
            means = {str(s): segments[str(s)]["fields"][f]["share"] for s in usable}
            spread = float(max(means.values()) - min(means.values()))
            material = spread >= min_spread and spread >= min_relative * max(means.values())
            tests[f] = {
                "p_value": p,
                "p_adjusted": float(q),
                "significant": bool(q < alpha and material),
                "statistically_significant": bool(q < alpha),
                "highest": max(means, key=lambda s: means[s]),
                "lowest": min(means, key=lambda s: means[s]),
                "spread": spread,
            }
    rule = {"alpha": alpha, "correction": "benjamini-hochberg", "min_spread": min_spread, "min_relative": min_relative}
    return {"segments": segments, "tests": tests, "compared": [str(s) for s in usable], "rule": rule}


def rank_stability(importances: Sequence[pd.Series], *, top: int = 20) -> dict[str, Any]:
    """Spearman correlations between runs over the union of their top fields, and unstable fields.

    A field is flagged unstable when its share varies across runs by more than half its mean
    (coefficient of variation > 0.5) or its rank moves by more than 5 places.
    """
    names = sorted(set().union(*(set(s.sort_values(ascending=False).index[:top]) for s in importances)))
    matrix = pd.concat([s.reindex(names).fillna(0.0) for s in importances], axis=1)
    pairs = []
    for i in range(matrix.shape[1]):
        for j in range(i + 1, matrix.shape[1]):
            pairs.append(float(stats.spearmanr(matrix.iloc[:, i], matrix.iloc[:, j]).statistic))
    ranks = matrix.rank(ascending=False)
    cv = matrix.std(axis=1) / matrix.mean(axis=1).replace(0, np.nan)
    unstable = [n for n in names if (cv[n] > 0.5) or (ranks.loc[n].max() - ranks.loc[n].min() > 5)]
    return {
        "fields": names,
        "spearman": pairs,
        "min_spearman": min(pairs) if pairs else None,
        "unstable": unstable,
        "shares": {n: matrix.loc[n].tolist() for n in names},
    }


def co_relevance(table: AttributionTable, *, tokens: int = 25, top: int = 5) -> dict[str, Any]:
    """How often two tokens are among the same explanation's top reasons (Jaccard over pairs)."""
    rows = table.rows.sort_values(["pair", "relevance"], ascending=[True, False])
    rows = rows.assign(rank=rows.groupby("pair").cumcount())
    best = rows[rows["rank"] < top]
    common = best["name"].value_counts().index[:tokens]
    sets = {name: set(best.loc[best["name"] == name, "pair"]) for name in common}
    edges = []
    names = list(common)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            union = len(sets[a] | sets[b])
            weight = len(sets[a] & sets[b]) / union if union else 0.0
            if weight > 0.05:
                edges.append({"source": a, "target": b, "weight": weight})
    return {"nodes": [{"name": n, "pairs": len(sets[n])} for n in names], "edges": edges}


def dependence(model: Any, table: AttributionTable, recommended: np.ndarray) -> dict[str, Any]:
    """For bucketised numeric fields: mean relevance per bucket and (item fields) recommended share."""
    fs = model.feature_space_
    out: dict[str, Any] = {}
    flat = recommended.ravel()
    for f in fs.fields:
        if f.kind != "numeric":
            continue
        key = f"{f.entity}.{f.name}"
        start = fs.field_offsets[(f.entity, f.name)]
        buckets = []
        for n, label in enumerate(f.values):
            token = start + n
            present = table.rows[table.rows["token"] == token]["relevance"]
            entry = {"bucket": label, "mean_relevance": float(present.mean()) if len(present) else None}
            if f.entity == "item":
                carriers = model.item_attributes_[:, token].toarray().ravel() > 0
                entry["recommended_share"] = float(carriers[flat].mean())
                entry["catalogue_share"] = float(carriers.mean())
            buckets.append(entry)
        out[key] = buckets
    return out


def what_if(
    model: Any, user_id: Any, *, change: Mapping[str, Any] | None = None, remove: Sequence[str] = (), k: int = 10
) -> dict[str, Any]:
    """Recommendations of a known user before and after changing or removing user attributes."""
    fs = model.feature_space_
    user = fs.user_index([user_id])[0]
    history = [fs.item_ids[i] for i in model.train_matrix_[user].indices]
    current: dict[str, Any] = {}
    for token in model.user_attributes_[user].indices:
        field, _, value = str(fs.token_names[token]).partition("=")
        current.setdefault(field.removeprefix("user."), value)
    for name in remove:
        fs.field("user", name)
        current.pop(name, None)
    for name, value in (change or {}).items():
        fs.field("user", name)
        current[name] = value
    before = model.recommend(user_id, k=k)
    after = model.recommend_profile(items=history, user_attributes=_raw_attributes(fs, current), k=k)
    before_ids, after_ids = list(before.item_ids[0]), list(after.item_ids[0])
    moves = []
    for rank, item in enumerate(after_ids, start=1):
        old = before_ids.index(item) + 1 if item in before_ids else None
        moves.append({"item_id": item, "name": fs.item_names[fs.item_index([item])[0]], "rank": rank, "was": old})
    return {
        "user_id": user_id,
        "attributes_after": current,
        "before": before_ids,
        "after": after_ids,
        "moves": moves,
        "overlap": len(set(before_ids) & set(after_ids)) / k,
    }


def _raw_attributes(fs: Any, labels: Mapping[str, str]) -> dict[str, Any]:
    """Token labels back to values the encoder accepts (a numeric bucket -> its lower edge)."""
    raw: dict[str, Any] = {}
    for name, label in labels.items():
        f = fs.field("user", name)
        if f.kind == "numeric" and label in f.values:
            raw[name] = f.edges[f.values.index(label)]
        else:
            raw[name] = label
    return raw
