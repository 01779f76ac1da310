"""GLIDER end to end: detect a source model's interactions, then encode them as crosses in targets.

    python -m benchmarks.glider.run --data synthetic --seeds 0 1 2
    python -m benchmarks.glider.run --data criteo --top 5
    python -m benchmarks.glider.run --data frappe --top 5

For each data set: seeded 80/10/10 split (vocabulary from the training rows, values seen once fold
into 'other'); a DeepFM source model (seed 0) early-stopped on validation log loss; GLIDER on
1,000 test rows with every core (time per instance reported); then every target architecture
trained with and without crosses for the top-K interactions (of 2+ fields), over 3 model seeds,
test AUC and log loss as mean ± std. On synthetic data the detection is scored against the
planted interactions instead (per data seed), for the trained source model and for the true logit.
Writes benchmarks/glider/results/glider_<data>.json and .html.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from benchmarks.common import data_dir, results_dir
from benchmarks.provenance import write_result
from whyrec._runtime import tune_allocator
from whyrec.data.ctr_loaders import ctr_split
from whyrec.interactions.encoding import encode_study, model_params, planted_recovery
from whyrec.interactions.glider import glider
from whyrec.models.ctr import ARCHITECTURES, CTRModel
from whyrec.viz.interactions import interaction_bars, interaction_graph
from whyrec.viz.page import write_page

RESULTS = results_dir("glider")

SPECS = {"criteo": "criteo:{}", "frappe": "frappe:{}/raw", "avazu": "avazu:{}", "movielens": "movielens-ctr:{}"}
FOLDERS = {"criteo": "criteo", "frappe": "frappe", "avazu": "avazu", "movielens": "ml-100k"}


def source_model(spec: str, split, seed: int = 0) -> tuple[CTRModel, dict]:
    start = time.perf_counter()
    model = CTRModel(**model_params("deepfm", {"seed": seed}, data=spec)).fit(split.train, split.validation)
    return model, {"architecture": "deepfm", **model.evaluate(split.test), "train_seconds": time.perf_counter() - start}


def synthetic(seeds: list[int], instances: int) -> tuple[dict, list]:
    from whyrec.data.synthetic_ctr import synthetic_ctr

    per_seed, reports = {}, []
    for seed in seeds:
        spec = f"synthetic-ctr:seed={seed}"
        split, planted = ctr_split(spec, seed=seed, min_count=1)
        model, source = source_model(spec, split, seed)
        report = glider(model.predict_logit, split.test, instances=instances, seed=seed)
        truth = synthetic_ctr(seed=seed)
        oracle = glider(truth.oracle(split.space), split.test, instances=instances, seed=seed)
        per_seed[str(seed)] = {
            "source": source,
            "planted": [list(p) for p in planted],
            "trained_model": {**planted_recovery(report, planted), "timing": report.timing},
            "true_logit": {**planted_recovery(oracle, planted), "timing": oracle.timing},
        }
        reports.append(report)
        print(
            seed,
            per_seed[str(seed)]["trained_model"]["pair_auc"],
            per_seed[str(seed)]["trained_model"]["higher_order_ranks"],
        )
    aucs = [r["trained_model"]["pair_auc"] for r in per_seed.values()]
    return {
        "per_seed": per_seed,
        "pair_auc_mean": float(np.mean(aucs)),
        "pair_auc_min": float(np.min(aucs)),
        "all_higher_order_in_top10": all(r["trained_model"]["all_higher_order_in_top10"] for r in per_seed.values()),
    }, reports


def real(name: str, top: int, seeds: list[int], instances: int) -> tuple[dict, list]:
    spec = SPECS[name].format(data_dir(FOLDERS[name]))
    split, _ = ctr_split(spec, seed=0, min_count=2)
    model, source = source_model(spec, split)
    report = glider(model.predict_logit, split.test, instances=instances, seed=0)
    print(f"source {source}; GLIDER {report.timing}")
    chosen = report.top(top)
    encode = encode_study(split, chosen, architectures=ARCHITECTURES, seeds=seeds, log=print)
    return {
        "rows": {"train": len(split.train), "validation": len(split.validation), "test": len(split.test)},
        "fields": split.train.fields,
        "source": source,
        "detection": report.to_dict(top=30),
        "encode": encode,
        "improved_models": encode["improved_models"],
    }, [report]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["synthetic", *SPECS], default="synthetic")
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--instances", type=int, default=1000)
    args = parser.parse_args()
    tune_allocator()
    torch.set_num_threads(2)
    if args.data == "synthetic":
        results, reports = synthetic(args.seeds, args.instances)
    else:
        results, reports = real(args.data, args.top, args.seeds, args.instances)
    name = args.data
    write_page(
        RESULTS / f"glider_{name}.html",
        f"GLIDER on {name}",
        [f for r in reports[:1] for f in (interaction_graph(r), interaction_bars(r))],
    )
    path = write_result(
        RESULTS / f"glider_{name}.json",
        data=name if name == "synthetic" else SPECS[name].split(":")[0],
        seed=args.seeds,
        results=results,
        protocol=__doc__.split("\n\n")[2].strip(),
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
