"""Attribution networks against a black-box MLP, in one run (``python -m benchmarks.attribution_network.run``).

Synthetic: accuracy, AUC and how often the read-out picks the subset that truly decides the label.
Click prediction (Frappe, the CTR data of the interactions work): accuracy, AUC and log loss on the
80/10/10 split, with user, item and context groups.
MovieLens (leave-last-out, as in the paper): accuracy and AUC on test positives with one sampled
negative each (balanced), HR@10 and NDCG@10 of the test item among 100 sampled negatives, and whyrec's
full-ranking recall@50 on a sample of users. Both: the share of predictions each subset explains.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from sklearn.metrics import roc_auc_score

from benchmarks.provenance import write_result
from whyrec.data.attribution_tasks import (
    FRAPPE_GROUPS,
    FRAPPE_SUBSETS,
    MOVIELENS_SUBSETS,
    SYNTHETIC_GROUPS,
    SYNTHETIC_SUBSETS,
    ctr_group_inputs,
    leave_last_out_task,
    synthetic_attribution,
)
from whyrec.data.ctr_loaders import ctr_split
from whyrec.data.spec import load_spec
from whyrec.models.attribution_network import AttributionNetwork, MLPClassifier
from whyrec.viz.page import write_page


def attribution_study(
    task: str,
    out: str | os.PathLike,
    *,
    name: str | None = None,
    seed: int | Sequence[int] = 0,
    implementations: tuple[str, ...] = ("tower", "masked"),
    epochs: int | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """Run the comparison on `task` ("synthetic", "movielens:PATH" or "frappe:PATH") and write JSON + HTML.

    With several seeds (data split, negatives and initialisation all follow the seed), the models'
    metrics are means over the seeds and every seed's own results are kept under ``per_seed``.
    """
    name = name or task.split(":")[0]
    seeds = [seed] if isinstance(seed, int) else list(seed)
    runs = {}
    for s in seeds:
        runs[s], data = _run(task, s, implementations, epochs, log)
    results = runs[seeds[0]] if len(seeds) == 1 else _over_seeds(runs)
    out = Path(out)
    path = write_result(
        out / f"attribution_network_{name}.json", data=data, seed=seeds if len(seeds) > 1 else seeds[0], results=results
    )
    write_page(
        out / f"attribution_network_{name}.html",
        f"Attribution networks on {name}",
        _figures(results),
        notes=[f"Source: {path.name}."],
    )
    return results


def _run(task: str, seed: int, implementations: tuple[str, ...], epochs: int | None, log: Any) -> tuple[dict, str]:
    if task == "synthetic":
        results = _synthetic(seed, implementations, epochs or 80, log)
        data = "synthetic attribution task (20k train, 5k validation, 10k test)"
    elif task.startswith("frappe:"):
        results = _click(task, seed, implementations, epochs or 30, log)
        data = f"{task} (logs + 2 sampled negatives each, seeded 80/10/10 split)"
    else:
        dataset = (
            load_spec(task, seed=seed, min_rating=1.0) if task.startswith("movielens") else load_spec(task, seed=seed)
        )
        results = _movielens(dataset, seed, implementations, epochs or 30, log)
        data = f"{task} (all ratings as implicit positives, leave-last-out, 1 sampled negative per positive)"
    return results, data


def _over_seeds(runs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Means (and standard deviations of accuracy) over seeds; each seed's results kept as they are."""
    first = next(iter(runs.values()))
    models: dict[str, Any] = {}
    for model, entry in first["models"].items():
        models[model] = {
            key: float(np.mean([r["models"][model][key] for r in runs.values()]))
            for key, value in entry.items()
            if isinstance(value, int | float)
        }
        models[model]["accuracy_std"] = float(np.std([r["models"][model]["accuracy"] for r in runs.values()]))
        if "subset_shares" in entry:
            models[model]["subset_shares"] = {
                k: float(np.mean([r["models"][model]["subset_shares"][k] for r in runs.values()]))
                for k in entry["subset_shares"]
            }
    out: dict[str, Any] = {"models": models, "seeds": list(runs), "per_seed": {str(k): v for k, v in runs.items()}}
    if "accuracy_gap_points" in first:
        gaps = [r["accuracy_gap_points"] for r in runs.values()]
        out["accuracy_gap_points"] = float(np.mean(gaps))
        out["accuracy_gap_points_per_seed"] = gaps
    return out


