"""RecoNet on a GPU through the one Trainer: training, resumption, sampled softmax, LRP, save/load.

    python -m benchmarks.gpu.run --seed 0

Trains the same RecoNet on the CPU and on CUDA (when present) on whyrec's synthetic data, kills a
CUDA run after its second epoch and resumes it from the checkpoint, trains the sampled softmax with
sparse gradients on CUDA, explains 10,000 recommendations with ε-LRP on the GPU, and saves the GPU
model and loads it back on the CPU. Writes benchmarks/gpu/results/gpu_reconet.json.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import results_dir
from benchmarks.provenance import write_result
from whyrec.data import split, synthetic
from whyrec.explain import explain_pairs
from whyrec.metrics import evaluate
from whyrec.models import RecoNet, TrainingOptions, load_model
from whyrec.models import training as training_module

RESULTS = results_dir("gpu")

SETTINGS = {"sampling": "removal", "dim": 128, "epochs": 6, "batch_size": 2048, "lr": 2e-2, "patience": 6}


def _fit(parts, device: str, seed: int, **extra) -> tuple[RecoNet, float]:
    start = time.perf_counter()
    model = RecoNet(**{**SETTINGS, **extra}, seed=seed)
    model.fit(parts.train, parts.validation, options=TrainingOptions(device=device))
    return model, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--items", type=int, default=2000)
    args = parser.parse_args()
    parts = split(synthetic(n_users=args.users, n_items=args.items, seed=args.seed).dataset, seed=args.seed)
    known = parts.train.matrix() + parts.validation.matrix()
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    results: dict = {"devices": {}, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    models = {}
    for device in devices:
        model, seconds = _fit(parts, device, args.seed)
        models[device] = model
        results["devices"][device] = {
            "fit_seconds": seconds,
            "epoch_seconds": [h["seconds"] for h in model.history_],
            "best_epoch": model.best_epoch_,
            "test_recall@50": evaluate(model, parts.test, exclude=known, k=50)["recall@50"],
        }
        print(device, results["devices"][device], flush=True)
    device = devices[-1]
    model = models[device]

    # a run killed after epoch 2 resumes from its checkpoint
    real_save = training_module.save_checkpoint

    def save_then_die(path, fingerprint, module, optimizers, schedulers, state):
        real_save(path, fingerprint, module, optimizers, schedulers, state)
        if state.epoch == 2:
            raise KeyboardInterrupt

    with tempfile.TemporaryDirectory() as tmp:
        options = TrainingOptions(device=device, checkpoint_dir=Path(tmp) / "ckpt")
        training_module.save_checkpoint = save_then_die
        with contextlib.suppress(KeyboardInterrupt):  # the kill after epoch 2
            RecoNet(**SETTINGS, seed=args.seed).fit(parts.train, parts.validation, options=options)
        training_module.save_checkpoint = real_save
        resumed = RecoNet(**SETTINGS, seed=args.seed).fit(parts.train, parts.validation, options=options)
        users = np.arange(500)
        gap = np.abs(resumed.score_users(users) - model.score_users(users)).max()
        results["resumption"] = {
            "epochs": [h["epoch"] for h in resumed.history_],
            "max_score_difference_to_uninterrupted_run": float(gap),
            "val_recall": [h.get("val_recall@50") for h in resumed.history_],
            "uninterrupted_val_recall": [h.get("val_recall@50") for h in model.history_],
        }
        print("resumption", results["resumption"], flush=True)

        sampled, seconds = _fit(parts, device, args.seed, loss="sampled", negatives=500, lr=3e-2)
        results["sampled_softmax"] = {
            "fit_seconds": seconds,
            "test_recall@50": evaluate(sampled, parts.test, exclude=known, k=50)["recall@50"],
        }
        print("sampled", results["sampled_softmax"], flush=True)

        rng = np.random.default_rng(args.seed)
        chosen = np.sort(rng.choice(np.unique(parts.train.users), 1000, replace=False))
        recs = model.top_k(model.score_users(chosen), 10, model.train_matrix_[chosen])
        bags, targets = model.user_profiles(np.repeat(chosen, 10)), recs.items.ravel()
        explain_pairs(model, bags, targets)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            result = explain_pairs(model, bags, targets)
            times.append(time.perf_counter() - start)
        gaps = np.abs(result.scores - result.baselines - np.asarray(result.relevance.sum(axis=1)).ravel())
        results["lrp"] = {
            "pairs": len(targets),
            "median_seconds": float(np.median(times)),
            "max_conservation_gap": float(gaps.max()),
        }
        print("lrp", results["lrp"], flush=True)

        loaded = load_model(model.save(Path(tmp) / "model"))
        difference = np.abs(loaded.score_users(users) - model.score_users(users)).max()
        results["saved_and_loaded_on_cpu"] = {"max_score_difference": float(difference)}
        print("save/load", results["saved_and_loaded_on_cpu"], flush=True)
    path = write_result(
        RESULTS / "gpu_reconet.json",
        data=f"whyrec synthetic ({args.users:,} users, {args.items:,} items), random 60/20/20",
        seed=args.seed,
        results=results,
    )
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()
