"""The explanation study: pertinence, significance, agreement, ground truth, speed, the field's
fidelity metrics and counterfactual validity of every method.

Run by ``python -m benchmarks.explanations.run``. One RecoNet
is trained (60/20/20 split, size preset); each sampled test user's top recommendation is explained
by every method; the results and the figures go to `out`.

The fidelity part (:func:`~whyrec.evaluate.fidelity.fidelity`: POS/NEG@Kr,Ke, DEL/INS@Ke, CDCG, as
in LXR and SPINRec) covers every model that scores profiles: RecoNet, EASE, iALS and Mult-VAE, the
baselines with the hyperparameters the accuracy study tuned on the same data
(Table 1's ``accuracy_<name>.json`` in the `tuned` folder) or their defaults, and every method each supports,
on the same users' top recommendations. The counterfactual part searches the verified
counterfactual of each of those users' top-k items under each model and reports how many were
found, that every returned set was verified, the set sizes and the latency.
"""

from __future__ import annotations

import json
import os
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from benchmarks.common import EARLIER_RECONET
from benchmarks.provenance import timed, write_result
from whyrec.data.spec import load_spec, synthetic_from_spec
from whyrec.data.splits import split
from whyrec.errors import ParameterError
from whyrec.evaluate.fidelity import fidelity
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
from whyrec.explain.counterfactual import counterfactual
from whyrec.models.presets import preset_for
from whyrec.models.recommender import Recommender
from whyrec.models.reconet import RecoNet
from whyrec.tuning.catalogue import build
from whyrec.viz.figures import agreement_heatmap, curve_figure, delta_histogram
from whyrec.viz.page import write_page

FIDELITY_MODELS = ("RecoNet", "EASE", "ALS", "MultVAE")
SEPARATE = ("counterfactual",)  # a search, not an attribution: measured by validity, size and latency
_TUNED_KEYS = {"EASE": "ease", "ALS": "ials", "MultVAE": "mult_vae"}
FIDELITY_CUTOFFS = (5, 10, 20, 50, 100)


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
    fidelity_models: tuple[str, ...] = FIDELITY_MODELS,
    counterfactual_k: int = 10,
    tuned: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Run the study on `data` (a data spec) and write JSON + HTML into `out`.

    `methods` defaults to every registered method that can explain RecoNet (the counterfactual
    search is measured on its own). `tuned` is the folder of Table 1's results (default: `out`).
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
    model = RecoNet(**EARLIER_RECONET, **preset_for(parts.train), seed=seed).fit(parts.train, parts.validation)
    log(f"[{name}] trained RecoNet in {time.perf_counter() - start:.1f}s (best epoch {model.best_epoch_})")
    methods = tuple(m for m in (methods or methods_for(model)) if m not in SEPARATE)

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

    _time_methods(model, methods, users, bags, targets, timings, speed_pairs, rng)

    deletion, insertion, per_method = _curves(
        model, bags, targets, explanations, timings, max_k, rng, synthetic_truth, users
    )

    names, tau, overlap, pairwise = _agreement_matrices(explanations)

    models = _profile_models(model, parts, Path(tuned or out) / f"accuracy_{name}.json", fidelity_models, seed, log)
    fidelity_results = {
        label: _fidelity(entry, users, targets, (explanations, timings) if label == "RecoNet" else None, name, log)
        for label, entry in models.items()
    }
    counterfactuals = {
        label: _counterfactuals(entry["model"], users, counterfactual_k, name, label, log)
        for label, entry in models.items()
    }

    lrp_us = timings["lrp"]["batched_us_per_explanation"] if "lrp" in timings else None
    lime_us = timings["lime"]["batched_us_per_explanation"] if "lime" in timings else None
    results = {
        "model": {"params": model.get_params(), "best_epoch": model.best_epoch_},
        "pairs": len(targets),
        "mean_profile_tokens": float(np.diff(bags.indptr).mean()),
        "random": {"deletion": deletion["random"].to_dict(), "insertion": insertion["random"].to_dict()},
        "methods": per_method,
        "agreement": pairwise,
        "lime_to_lrp_speed_ratio": (lime_us / lrp_us) if lrp_us and lime_us else None,
        "fidelity": fidelity_results,
        "counterfactual": counterfactuals,
    }
    out = Path(out)
    path = write_result(
        out / f"explanations_{name}.json",
        data=f"{data} (random 60/20/20; top recommendation of {len(targets)} test users)",
        seed=seed,
        results=results,
    )
    _write_page(
        out,
        name,
        data,
        seed,
        path.name,
        deletion,
        insertion,
        (tau, overlap, names),
        notes=_fidelity_notes(fidelity_results, counterfactuals),
        pairs=len(targets),
    )
    return results


