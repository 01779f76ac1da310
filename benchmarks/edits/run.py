"""How fast are why-not and counterfactuals on a catalogue of ~10k items, for every family?

    python -m benchmarks.edits.run --items 10000 --users 10000 --pairs 20

On a synthetic shop of ``--items`` items (``whyrec.data.synthetic``, seed 0, split 60/20/20), fits
each exactly explained family at a fixed, ordinary configuration (item-kNN, RP3beta, EASE, iALS,
RecoNet's default, and a blend of iALS and RecoNet), then for ``--pairs`` users times:

- ``why_not`` for the item at rank 100 of the user's list (every unseen item and attribute value
  tried as an addition by the bounded exact search, then sets of two and three where one is not
  enough);
- ``counterfactual`` for the user's top item (history removals, exactly re-scored, shrunk to the
  smallest set within its time bound, and verified).

Reports each family's median and 90th percentile seconds, and how many answers were verified.
Writes ``results/edits_synthetic-ITEMS.json``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from benchmarks.common import results_dir
from benchmarks.provenance import run_main, write_result
from whyrec.data import split, synthetic
from whyrec.explain import counterfactual, why_not
from whyrec.models import ALS, EASE, Blend, ItemKNN, RecoNet, RP3beta

RESULTS = results_dir("edits")


def families(seed: int) -> dict[str, Any]:
    """Each family at an ordinary configuration (what matters here is the catalogue's size)."""
    return {
        "item_knn": lambda: ItemKNN(neighbours=100),
        "rp3beta": lambda: RP3beta(neighbours=100, alpha=0.8, beta=0.4),
        "ease": lambda: EASE(l2=500.0),
        "ials": lambda: ALS(factors=128, regularization=100.0, alpha=25.0, iterations=8, seed=seed),
        "reconet": lambda: RecoNet(seed=seed),
    }


def timed_answers(model: Any, users: np.ndarray, rank: int) -> dict[str, Any]:
    """Why-not (the item at `rank`) and counterfactual (the top item) timings over `users`."""
    fs = model.feature_space_
    ids = list(np.asarray(fs.user_ids, dtype=object)[users])
    recs = model.recommend(ids, k=rank)
    why, counter, verified = [], [], {"why_not": 0, "counterfactual": 0}
    for row, user in enumerate(users):
        start = time.perf_counter()
        answer = why_not(model, ids[row], recs.item_ids[row][rank - 1], n=10)
        why.append(time.perf_counter() - start)
        verified["why_not"] += bool(answer.addition and answer.addition["verified"])
        start = time.perf_counter()
        found = counterfactual(model, model.user_profiles(np.array([user])), int(recs.items[row][0]), n=10)
        counter.append(time.perf_counter() - start)
        verified["counterfactual"] += bool(found.verified)
    return {
        "why_not_seconds_p50": float(np.median(why)),
        "why_not_seconds_p90": float(np.quantile(why, 0.9)),
        "counterfactual_seconds_p50": float(np.median(counter)),
        "counterfactual_seconds_p90": float(np.quantile(counter, 0.9)),
        "verified": verified,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", help="comma-separated families (default: all, and the blend)")
    args = parser.parse_args()
    data = synthetic(n_users=args.users, n_items=args.items, seed=args.seed).dataset
    parts = split(data, seed=args.seed)
    users = np.random.default_rng(args.seed).choice(np.unique(parts.test.users), args.pairs, replace=False)
    chosen = set(args.only.split(",")) if args.only else None
    fitted, results = {}, {}
    for name, make in families(args.seed).items():
        if chosen and name not in chosen and not (name in ("ials", "reconet") and "blend" in chosen):
            continue
        start = time.perf_counter()
        fitted[name] = make().fit(parts.train, parts.validation)
        results[name] = {"fit_seconds": time.perf_counter() - start}
    if "ials" in fitted and "reconet" in fitted and (not chosen or "blend" in chosen):
        fitted["blend"] = Blend.of([fitted["ials"], fitted["reconet"]], [0.6, 0.4])
        results["blend"] = {"members": ["ials", "reconet"], "weights": [0.6, 0.4]}
    for name, model in fitted.items():
        if chosen and name not in chosen:
            continue
        results[name].update(timed_answers(model, users, rank=100))
        print(name, results[name], flush=True)
    spec = f"synthetic:n_users={args.users},n_items={args.items},seed={args.seed}"
    path = write_result(RESULTS / f"edits_synthetic-{args.items}.json", data=spec, seed=args.seed, results=results)
    print(f"Wrote {path}")


if __name__ == "__main__":
    run_main(main)
