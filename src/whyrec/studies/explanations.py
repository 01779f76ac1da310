"""The explanation study: pertinence, significance, agreement, ground truth and speed of every method.

Run by ``whyrec benchmark explanations --data SPEC`` and benchmarks/explanations.py. One RecoNet
is trained (60/20/20 split, size preset); each sampled test user's top recommendation is explained
by every method; the results and the figures go to `out`.
"""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from whyrec.data.spec import load_spec, synthetic_from_spec
from whyrec.data.splits import split
from whyrec.evaluate.ground_truth import driver_hits
from whyrec.evaluate.pertinence import (
    Curve,
    agreement,
    deletion_curve,
    insertion_curve,
    random_orders,
    token_orders,
    top1_significance,
)
from whyrec.explain.base import EXPLAINERS, explain_pairs, methods_for
from whyrec.models.presets import preset_for
from whyrec.models.reconet import RecoNet
from whyrec.studies.provenance import timed, write_result
from whyrec.viz.figures import agreement_heatmap, curve_figure, delta_histogram
from whyrec.viz.page import write_page


def explanation_study(
    data: str,
    out: str | os.PathLike,
    *,
    name: str | None = None,
    n_pairs: int = 200,
    max_k: int = 50,
    speed_pairs: int = 10_000,
    methods: tuple[str, ...] | None = None,
    seed: int = 0,
    log: Any = print,
) -> dict[str, Any]:
    """Run the study on `data` (a data spec) and write JSON + HTML into `out`.

    `methods` defaults to every registered method that can explain RecoNet.
    """
    name = name or data.split(":")[0]
    rng = np.random.default_rng(seed)
    synthetic_truth = None
    if data.startswith("synthetic"):
        synthetic_truth = synthetic_from_spec(data, seed=seed)
        dataset = synthetic_truth.dataset
    else:
        dataset = load_spec(data, seed=seed)
    parts = split(dataset, seed=seed)
    start = time.perf_counter()
    model = RecoNet(**preset_for(parts.train), seed=seed).fit(parts.train, parts.validation)
    log(f"[{name}] trained RecoNet in {time.perf_counter() - start:.1f}s (best epoch {model.best_epoch_})")
    methods = tuple(methods or methods_for(model))

    users = np.unique(parts.test.users)
    users = users[np.diff(model.user_profiles(users).indptr) > 1]
    users = np.sort(rng.choice(users, min(n_pairs, len(users)), replace=False))
    targets = model.top_k(model.score_users(users), 1, model.train_matrix_[users]).items[:, 0]
    bags = model.user_profiles(users)

    explanations, timings = {}, {}
    for method in methods:
        start = time.perf_counter()
        explanations[method] = explain_pairs(model, bags, targets, method=method)
        timings[method] = {"loop_seconds_per_pair": (time.perf_counter() - start) / len(targets)}
        log(f"[{name}] {method}: {timings[method]['loop_seconds_per_pair'] * 1e3:.3f} ms per pair")

    # speed: one pair alone, and (for batched methods) a large batch in one call
    big_users = rng.choice(users, speed_pairs)
    big_bags, big_targets = model.user_profiles(big_users), model.top_k(model.score_users(big_users), 1).items[:, 0]
    for method in methods:
        batched = EXPLAINERS[method].batched
        repeat = 50 if batched else 3
        single, _, _ = timed(partial(explain_pairs, model, bags[:1], targets[:1], method=method), repeat=repeat)
        timings[method]["single_ms"] = single * 1e3
        if batched:
            batch, _, _ = timed(partial(explain_pairs, model, big_bags, big_targets, method=method), repeat=3)
            timings[method]["batched_us_per_explanation"] = batch / speed_pairs * 1e6
        else:
            timings[method]["batched_us_per_explanation"] = timings[method]["loop_seconds_per_pair"] * 1e6

    random = deletion_curve(model, bags, targets, random_orders(bags, rng), max_k)
    random_insert = insertion_curve(model, bags, targets, random_orders(bags, rng), max_k)
    deletion: dict[str, Curve] = {"random": random}
    insertion: dict[str, Curve] = {"random": random_insert}
    per_method: dict[str, Any] = {}
    for method, result in explanations.items():
        orders = token_orders(result)
        deletion[method] = deletion_curve(model, bags, targets, orders, max_k)
        insertion[method] = insertion_curve(model, bags, targets, orders, max_k)
        per_method[method] = {
            "deletion": deletion[method].to_dict(),
            "insertion": insertion[method].to_dict(),
            "top1_vs_random1": top1_significance(deletion[method], random),
            "speed": timings[method],
        }
        if synthetic_truth is not None:
            per_method[method]["planted_driver_top3"] = driver_hits(synthetic_truth, result, users, model.train_matrix_)

    names = list(explanations)
    tau = np.eye(len(names))
    overlap = np.eye(len(names))
    pairwise = {}
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i < j:
                score = agreement(explanations[a], explanations[b])
                tau[i, j] = tau[j, i] = score["kendall_tau"]
                overlap[i, j] = overlap[j, i] = score["top5_overlap"]
                pairwise[f"{a} vs {b}"] = score

    lrp_us = timings["lrp"]["batched_us_per_explanation"] if "lrp" in timings else None
    lime_us = timings["lime"]["batched_us_per_explanation"] if "lime" in timings else None
    results = {
        "model": {
            "params": model.get_params(),
            "best_epoch": model.best_epoch_,
        },
        "pairs": len(targets),
        "mean_profile_tokens": float(np.diff(bags.indptr).mean()),
        "random": {"deletion": random.to_dict(), "insertion": random_insert.to_dict()},
        "methods": per_method,
        "agreement": pairwise,
        "lime_to_lrp_speed_ratio": (lime_us / lrp_us) if lrp_us and lime_us else None,
    }
    out = Path(out)
    path = write_result(
        out / f"explanations_{name}.json",
        data=f"{data} (random 60/20/20; top recommendation of {len(targets)} test users)",
        seed=seed,
        results=results,
    )
    top1 = {"random 1": random.deltas[:, 0]}
    for method in ("lrp", "lime"):
        if method in deletion:
            top1[f"{method} top 1"] = deletion[method].deltas[:, 0]
    write_page(
        out / f"explanations_{name}.html",
        f"Explanation quality on {name}",
        [
            curve_figure(deletion, title="Deletion: Δŷ after removing the top-k tokens", yaxis="Δŷ (mean, 95% CI)"),
            curve_figure(insertion, title="Insertion: f(top-k tokens) - f(∅)", yaxis="Δ (mean, 95% CI)"),
            delta_histogram({k: v[~np.isnan(v)] for k, v in top1.items()}, title="Δŷ: top 1 against random 1"),
            agreement_heatmap(tau, names, title="Agreement between methods (mean Kendall τ)"),
            agreement_heatmap(overlap, names, title="Agreement between methods (top-5 overlap)"),
        ],
        notes=[f"Data {data}; {len(targets)} (user, top recommendation) pairs; seed {seed}. Source: {path.name}."],
    )  # plotly.js is written once beside the result pages
    return results
