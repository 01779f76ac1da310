"""Batched LRP speed: 10,000 (user, recommended item) explanations of an ml-1m-half-sized model.

    python -m benchmarks.lrp_speed.run --seed 0

Trains RecoNet on ml-1m-half for one epoch (the timing depends on the model's size, not on its
training), takes the top-10 recommendations of 1,000 users, and times the LRP of all 10,000 pairs
in one batch (median of 7 runs), with and without building the profiles, and one pair alone.
Writes benchmarks/lrp_speed/results/lrp_speed_ml-1m-half.json.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from benchmarks.common import EARLIER_RECONET, data_dir, results_dir
from benchmarks.provenance import timed, write_result
from whyrec._runtime import tune_allocator
from whyrec.data import load_movielens, split
from whyrec.explain import explain_pairs
from whyrec.models import RecoNet

RESULTS = results_dir("lrp_speed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=10_000)
    args = parser.parse_args()
    tune_allocator()
    dataset = load_movielens(data_dir("ml-1m"))
    parts = split(dataset, seed=args.seed)
    model = RecoNet(**EARLIER_RECONET, batch_size=2048, lr=5e-2, epochs=1, seed=args.seed).fit(parts.train)

    rng = np.random.default_rng(args.seed)
    active = np.unique(parts.train.users)
    users = np.sort(rng.choice(active, args.pairs // 10, replace=False))
    recs = model.top_k(model.score_users(users), 10, model.train_matrix_[users])
    pair_users, pair_items = np.repeat(users, 10), recs.items.ravel()
    bags = model.user_profiles(pair_users)

    lrp_seconds, lrp_runs, result = timed(lambda: explain_pairs(model, bags, pair_items), repeat=7)
    full_seconds, full_runs, _ = timed(
        lambda: explain_pairs(model, model.user_profiles(pair_users), pair_items), repeat=7
    )
    one_bag = bags[0]
    single_seconds, _, _ = timed(lambda: explain_pairs(model, one_bag, pair_items[:1]), repeat=200, warmup=5)
    gaps = np.abs(result.scores - result.baselines - np.asarray(result.relevance.sum(axis=1)).ravel())
    results = {
        "pairs": len(pair_items),
        "mean_profile_tokens": float(np.diff(bags.indptr).mean()),
        "model": {"n_tokens": dataset.feature_space.n_tokens, "n_items": dataset.n_items, "dim": model.dim},
        "torch_threads": torch.get_num_threads(),
        "batched_lrp_seconds": lrp_seconds,
        "batched_lrp_us_per_explanation": lrp_seconds / len(pair_items) * 1e6,
        "batched_lrp_runs_seconds": lrp_runs,
        "with_profiles_seconds": full_seconds,
        "with_profiles_runs_seconds": full_runs,
        "single_pair_ms": single_seconds * 1e3,
        "max_conservation_gap": float(gaps.max()),
    }
    path = write_result(
        RESULTS / "lrp_speed_ml-1m-half.json",
        data="ml-1m-half (ratings >= 3, random 60/20/20), top-10 recommendations of 1,000 users",
        seed=args.seed,
        results=results,
    )
    print(
        f"{len(pair_items)} explanations: {lrp_seconds * 1e3:.1f} ms batched "
        f"({results['batched_lrp_us_per_explanation']:.2f} us each), {full_seconds * 1e3:.1f} ms with profiles, "
        f"single pair {results['single_pair_ms']:.3f} ms -> {path}"
    )


if __name__ == "__main__":
    main()
