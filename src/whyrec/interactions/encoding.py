"""Interaction studies: detection against planted truth, and the encode experiment (target models
trained with and without GLIDER's cross fields over several seeds)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from whyrec.data.ctr import CTRSplit
from whyrec.errors import ParameterError
from whyrec.interactions.crosses import crossed_split
from whyrec.interactions.glider import InteractionReport
from whyrec.models.ctr import ARCHITECTURES, CTRModel

# Per-architecture learning rates: logistic regression's sparse weights need a larger step.
ARCHITECTURE_PARAMS: dict[str, dict[str, Any]] = {"lr": {"lr": 1e-2}, "fm": {"lr": 3e-3}}
# Per-data presets, chosen on validation log loss: the synthetic 3-way effects are learnt only after
# a plateau of several epochs, so training there is faster and more patient.
DATA_PARAMS: dict[str, dict[str, Any]] = {"synthetic-ctr": {"lr": 3e-3, "patience": 4, "epochs": 60}}


def model_params(architecture: str, overrides: Mapping[str, Any] | None = None, *, data: str = "") -> dict[str, Any]:
    """CTRModel parameters: the data preset, then the architecture's, then explicit `overrides`."""
    if architecture not in ARCHITECTURES:
        raise ParameterError(f"unknown CTR architecture {architecture!r}; choose from {', '.join(ARCHITECTURES)}")
    preset = DATA_PARAMS.get(data.partition(":")[0], {})
    return {"architecture": architecture, **preset, **ARCHITECTURE_PARAMS.get(architecture, {}), **(overrides or {})}


def planted_recovery(report: InteractionReport, planted: Sequence[Sequence[str]]) -> dict[str, Any]:
    """How well a ranking recovers planted interactions.

    Pair ROC-AUC: every pair of fields is scored by its pairwise strength; a pair is positive when it
    lies inside a planted interaction (NID's protocol). Higher order: the rank of every planted
    interaction of 3+ fields in the pruned global ranking.
    """
    truth = [frozenset(p) for p in planted]
    pairs = report.pair_ranking()
    labels = [any(frozenset(k) <= t for t in truth) for k, _ in pairs]
    scores = [v for _, v in pairs]
    auc = float(roc_auc_score(labels, scores)) if 0 < sum(labels) < len(labels) else float("nan")
    ranked = [frozenset(r["fields"]) for r in report.ranking]
    ranks = {}
    for t in truth:
        if len(t) >= 3:
            ranks["*".join(sorted(t))] = ranked.index(t) + 1 if t in ranked else None
    return {
        "pair_auc": auc,
        "higher_order_ranks": ranks,
        "all_higher_order_in_top10": all(r is not None and r <= 10 for r in ranks.values()),
        "top10": [r["fields"] for r in report.ranking[:10]],
    }


def encode_study(
    split: CTRSplit,
    interactions: Sequence[Sequence[str]],
    *,
    architectures: Sequence[str] = ARCHITECTURES,
    seeds: Sequence[int] = (0, 1, 2),
    cross_min_count: int = 5,
    params: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train every target architecture with and without crosses for `interactions`, per seed."""
    if not interactions:
        raise ParameterError("encode needs at least one interaction to cross")
    if not seeds:
        raise ParameterError("encode needs at least one seed")
    crossed = crossed_split(split, interactions, min_count=cross_min_count)
    out: dict[str, Any] = {
        "interactions": [list(i) for i in interactions],
        "cross_fields": {f.name: len(f.values) for f in crossed.space.context_fields[split.train.n_fields :]},
        "seeds": list(seeds),
        "models": {},
    }
    for architecture in architectures:
        runs: dict[str, list[dict[str, float]]] = {"baseline": [], "crossed": []}
        for seed in seeds:
            for variant, data in (("baseline", split), ("crossed", crossed)):
                model = CTRModel(**model_params(architecture, {**(params or {}), "seed": seed}, data=split.train.name))
                model.fit(data.train, data.validation)
                runs[variant].append({**model.evaluate(data.test), "best_epoch": model.best_epoch_})
        summary: dict[str, Any] = {v: _mean_std(r) for v, r in runs.items()}
        deltas = [c["auc"] - b["auc"] for b, c in zip(runs["baseline"], runs["crossed"], strict=True)]
        summary["auc_gain"] = {"mean": float(np.mean(deltas)), "std": float(np.std(deltas)), "per_seed": deltas}
        summary["improved"] = bool(np.mean(deltas) > 0)
        summary["runs"] = runs
        out["models"][architecture] = summary
        if log:
            b, c = summary["baseline"], summary["crossed"]
            log(
                f"{architecture:>10}: AUC {b['auc_mean']:.4f} ± {b['auc_std']:.4f} -> {c['auc_mean']:.4f} ± "
                f"{c['auc_std']:.4f} (gain {summary['auc_gain']['mean']:+.4f}); log loss {b['log_loss_mean']:.4f} -> "
                f"{c['log_loss_mean']:.4f}"
            )
    out["improved_models"] = [a for a, s in out["models"].items() if s["improved"]]
    return out


def _mean_std(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    out = {}
    for key in ("auc", "log_loss"):
        values = [r[key] for r in runs]
        out[f"{key}_mean"] = float(np.mean(values))
        out[f"{key}_std"] = float(np.std(values))
    return out
