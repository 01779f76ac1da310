"""RecoNet accuracy and training time on MovieLens (the foundation's targets).

Protocol (RecoNet section 5.1): ratings >= 3 are positives; random 60/20/20 split of the
interactions; early stopping on validation recall@50; test metrics over the full catalogue with
training and validation positives excluded. Popularity is reported beside it.

    python -m benchmarks.reconet_movielens.run --data ml-100k ml-1m --seed 0

Writes benchmarks/reconet_movielens/results/reconet_<data>.json (ml-1m is the ratings of users 1-2999: ml-1m-half).
"""

from __future__ import annotations

import argparse
import time

from benchmarks.common import EARLIER_RECONET, MOVIELENS_NAMES, data_dir, results_dir
from benchmarks.provenance import write_result
from whyrec._runtime import tune_allocator
from whyrec.data import load_movielens, split
from whyrec.evaluate import evaluate
from whyrec.models import Popularity, RecoNet

RESULTS = results_dir("reconet_movielens")

# Per-dataset settings (chosen on the validation split): the small set likes small steps; the
# larger one converges in a few epochs with large batches and a decaying learning rate.
PRESETS = {
    "ml-100k": {"batch_size": 512, "lr": 5e-3},
    "ml-1m": {"batch_size": 2048, "lr": 5e-2, "lr_decay": 0.4},
}
NAMES = MOVIELENS_NAMES


def run(name: str, seed: int, attributes: bool) -> dict:
    dataset = load_movielens(data_dir(name), min_rating=3, attributes=attributes)
    parts = split(dataset, "random", seed=seed)
    known = parts.train.matrix() + parts.validation.matrix()
    params = {**EARLIER_RECONET, **PRESETS[name], "seed": seed, "use_attributes": attributes}
    start = time.perf_counter()
    model = RecoNet(**params).fit(parts.train, parts.validation)
    fit_seconds = time.perf_counter() - start
    reconet = evaluate(model, parts.test, exclude=known, k=(20, 50))
    popularity = evaluate(Popularity().fit(parts.train), parts.test, exclude=known, k=(20, 50))
    return {
        "params": model.get_params(),
        "dataset": dataset.describe(),
        "split": parts.sizes(),
        "best_epoch": model.best_epoch_,
        "seconds_to_best_epoch": model.time_to_best_,
        "seconds_fit_total": fit_seconds,
        "history": model.history_,
        "test": {"RecoNet": reconet, "Popularity": popularity},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["ml-100k", "ml-1m"], choices=sorted(PRESETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-attributes", action="store_true")
    args = parser.parse_args()
    tune_allocator()
    for name in args.data:
        result = run(name, args.seed, not args.no_attributes)
        suffix = "" if not args.no_attributes else "_no-attributes"
        path = write_result(
            RESULTS / f"reconet_{NAMES[name]}{suffix}.json",
            data=f"{NAMES[name]} (ratings >= 3, random 60/20/20, attributes={not args.no_attributes})",
            seed=args.seed,
            results=result,
        )
        test = result["test"]["RecoNet"]
        print(
            f"{NAMES[name]}: recall@50 {test['recall@50']:.4f} "
            f"(popularity {result['test']['Popularity']['recall@50']:.4f}), "
            f"best epoch {result['best_epoch']} after {result['seconds_to_best_epoch']:.1f}s -> {path}"
        )


if __name__ == "__main__":
    main()
