"""Plausibility beside fidelity: do the exact reasons of each model make sense to a person?

    python -m benchmarks.plausibility.run --data ml-1m ml-100k synthetic --pairs 200 --slow-pairs 20 --seed 0

On the split of Table 1's seed (random 60/20/20), runs what plain `whyrec train` runs
(:func:`whyrec.tuning.select`, its default budget) and keeps the winner (the default model),
every family's best model and the best blend, beside Mult-VAE with Table 1's tuned settings. Each
model's top recommendation for `--pairs` test users is explained by every method the model
supports, and on those same pairs the study reports:

- plausibility (:mod:`whyrec.evaluate.plausibility`): the share of the top-3 history reasons among
  the target's 20 strongest co-occurrence neighbours in the training data, the share that shares
  a genre (synthetic: a category) with the target, each beside its chance level;
- fidelity (:func:`whyrec.evaluate.fidelity.fidelity`): POS@5, DEL and INS over Ke = 1..5;
- the model's test recall@50;
- a diagnostic: the mean popularity percentile of the top-3 reasons beside the history's.

The franchise test explains other pairs: recommendations (each model's top 10 for every test
user) of a film of a series (:mod:`benchmarks.plausibility.franchise`, built from the titles)
whose history holds an earlier film of it, up to `--pairs` of them; it asks whether a film of
the series is among the top 3. On synthetic data the planted drivers take its place.

Methods that explain one pair at a time by sampling or enumeration (LIME, KernelSHAP, sampled
Shapley, exact Shapley of a non-linear model) explain the first `--slow-pairs` pairs of each set.
Writes ``results/plausibility_NAME.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from benchmarks.common import MOVIELENS_NAMES, data_dir, results_dir
from benchmarks.plausibility.franchise import release_year, series
from benchmarks.provenance import run_main, write_result
from whyrec._runtime import tune_allocator
from whyrec.data.spec import load_spec, synthetic_from_spec
from whyrec.data.splits import split
from whyrec.evaluate.fidelity import fidelity
from whyrec.evaluate.ground_truth import driver_hits
from whyrec.evaluate.plausibility import (
    cooccurrence_neighbours,
    group_hits,
    neighbour_agreement,
    reason_popularity,
    shared_attribute,
)
from whyrec.explain.base import EXPLAINERS, explain_pairs, methods_for
from whyrec.metrics import evaluate
from whyrec.tuning.catalogue import build
from whyrec.tuning.select import entry_name, select

RESULTS = results_dir("plausibility")
NAMES = {"synthetic": "synthetic", **MOVIELENS_NAMES}
SEPARATE = ("counterfactual",)  # a search, not an attribution
NEIGHBOURS = 20
TOP = 3
SERIES_K = 10
GENRE = {"synthetic": ("item", "category")}  # the shared-attribute field; MovieLens: genre


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", default=list(NAMES), help=", ".join(NAMES))
    p.add_argument("--pairs", type=int, default=200, help="pairs explained by every method, in each set")
    p.add_argument("--slow-pairs", type=int, default=20, help="pairs for methods that explain one at a time")
    p.add_argument("--budget", type=float, default=None, help="selection budget in seconds (default: train's)")
    p.add_argument("--seed", type=int, default=0, help="seed for data, split, selection and sampling")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    tune_allocator()
    for data in args.data:
        name = NAMES[data]
        results = study(data, args.pairs, args.slow_pairs, args.budget, args.seed)
        path = write_result(
            RESULTS / f"plausibility_{name}.json",
            data=f"{data} (random 60/20/20; top recommendation of {args.pairs} test users)",
            seed=args.seed,
            results=results,
        )
        print(f"wrote {path}")


def study(data: str, n_pairs: int, slow_pairs: int, budget: float | None, seed: int) -> dict[str, Any]:
    truth = synthetic_from_spec("synthetic", seed=seed) if data == "synthetic" else None
    dataset = truth.dataset if truth is not None else load_spec(f"movielens:{data_dir(data)}", seed=seed)
    parts = split(dataset, seed=seed)
    models, selection = kept_models(dataset, parts, NAMES[data], budget, seed)
    fs = dataset.feature_space
    ref = references(dataset, parts, GENRE.get(data, ("item", "genre")), with_series=truth is None)
    genres, neighbours, counts = ref["genres"], ref["neighbours"], ref["counts"]
    group, years = ref["series"], ref["years"]
    rng = np.random.default_rng(seed)
    users, explainable = held_out_users(parts)
    known = parts.train.matrix() + parts.validation.matrix()
    sampled = np.sort(rng.choice(explainable, min(n_pairs, len(explainable)), replace=False))
    out: dict[str, Any] = {"selection": selection, "models": {}}
    for label, model in models.items():
        start_time = time.perf_counter()
        bags = model.user_profiles(sampled)
        history = sp.csr_matrix(bags[:, : fs.n_items])
        targets = model.top_k(model.score(bags), 1, history).items[:, 0]
        if group is not None:
            series_bags, series_targets = series_pairs(model, users, group, years, n_pairs, rng)
        entry: dict[str, Any] = {
            "recall@50": float(evaluate(model, parts.test, exclude=known, k=50)["recall@50"]),
            "series_pairs": None if group is None else len(series_targets),
            "methods": {},
        }
        for method in (m for m in methods_for(model) if m not in SEPARATE):
            count = n_pairs if EXPLAINERS[method].batched else min(slow_pairs, n_pairs)
            started = time.perf_counter()
            explained = explain_pairs(model, bags[:count], targets[:count], method=method)
            seconds = time.perf_counter() - started
            scores = fidelity(model, bags[:count], explained, steps=5, cutoffs=(5,))
            row = {
                "pairs": count,
                "neighbours": neighbour_agreement(explained, bags[:count], neighbours, top=TOP),
                "genre": shared_attribute(explained, bags[:count], genres, top=TOP),
                "popularity": reason_popularity(explained, bags[:count], counts, top=TOP),
                "seconds": seconds,
                "POS@5": scores["POS@5_auc"],
                "DEL": scores["DEL_auc"],
                "INS": scores["INS_auc"],
            }
            if group is not None and len(series_targets):
                cut = min(count, len(series_targets))
                hits = explain_pairs(model, series_bags[:cut], series_targets[:cut], method=method)
                row["franchise"] = group_hits(hits, series_bags[:cut], group, top=TOP)
            if truth is not None:
                row["planted"] = driver_hits(truth, explained, sampled[:count], parts.train.matrix(), top=TOP)
            entry["methods"][method] = row
            print(f"[{data}] {label} {method}: {_line(row)}", flush=True)
        entry["seconds"] = time.perf_counter() - start_time
        out["models"][label] = entry
    return out


def references(
    dataset: Any, parts: Any, field: tuple[str, str] = ("item", "genre"), with_series: bool = True
) -> dict[str, Any]:
    """What the reasons are judged against, fixed before any model: the items' co-occurrence
    neighbours and training counts, their values of `field` (the genres), and (`with_series`, from
    MovieLens titles) their series and release years; ``series`` is None without."""
    fs = dataset.feature_space
    start = fs.field_offsets[field]
    return {
        "neighbours": cooccurrence_neighbours(parts.train.matrix(), NEIGHBOURS),
        "genres": dataset.item_attributes[:, start : start + len(fs.field(*field).values)],
        "series": series(fs.item_names) if with_series else None,
        "years": np.array([release_year(n) for n in fs.item_names]),
        "counts": np.bincount(parts.train.items, minlength=fs.n_items),
    }


def held_out_users(parts: Any) -> tuple[np.ndarray, np.ndarray]:
    """The test users, and those of them with a history of two or more (a history to rank)."""
    users = np.unique(parts.test.users)
    return users, users[np.diff(parts.train.matrix().indptr)[users] > 1]


def kept_models(
    dataset: Any, parts: Any, name: str, budget: float | None, seed: int, table1: bool = True
) -> tuple[dict[str, Any], dict]:
    """The default selection's winner, every candidate it kept, and (`table1`) Mult-VAE as Table 1
    tuned it."""
    options = {} if budget is None else {"budget": budget}
    chosen = select(dataset, seed=seed, parts=parts, **options)
    winner = next((n for n, m in chosen.candidates.items() if m is chosen.model), chosen.name)
    models = {f"default: {winner}": chosen.model}
    # every family's best beside it, and the best blend where a single model won (the winner
    # turns on seconds of the budget); the other blends are left out: each costs as much as its
    # members together, and explains as their weighted sum
    blends = [n for n in chosen.candidates if n.startswith("blend")]
    best_blend = max(blends, key=lambda n: _validation(chosen, n), default=None)
    models.update(
        {
            n: m
            for n, m in chosen.candidates.items()
            if m is not chosen.model and (not n.startswith("blend") or n == best_blend)
        }
    )
    accuracy = results_dir("accuracy") / f"accuracy_{name}.json"
    tuned = json.loads(accuracy.read_text())["results"]["models"] if accuracy.exists() else {}
    if table1 and "mult_vae" in tuned:
        params = tuned["mult_vae"]["params"]
        models["mult_vae (Table 1)"] = build("mult_vae", params, seed, parts.train).fit(parts.train, parts.validation)
    return models, {"winner": chosen.name, "params": chosen.params, "seconds": chosen.seconds}


def _validation(chosen: Any, name: str) -> float:
    """A candidate's validation recall@50, from the selection's leaderboard."""
    rows = [r for r in chosen.leaderboard if entry_name(r) == name and r.get("validation") is not None]
    return max((float(r["validation"]) for r in rows), default=float("-inf"))


def series_pairs(
    model: Any, users: np.ndarray, group: np.ndarray, years: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Up to `n` (bag, target) pairs: a top-10 film of a series whose history holds an earlier one."""
    bags, rows, targets = series_candidates(model, users, group, years)
    chosen = np.sort(rng.permutation(len(rows))[:n])
    return bags[rows[chosen]], targets[chosen]


