"""`whyrec data inspect`: what a dataset holds, and what a split of it would give a model.

Everything a person checks before training, from the loaded :class:`~whyrec.data.Dataset`: sizes
and density, how activity and popularity are distributed, how many rows the rating threshold and
the duplicate policy removed, how much of each attribute field is filled, and what the chosen split
would produce (test users without training history, test items never seen in training).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from whyrec.data.dataset import Dataset
from whyrec.data.splits import split

QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)


def inspect_dataset(
    dataset: Dataset,
    *,
    kind: str = "random",
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    cold_start: float = 0.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Every number of the report (see the module docstring), as JSON-ready values."""
    fs = dataset.feature_space
    per_user = np.bincount(dataset.users, minlength=fs.n_users)
    per_item = np.bincount(dataset.items, minlength=fs.n_items)
    ranked = np.sort(per_item)[::-1]
    total = max(int(per_item.sum()), 1)
    report: dict[str, Any] = {
        "name": dataset.name,
        "users": fs.n_users,
        "items": fs.n_items,
        "interactions": dataset.n_interactions,
        "density": dataset.n_interactions / max(1, fs.n_users * fs.n_items),
        "users_without_interactions": int((per_user == 0).sum()),
        "items_without_interactions": int((per_item == 0).sum()),
        "activity_quantiles": _quantiles(per_user),
        "popularity_quantiles": _quantiles(per_item),
        "top_1pct_items_share": float(ranked[: max(1, fs.n_items // 100)].sum() / total),
        "top_10pct_items_share": float(ranked[: max(1, fs.n_items // 10)].sum() / total),
        "loading": dict(dataset.stats),
        "fields": _coverage(dataset),
    }
    if dataset.weights is not None:
        report["events"] = {"total": float(dataset.weights.sum()), "max_per_pair": float(dataset.weights.max())}
    if dataset.timestamps is not None and len(dataset.timestamps):
        report["timestamps"] = {"first": int(dataset.timestamps.min()), "last": int(dataset.timestamps.max())}
    report["split"] = _split_preview(dataset, kind, fractions, cold_start, seed)
    report["histograms"] = {"activity": _log_histogram(per_user), "popularity": _log_histogram(per_item)}
    return report


def _quantiles(counts: np.ndarray) -> dict[str, float]:
    values = np.quantile(counts, QUANTILES) if len(counts) else np.zeros(len(QUANTILES))
    return {f"p{round(q * 100)}": float(v) for q, v in zip(QUANTILES, values, strict=True)}


def _log_histogram(counts: np.ndarray) -> dict[str, list[float]]:
    """Counts in powers-of-two bins (1, 2-3, 4-7, ...), for the report's charts."""
    if not len(counts) or counts.max() == 0:
        return {"edges": [], "entities": []}
    edges = 2 ** np.arange(int(np.log2(max(counts.max(), 1))) + 2)
    hist, _ = np.histogram(counts[counts > 0], bins=edges)
    return {"edges": edges[:-1].astype(float).tolist(), "entities": hist.astype(float).tolist()}


def _coverage(dataset: Dataset) -> list[dict[str, Any]]:
    """Per attribute field: how many values it has and the share of users (items) with one."""
    fs = dataset.feature_space
    out = []
    for f in fs.fields:
        if f.entity == "context":
            continue
        start = fs.field_offsets[(f.entity, f.name)]
        matrix = dataset.user_attributes if f.entity == "user" else dataset.item_attributes
        block = matrix[:, start : start + len(f.values)]
        filled = np.diff(block.indptr) > 0
        out.append(
            {
                "field": f"{f.entity}.{f.name}",
                "kind": f.kind,
                "values": len(f.values),
                "coverage": float(filled.mean()) if len(filled) else 0.0,
                "values_per_entity": float(block.nnz / max(int(filled.sum()), 1)),
            }
        )
    return out


def _split_preview(
    dataset: Dataset, kind: str, fractions: tuple[float, float, float], cold_start: float, seed: int
) -> dict[str, Any]:
    parts = split(dataset, kind, fractions=fractions, cold_start=cold_start, seed=seed)  # type: ignore[arg-type]
    train_users = np.unique(parts.train.users)
    train_items = np.unique(parts.train.items)
    out: dict[str, Any] = {"kind": kind, "fractions": list(fractions), "cold_start": cold_start, "seed": seed}
    out["sizes"] = parts.sizes()
    for name, part in (("validation", parts.validation), ("test", parts.test)):
        users = np.unique(part.users)
        unseen_items = ~np.isin(part.items, train_items)
        out[name] = {
            "users": len(users),
            "users_without_training_history": int((~np.isin(users, train_users)).sum()),
            "interactions_on_items_unseen_in_training": int(unseen_items.sum()),
            "items_unseen_in_training": len(np.unique(part.items[unseen_items])),
        }
    out["cold_start_users"] = len(parts.cold_users)
    return out


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The report's findings in sentences (the command line and the HTML page print these)."""
    a, p = report["activity_quantiles"], report["popularity_quantiles"]
    lines = [
        f"{report['name']}: {report['users']:,} users, {report['items']:,} items, {report['interactions']:,} "
        f"interactions (density {report['density']:.3%}).",
        f"Interactions per user: median {a['p50']:g}, 10% of users have {a['p10']:g} or fewer, the most active "
        f"{a['p100']:g}; {report['users_without_interactions']:,} users have none.",
        f"Interactions per item: median {p['p50']:g}, the most popular {p['p100']:g}; the top 1% of items hold "
        f"{report['top_1pct_items_share']:.1%} of interactions and the top 10% {report['top_10pct_items_share']:.1%}; "
        f"{report['items_without_interactions']:,} items have none.",
    ]
    loading = report["loading"]
    if loading:
        parts = [f"{loading.get('rows', 0):,} rows read"]
        if "below_min_rating" in loading:
            parts.append(f"{loading['below_min_rating']:,} below min_rating {loading['min_rating']:g}")
        parts.append(f"{loading.get('repeated_rows', 0):,} repeated (user, item) rows ({loading.get('on_duplicate')})")
        lines.append("Loading: " + ", ".join(parts) + ".")
    if "events" in report:
        e = report["events"]
        lines.append(f"Repeated events were counted: {e['total']:,.0f} events, at most {e['max_per_pair']:g} per pair.")
    for f in report["fields"]:
        lines.append(
            f"Field {f['field']} ({f['kind']}, {f['values']} values): set for {f['coverage']:.1%}, "
            f"{f['values_per_entity']:.2g} value(s) each."
        )
    s = report["split"]
    sizes = s["sizes"]
    test = s["test"]
    lines.append(
        f"A {s['kind']} split {'/'.join(f'{x:g}' for x in s['fractions'])} (seed {s['seed']}) gives {sizes['train']:,} "
        f"train, {sizes['validation']:,} validation and {sizes['test']:,} test interactions; "
        f"{test['users_without_training_history']:,} of {test['users']:,} test users have no training history "
        f"({s['cold_start_users']:,} made cold on purpose) and {test['interactions_on_items_unseen_in_training']:,} "
        f"test interactions are on {test['items_unseen_in_training']:,} items never seen in training."
    )
    return lines
