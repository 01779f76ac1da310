"""The explanation study on synthetic data, MovieLens 100K and ml-1m-half.

    python -m benchmarks.explanations.run --data synthetic ml-100k ml-1m --pairs 200 --seed 0
    python -m benchmarks.explanations.run --data csv:plays.csv --name plays --out runs/explanations

Deletion and insertion curves with 95% bands, significance, agreement, ground truth, speed, the
field's fidelity metrics and counterfactual validity of every method. Writes
``results/explanations_NAME.json`` and ``.html``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import MOVIELENS_NAMES, data_dir, results_dir
from benchmarks.explanations.study import explanation_study
from benchmarks.provenance import run_main
from whyrec._runtime import tune_allocator
from whyrec.errors import ParameterError

RESULTS = results_dir("explanations")
NAMES = {"synthetic": "synthetic", **MOVIELENS_NAMES}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", default=list(NAMES), help=f"{', '.join(NAMES)} or a whyrec data spec")
    p.add_argument("--name", help="name in the file names, for one data spec (default: from the spec)")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON and HTML results")
    p.add_argument("--tuned", type=Path, default=results_dir("accuracy"), help="folder of Table 1's results")
    p.add_argument("--pairs", type=int, default=200, help="(user, top recommendation) pairs explained by every method")
    p.add_argument("--speed-pairs", type=int, default=10_000, help="pairs in the batched speed measurement")
    p.add_argument("--seed", type=int, default=0, help="seed for data, split, training and sampling")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.pairs < 2 or args.speed_pairs < 1:
        raise ParameterError(
            f"--pairs must be at least 2 and --speed-pairs at least 1, got {args.pairs} and {args.speed_pairs}"
        )
    if args.name and len(args.data) > 1:
        raise ParameterError("--name names one data spec; give one --data")
    tune_allocator()
    for data in args.data:
        spec = data if data not in NAMES else "synthetic" if data == "synthetic" else f"movielens:{data_dir(data)}"
        name = args.name or NAMES.get(data) or data.split(":")[0]
        results = explanation_study(
            spec,
            args.out,
            name=name,
            n_pairs=args.pairs,
            speed_pairs=args.speed_pairs,
            seed=args.seed,
            tuned=args.tuned,
        )
        lrp = results["methods"]["lrp"]
        print(
            f"{name}: LRP deletion area {lrp['deletion']['area']:.3f} "
            f"(random {results['random']['deletion']['area']:.3f}, "
            f"LIME {results['methods']['lime']['deletion']['area']:.3f}); "
            f"top-1 vs random-1 p = {lrp['top1_vs_random1']['p_value']:.2e}; "
            f"LIME/LRP time ratio {results['lime_to_lrp_speed_ratio']:,.0f}"
        )


if __name__ == "__main__":
    run_main(main)