def _time_methods(
    model: Any,
    methods: tuple[str, ...],
    users: np.ndarray,
    bags: Any,
    targets: np.ndarray,
    timings: dict[str, Any],
    speed_pairs: int,
    rng: np.random.Generator,
) -> None:
    """Each method's time for one pair alone and, for batched methods, per pair of a large batch."""
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


def _curves(
    model: Any,
    bags: Any,
    targets: np.ndarray,
    explanations: dict[str, Any],
    timings: dict[str, Any],
    max_k: int,
    rng: np.random.Generator,
    synthetic_truth: Any,
    users: np.ndarray,
) -> tuple[dict[str, Curve], dict[str, Curve], dict[str, Any]]:
    """Deletion and insertion curves of random orders ("random") and of each method's, with each
    method's summary."""
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
    return deletion, insertion, per_method


def _agreement_matrices(explanations: dict[str, Any]) -> tuple[list[str], np.ndarray, np.ndarray, dict[str, Any]]:
    """Kendall's tau and top-5 overlap between every two methods' explanations."""
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
    return names, tau, overlap, pairwise


def _write_page(
    out: Path,
    name: str,
    data: str,
    seed: int,
    source: str,
    deletion: dict[str, Curve],
    insertion: dict[str, Curve],
    matrices: tuple[np.ndarray, np.ndarray, list[str]],
    *,
    notes: list[str],
    pairs: int,
) -> None:
    """The study's HTML page: the curves, the top-1 deltas and the agreement between methods."""
    tau, overlap, names = matrices
    top1 = {"random 1": deletion["random"].deltas[:, 0]}
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
        notes=[
            f"Data {data}; {pairs} (user, top recommendation) pairs; seed {seed}. Source: {source}.",
            *notes,
        ],
    )  # plotly.js is written once beside the result pages


def _profile_models(
    reconet: RecoNet, parts: Any, accuracy_file: Path, wanted: tuple[str, ...], seed: int, log: Any
) -> dict[str, dict[str, Any]]:
    """RecoNet and the baselines that score profiles, with the accuracy study's tuned settings."""
    unknown = sorted(set(wanted) - set(FIDELITY_MODELS))
    if unknown:
        raise ParameterError(f"fidelity models are {', '.join(FIDELITY_MODELS)}, not {', '.join(unknown)}")
    tuned: dict[str, Any] = {}
    if accuracy_file.exists():
        tuned = json.loads(accuracy_file.read_text())["results"]["models"]
    out: dict[str, dict[str, Any]] = {}
    if "RecoNet" in wanted:
        out["RecoNet"] = {"model": reconet, "params_from": "size preset (as above)"}
    for label in wanted:
        if label == "RecoNet":
            continue
        params = dict(tuned.get(_TUNED_KEYS[label], {}).get("params", {}))
        source = accuracy_file.name if params else "defaults"
        start = time.perf_counter()
        # through the catalogue: tuned values are in its search space's terms, beside its fixed settings
        fitted = build(_TUNED_KEYS[label], params, seed, parts.train).fit(parts.train, parts.validation)
        log(f"[fidelity] trained {label} ({source}) in {time.perf_counter() - start:.1f}s")
        out[label] = {"model": fitted, "params_from": source}
    return out