def _synthetic(seed: int, implementations: tuple[str, ...], epochs: int, log: Any) -> dict[str, Any]:
    train, val, test = (synthetic_attribution(n, seed + k) for k, n in enumerate((20000, 5000, 10000)))
    truth = test.truth or []
    out: dict[str, Any] = {"models": {}}
    for impl in implementations:
        start = time.perf_counter()
        model = AttributionNetwork(SYNTHETIC_GROUPS, SYNTHETIC_SUBSETS, implementation=impl, epochs=epochs, seed=seed)
        model.fit(train.X, train.y, validation=(val.X, val.y, None))
        p = model.predict_proba(test.X)
        read = model.read_out(test.X)
        entry = _binary_metrics(p, test.y) | {
            "readout_accuracy": float(np.mean([a == b for a, b in zip(read, truth, strict=True)])),
            "subset_shares": _shares(read, model.subset_names),
            "fit_seconds": time.perf_counter() - start,
            "epochs": len(model.history_),
        }
        out["models"][f"attribution_{impl}"] = entry
        log(
            f"[synthetic] attribution ({impl}): accuracy {entry['accuracy']:.4f}, "
            f"read-out {entry['readout_accuracy']:.1%}"
        )
    start = time.perf_counter()
    widest = (128, 64)  # 4x the experts' first layer, as in the paper's baseline
    mlp = MLPClassifier(SYNTHETIC_GROUPS, hidden=widest, epochs=epochs, seed=seed).fit(
        train.X, train.y, validation=(val.X, val.y, None)
    )
    out["models"]["mlp"] = _binary_metrics(mlp.predict_proba(test.X), test.y) | {
        "fit_seconds": time.perf_counter() - start,
        "hidden": list(widest),
    }
    log(f"[synthetic] MLP: accuracy {out['models']['mlp']['accuracy']:.4f}")
    out["truth_shares"] = _shares(truth, sorted(set(truth)))
    return out


def _movielens(dataset: Any, seed: int, implementations: tuple[str, ...], epochs: int, log: Any) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    task = leave_last_out_task(dataset, seed=seed)
    X, ids = task.inputs(task.train[0], task.train[1])
    Xv, idv = task.inputs(task.validation[0], task.validation[1])
    test_neg = task.negatives(task.test_users, 1, rng)
    eval_u = np.concatenate([task.test_users, task.test_users])
    eval_i = np.concatenate([task.test_items, test_neg.ravel()])
    eval_y = np.concatenate([np.ones(len(task.test_users)), np.zeros(test_neg.size)])
    rank_neg = task.negatives(task.test_users, 100, rng)
    sample = rng.choice(len(task.test_users), min(500, len(task.test_users)), replace=False)
    models: dict[str, Any] = {}
    common: dict[str, Any] = {
        "epochs": epochs,
        "seed": seed,
        "batch_size": 4096,
        "embedding_dim": 16,
        "lr": 1e-2,
    }  # same budget for all
    candidates: list[tuple[str, AttributionNetwork | MLPClassifier]] = [
        (
            f"attribution_{impl}",
            AttributionNetwork(task.groups, MOVIELENS_SUBSETS, hidden=(128, 64), implementation=impl, **common),
        )
        for impl in implementations
    ]
    # the black box is 4x wider than one expert, as in the paper, and larger than all experts together
    candidates.append(("mlp", MLPClassifier(task.groups, hidden=(512, 256), **common)))
    out: dict[str, Any] = {
        "models": {},
        "train_examples": len(task.train[2]),
        "test_users": len(task.test_users),
    }
    for label, model in candidates:
        start = time.perf_counter()
        model.fit(X, task.train[2], ids=ids, validation=(Xv, task.validation[2], idv))
        fit_seconds = time.perf_counter() - start
        Xe, ide = task.inputs(eval_u, eval_i)
        p = model.predict_proba(Xe, ids=ide)
        entry: dict[str, Any] = (
            _binary_metrics(p, eval_y)
            | _ranking(model, task, rank_neg)
            | {
                "recall@50_full_ranking": _full_recall(model, task, sample, 50),
                "full_ranking_users": len(sample),
                "fit_seconds": fit_seconds,
                "epochs": len(model.history_),
            }
        )
        if isinstance(model, AttributionNetwork):
            Xt, idt = task.inputs(task.test_users, task.test_items)
            read = model.read_out(Xt, ids=idt)
            entry["subset_shares"] = _shares(read, model.subset_names)
        models[label] = entry
        log(
            f"[movielens] {label}: accuracy {entry['accuracy']:.4f}, AUC {entry['auc']:.4f}, "
            f"HR@10 {entry['hr@10']:.4f} ({fit_seconds:.0f}s)"
        )
    out["models"] = models
    best = max(v["accuracy"] for k, v in models.items() if k != "mlp")
    out["accuracy_gap_points"] = 100 * (models["mlp"]["accuracy"] - best)
    return out


