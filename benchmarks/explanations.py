"""The explanation study on synthetic data, MovieLens 100K and ml-1m-half.

    python benchmarks/explanations.py --data synthetic ml-100k ml-1m --pairs 200 --seed 0

Same as `whyrec benchmark explanations --data SPEC`; writes benchmarks/results/explanations_<name>.json
and .html (deletion and insertion curves with 95% bands, Δŷ histograms, agreement heatmaps).
"""

from __future__ import annotations

import argparse

from _common import MOVIELENS_NAMES, RESULTS, data_dir
from whyrec._runtime import tune_allocator
from whyrec.studies.explanations import explanation_study

NAMES = {"synthetic": "synthetic", **MOVIELENS_NAMES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=list(NAMES), choices=list(NAMES))
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tune_allocator()
    for data in args.data:
        spec = "synthetic" if data == "synthetic" else f"movielens:{data_dir(data)}"
        results = explanation_study(spec, RESULTS, name=NAMES[data], n_pairs=args.pairs, seed=args.seed)
        lrp = results["methods"]["lrp"]
        print(
            f"{NAMES[data]}: LRP deletion area {lrp['deletion']['area']:.3f} "
            f"(random {results['random']['deletion']['area']:.3f}, "
            f"LIME {results['methods']['lime']['deletion']['area']:.3f}); "
            f"p = {lrp['top1_vs_random1']['p_value']:.2e}; LIME/LRP {results['lime_to_lrp_speed_ratio']:,.0f}x"
        )


if __name__ == "__main__":
    main()