def _fidelity(
    entry: dict[str, Any],
    users: np.ndarray,
    reconet_targets: np.ndarray,
    reuse: tuple[dict[str, Any], dict[str, Any]] | None,  # (explanations, timings) already made
    name: str,
    log: Any,
) -> dict[str, Any]:
    """Every supported method's fidelity metrics on each user's top recommendation under this model."""
    model = entry["model"]
    users_bags = model.user_profiles(users)  # each model's own bags: the baselines see no attributes
    history = sp.csr_matrix(users_bags[:, : model.feature_space_.n_items])
    targets = reconet_targets if reuse is not None else model.top_k(model.score(users_bags), 1, history).items[:, 0]
    out: dict[str, Any] = {"params": model.get_params(), "params_from": entry["params_from"], "methods": {}}
    for method in methods_for(model):
        if method in SEPARATE:
            continue
        if reuse is not None and method in reuse[0]:  # explained above, with its time
            explained, seconds = reuse[0][method], reuse[1][method]["loop_seconds_per_pair"] * len(targets)
        else:
            start = time.perf_counter()
            explained = explain_pairs(model, users_bags, targets, method=method)
            seconds = time.perf_counter() - start
        scores = fidelity(model, users_bags, explained, steps=5, cutoffs=FIDELITY_CUTOFFS)
        out["methods"][method] = {"seconds": seconds, **scores}
        log(
            f"[{name}] fidelity {type(model).__name__} {method}: POS@5 {scores['POS@5_auc']:.3f} "
            f"DEL {scores['DEL_auc']:.3f} INS {scores['INS_auc']:.3f}"
        )
    return out


def _counterfactuals(model: Recommender, users: np.ndarray, k: int, name: str, label: str, log: Any) -> dict[str, Any]:
    """Verified counterfactual search for each user's top-k items: found, verified, size, latency."""
    bags = model.user_profiles(users)
    k = min(k, model.feature_space_.n_items)
    top = model.top_k(model.score(bags), k, sp.csr_matrix(bags[:, : model.feature_space_.n_items])).items
    found, verified, sizes, latency, searches, reachable = [], [], [], [], [], []
    for row in range(len(users)):
        bag = bags[row]
        for target in top[row]:
            start = time.perf_counter()
            result = counterfactual(model, bag, int(target), n=k)
            latency.append(time.perf_counter() - start)
            found.append(result.found)
            verified.append(result.verified)
            # reachable: removing every history item drops it (else no removal set is likely to exist)
            reachable.append(result.found or (result.rank_without_all or 0) > k)
            if result.found:
                sizes.append(len(result.removed))
                searches.append(result.search)
    found_arr, verified_arr, reachable_arr = np.array(found), np.array(verified), np.array(reachable)
    lat = np.array(latency) * 1e3
    out = {
        "recommendations": len(found),
        "n": k,
        "found_share": float(found_arr.mean()),
        "verified_share_of_found": float(verified_arr[found_arr].mean()) if found_arr.any() else None,
        "validity": float(verified_arr.mean()),
        "reachable_share": float(reachable_arr.mean()),
        "validity_where_reachable": float(verified_arr[reachable_arr].mean()) if reachable_arr.any() else None,
        "set_size_median": float(np.median(sizes)) if sizes else None,
        "set_size_mean": float(np.mean(sizes)) if sizes else None,
        "latency_ms_median": float(np.median(lat)),
        "latency_ms_p90": float(np.percentile(lat, 90)),
        "found_by_attribution_order": float(np.mean([s == "attribution" for s in searches])) if searches else None,
    }
    log(
        f"[{name}] counterfactual {label}: validity {out['validity']:.1%}, median set {out['set_size_median']}, "
        f"median {out['latency_ms_median']:.2f} ms"
    )
    return out


def _fidelity_notes(fidelity_results: dict[str, Any], counterfactuals: dict[str, Any]) -> list[str]:
    lines = []
    for label, result in fidelity_results.items():
        cells = ", ".join(
            f"{m} POS@5 {v['POS@5_auc']:.3f} / DEL {v['DEL_auc']:.3f} / INS {v['INS_auc']:.3f}"
            for m, v in result["methods"].items()
        )
        lines.append(f"Fidelity on {label} (AUC over Ke = 1..5; POS and DEL lower is better): {cells}.")
    for label, c in counterfactuals.items():
        lines.append(
            f"Counterfactuals on {label} (top {c['n']}): {c['validity']:.1%} of {c['recommendations']} recommendations "
            f"got a verified set, median size {c['set_size_median']}, median {c['latency_ms_median']:.2f} ms."
        )
    return lines