def _click(task: str, seed: int, implementations: tuple[str, ...], epochs: int, log: Any) -> dict[str, Any]:
    split, _ = ctr_split(task, seed=seed)
    train, val, test = (ctr_group_inputs(d, FRAPPE_GROUPS) for d in (split.train, split.validation, split.test))
    common: dict[str, Any] = {"epochs": epochs, "seed": seed, "batch_size": 4096, "embedding_dim": 16, "lr": 1e-2}
    candidates: list[tuple[str, AttributionNetwork | MLPClassifier]] = [
        (
            f"attribution_{impl}",
            AttributionNetwork(train.groups, FRAPPE_SUBSETS, hidden=(128, 64), implementation=impl, **common),
        )
        for impl in implementations
    ]
    candidates.append(("mlp", MLPClassifier(train.groups, hidden=(512, 256), **common)))
    models: dict[str, Any] = {}
    for label, model in candidates:
        start = time.perf_counter()
        model.fit(train.X, train.y, ids=train.ids, validation=(val.X, val.y, val.ids))
        p = model.predict_proba(test.X, ids=test.ids)
        entry: dict[str, Any] = _binary_metrics(p, test.y) | {
            "fit_seconds": time.perf_counter() - start,
            "epochs": len(model.history_),
        }
        if isinstance(model, AttributionNetwork):
            entry["subset_shares"] = _shares(model.read_out(test.X, ids=test.ids), model.subset_names)
        models[label] = entry
        log(
            f"[click] {label}: accuracy {entry['accuracy']:.4f}, AUC {entry['auc']:.4f}, "
            f"log loss {entry['log_loss']:.4f}"
        )
    best = max(v["accuracy"] for k, v in models.items() if k != "mlp")
    return {
        "models": models,
        "groups": FRAPPE_GROUPS,
        "rows": {"train": len(split.train), "validation": len(split.validation), "test": len(split.test)},
        "accuracy_gap_points": 100 * (models["mlp"]["accuracy"] - best),
    }


def _binary_metrics(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    y = np.asarray(y) > 0.5
    clipped = np.clip(p, 1e-7, 1 - 1e-7)
    return {
        "accuracy": float(((p > 0.5) == y).mean()),
        "auc": float(roc_auc_score(y, p)),
        "log_loss": float(-np.mean(np.where(y, np.log(clipped), np.log(1 - clipped)))),
    }


def _ranking(model: Any, task: Any, negatives: np.ndarray, k: int = 10) -> dict[str, float]:
    users = np.repeat(task.test_users, negatives.shape[1] + 1)
    items = np.concatenate([task.test_items[:, None], negatives], axis=1).ravel()
    X, ids = task.inputs(users, items)
    scores = model.predict_proba(X, ids=ids).reshape(len(task.test_users), -1)
    rank = (scores[:, 1:] > scores[:, :1]).sum(axis=1)
    hit = rank < k
    return {"hr@10": float(hit.mean()), "ndcg@10": float(np.where(hit, 1 / np.log2(rank + 2), 0).mean())}


def _full_recall(model: Any, task: Any, sample: np.ndarray, k: int) -> float:
    n_items = task.item_content.shape[0]
    hits = []
    for s in sample:
        user, target = task.test_users[s], task.test_items[s]
        X, ids = task.inputs(np.full(n_items, user), np.arange(n_items))
        scores = model.predict_proba(X, ids=ids)
        seen = task.seen[user].indices
        scores[seen[seen != target]] = -np.inf  # known positives other than the test item
        hits.append(target in np.argpartition(-scores, k)[:k])
    return float(np.mean(hits))


def _shares(read: list, subsets: list) -> dict[str, float]:
    counts = Counter(" + ".join(r) for r in read)
    return {" + ".join(s): counts.get(" + ".join(s), 0) / len(read) for s in subsets}


def _figures(results: dict[str, Any]) -> list[go.Figure]:
    models = results["models"]
    accuracy = go.Figure(go.Bar(x=list(models), y=[m["accuracy"] for m in models.values()]))
    accuracy.update_layout(title="Accuracy: attribution networks vs the black-box MLP", yaxis_title="accuracy")
    shares = go.Figure()
    for name, m in models.items():
        if "subset_shares" in m:
            shares.add_trace(go.Bar(x=list(m["subset_shares"]), y=list(m["subset_shares"].values()), name=name))
    if "truth_shares" in results:
        shares.add_trace(
            go.Bar(x=list(results["truth_shares"]), y=list(results["truth_shares"].values()), name="ground truth")
        )
    shares.update_layout(title="Share of predictions attributed to each subset", barmode="group", yaxis_title="share")
    return [accuracy, shares]
