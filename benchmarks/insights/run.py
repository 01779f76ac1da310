"""Insights on MovieLens 100K: run time for all users and stability across 3 seeds.

    python -m benchmarks.insights.run --seed 0

Trains RecoNet (ML-100K preset, random 60/20/20 split, with attributes), then times the whole
insights job for every user: explanations of each user's top 5, segments (age, gender,
occupation, activity), replication, and stability over the original and 2 retrained runs (new
seeds, 90% resampled training data; the retraining is inside the timed part). Writes
benchmarks/insights/results/insights_ml-100k.json; the HTML report goes to runs/insights_ml-100k/.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from benchmarks.common import ROOT, data_dir, results_dir
from benchmarks.provenance import write_result
from whyrec._runtime import tune_allocator
from whyrec.insights import insights, summary_lines
from whyrec.models.presets import SMALL
from whyrec.runs import RunConfig, retrain_for_stability, train_run
from whyrec.viz.insights import write_report

RESULTS = results_dir("insights")

SEGMENTS = ("user.age", "user.gender", "user.occupation", "activity")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tune_allocator()
    config = RunConfig(data=f"movielens:{data_dir('ml-100k')}", seed=args.seed, params=dict(SMALL))
    with tempfile.TemporaryDirectory() as tmp:
        model, _, _ = train_run(config, f"{tmp}/model")
        start = time.perf_counter()
        retrained = retrain_for_stability(f"{tmp}/model", 2, seed=args.seed)
        result = insights(model, segment_by=SEGMENTS, k=5, retrained=retrained, seed=args.seed)
        seconds = time.perf_counter() - start
    write_report(result, ROOT / "runs" / "insights_ml-100k", title="whyrec insights: MovieLens 100K")
    stability = result["stability"]
    summary = {
        "seconds_total": seconds,
        "seconds_without_retraining": result["seconds"],
        "users": result["users"],
        "pairs": result["pairs"],
        "stability_min_spearman_top20_fields": stability["min_spearman"],
        "stability_spearman": stability["spearman"],
        "unstable_fields": stability["unstable"],
        "replication_min_spearman": result["replication"]["min_spearman"],
        "significant_segment_differences": {
            spec: {f: t for f, t in seg["tests"].items() if t["significant"]}
            for spec, seg in result["segments"].items()
        },
        "global_fields": result["global"]["fields"],
        "findings": summary_lines(result),
    }
    path = write_result(
        RESULTS / "insights_ml-100k.json",
        data="ml-100k (ratings >= 3, random 60/20/20), all users, top 5 each",
        seed=args.seed,
        results=summary,
    )
    print(
        f"{result['users']} users in {seconds:.1f}s (incl. 2 retrains); stability Spearman >= "
        f"{stability['min_spearman']:.3f}; unstable: {stability['unstable']} -> {path}"
    )


if __name__ == "__main__":
    main()