def series_candidates(
    model: Any, users: np.ndarray, group: np.ndarray, years: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """The users' bags and every (row of `users`, target) pair of the franchise test: a top-10 film
    of a series whose history holds an earlier one."""
    bags = model.user_profiles(users)
    history = sp.csr_matrix(bags[:, : len(group)])
    top = model.top_k(model.score(bags), SERIES_K, history).items
    rows, targets = [], []
    for row, items in enumerate(top):
        seen = history.indices[history.indptr[row] : history.indptr[row + 1]]
        for target in items:
            mine = group[target]
            if mine >= 0 and np.any((group[seen] == mine) & (years[seen] < years[target])):
                rows.append(row)
                targets.append(int(target))
    return bags, np.asarray(rows, dtype=np.int64), np.asarray(targets, dtype=np.int64)


def _line(row: dict[str, Any]) -> str:
    parts = [
        f"neighbours {row['neighbours']['share']:.3f} (chance {row['neighbours']['chance']:.3f})",
        f"genre {row['genre']['share']:.3f} (chance {row['genre']['chance']:.3f})",
        f"popularity {row['popularity']['share']:.2f} (history {row['popularity']['chance']:.2f})",
    ]
    if "franchise" in row:
        parts.append(f"franchise {row['franchise']['share']:.3f} of {row['franchise']['pairs']}")
    if "planted" in row:
        parts.append(f"planted {row['planted']['share']:.3f}")
    parts.append(f"POS@5 {row['POS@5']:.3f} DEL {row['DEL']:.3f} INS {row['INS']:.3f}")
    return "; ".join(parts)


if __name__ == "__main__":
    run_main(main)
