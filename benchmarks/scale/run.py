"""Scale: data-parallel throughput (1 vs 2 processes) and a 1M-item x 2M-user catalogue.

    python -m benchmarks.scale.run scaling --users 100000 --items 20000
    python -m benchmarks.scale.run catalogue --users 2000000 --items 1000000

`scaling` writes a synthetic catalogue as Parquet shards, then trains RecoNet for one epoch with
torchrun on 1 and on 2 gloo processes (dense gradients, DistributedDataParallel) and reports
examples per second, the bytes all-reduced per step, and an estimate for 8 and 64 workers from
those measurements (see `_estimate` for the model and its assumptions).
Writes benchmarks/scale/results/scale_scaling.json.

`catalogue` streams the 1M x 2M catalogue from its shards into a Dataset, trains one epoch with
sampled softmax (sparse gradients), evaluates recall@50 over the full catalogue on sampled users,
times `explain-all` on a slice of the users and records the peak memory (max RSS).
Writes benchmarks/scale/results/scale_catalogue.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import results_dir
from benchmarks.provenance import write_result

RESULTS = results_dir("scale")

HERE = Path(__file__).resolve().parent


def _catalogue(folder: Path, users: int, items: int, mean: float, seed: int) -> dict:
    from whyrec.data.synthetic_catalogue import write_synthetic_catalogue

    start = time.perf_counter()
    info = write_synthetic_catalogue(
        folder, n_users=users, n_items=items, n_categories=max(10, items // 1000), mean_interactions=mean, seed=seed
    )
    return {**info, "write_seconds": time.perf_counter() - start}


def _load(folder: Path):
    from whyrec.data.stream import stream_dataset

    start = time.perf_counter()
    dataset = stream_dataset(folder / "interactions", folder / "users.parquet", folder / "items.parquet")
    return dataset, time.perf_counter() - start


def worker(args: argparse.Namespace) -> None:
    """One torchrun rank: train one epoch on the whole catalogue, report throughput from rank 0."""
    import torch.distributed as dist

    from whyrec.models.reconet import RecoNet

    torch.set_num_threads(args.threads)
    dataset, _ = _load(Path(args.data))
    model = RecoNet(sampling="removal", dim=args.dim, epochs=1, batch_size=args.batch_size, seed=args.seed).fit(dataset)
    n_params = sum(p.numel() for p in model.module_.parameters())
    record = model.history_[0]
    if not dist.is_initialized() or dist.get_rank() == 0:
        world = dist.get_world_size() if dist.is_initialized() else 1
        steps = -(-dataset.n_interactions // world // -(-args.batch_size // world))
        Path(args.out).write_text(
            json.dumps(
                {
                    "world_size": world,
                    "threads_per_rank": args.threads,
                    "examples": dataset.n_interactions,
                    "epoch_seconds": record["seconds"],
                    "examples_per_second": dataset.n_interactions / record["seconds"],
                    "steps_per_epoch": steps,
                    "parameters": n_params,
                    "allreduce_bytes_per_step": 4 * n_params * (world > 1),
                }
            )
        )


def scaling(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        info = _catalogue(folder, args.users, args.items, args.mean, args.seed)
        runs = {}
        for world, threads in ((1, 1), (1, 2), (2, 1)):
            out = folder / f"run{world}x{threads}.json"
            command = [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                "--nproc-per-node",
                str(world),
                str(Path(__file__).resolve()),
                "worker",
                "--data",
                str(folder),
                "--out",
                str(out),
                "--threads",
                str(threads),
                "--dim",
                str(args.dim),
                "--batch-size",
                str(args.batch_size),
                "--seed",
                str(args.seed),
            ]
            path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
            env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": path}
            subprocess.run(command, check=True, env=env, cwd=HERE)
            runs[f"{world}x{threads}"] = json.loads(out.read_text())
            print(world, threads, runs[f"{world}x{threads}"], flush=True)
    results = {"catalogue": info, "runs": runs, "estimate": _estimate(runs, args.batch_size)}
    path = write_result(
        RESULTS / "scale_scaling.json",
        data=f"synthetic catalogue {args.users}x{args.items}",
        seed=args.seed,
        results=results,
    )
    print(json.dumps(results["estimate"], indent=1))
    print(f"Wrote {path}")


def _estimate(runs: dict, batch_size: int) -> dict:
    """Examples/s for N workers: t_step(N) = t_compute / N + t_allreduce(N), from the measured runs.

    t_compute: the measured time per step of one process with one thread (the unit a rank here is).
    Each of N ranks computes a batch of batch_size / N, taken as t_compute / N (linear in the
    batch: optimistic for GPUs, whose small batches are latency-bound). t_allreduce: a ring
    all-reduce of the dense gradients, 2 (N-1)/N * bytes / bandwidth, with 100 GB/s inside one node
    (NVLink-class, N = 8) and 12.5 GB/s between nodes (100 Gb/s, N = 64). No GPU was measured:
    these are CPU-rank numbers scaled by the interconnect model, not GPU predictions.
    """
    one = runs["1x1"]
    step = one["epoch_seconds"] / one["steps_per_epoch"]
    bytes_per_step = 4 * one["parameters"]
    measured_two = runs["2x1"]["examples_per_second"] / one["examples_per_second"]
    out = {
        "compute_seconds_per_step": step,
        "allreduce_bytes_per_step": bytes_per_step,
        "global_batch": batch_size,
        "measured_speedup_2_processes": measured_two,
    }
    for n, bandwidth in ((8, 100e9), (64, 12.5e9)):
        comm = 2 * (n - 1) / n * bytes_per_step / bandwidth
        per_step = step / n + comm
        out[f"workers_{n}"] = {
            "bandwidth_bytes_per_s": bandwidth,
            "allreduce_seconds_per_step": comm,
            "examples_per_second": batch_size / per_step,
            "speedup_over_1": step / per_step,
            "communication_share": comm / per_step,
        }
    return out


def catalogue(args: argparse.Namespace) -> None:
    from whyrec.data.splits import split
    from whyrec.jobs.batch import run_job
    from whyrec.metrics import evaluate
    from whyrec.models.baselines import Popularity
    from whyrec.models.reconet import RecoNet
    from whyrec.models.training import TrainingOptions

    torch.set_num_threads(2)
    folder = Path(args.workdir)
    folder.mkdir(parents=True, exist_ok=True)
    info = _catalogue(folder, args.users, args.items, args.mean, args.seed) if args.generate else {}
    dataset, load_seconds = _load(folder)
    parts = split(dataset, seed=args.seed)
    del dataset
    print("loaded", parts.train.describe(), f"{load_seconds:.0f}s", flush=True)
    model = RecoNet(
        sampling="removal",
        dim=args.dim,
        epochs=args.epochs,
        batch_size=args.batch_size,
        loss="sampled",
        negatives=args.negatives,
        lr=args.lr,
        seed=args.seed,
        max_eval_users=2000,
    ).fit(parts.train, options=TrainingOptions(progress=True))
    trained = model.history_[-1]
    rng = np.random.default_rng(args.seed)
    users = rng.choice(np.unique(parts.test.users), 2000, replace=False)
    known = parts.train.matrix()
    ours = evaluate(model, parts.test, exclude=known, k=50, users=users)["recall@50"]
    popular = evaluate(Popularity().fit(parts.train), parts.test, exclude=known, k=50, users=users)["recall@50"]
    model_dir = folder / "model"
    model.save(model_dir)
    job = run_job(
        model,
        model_dir,
        folder / "explained",
        kind="explain",
        k=10,
        reasons=3,
        users_per_part=10_000,
        worker=0,
        n_workers=args.users // 20_000,
    )
    results = {
        "catalogue": info,
        "load_seconds": load_seconds,
        "train": {
            "examples": int(parts.train.n_interactions),
            "epochs": args.epochs,
            "seconds": trained["seconds"],
            "examples_per_second": args.epochs * parts.train.n_interactions / trained["seconds"],
            "loss": [h["loss"] for h in model.history_],
            "negatives": args.negatives,
            "dim": args.dim,
        },
        "recall@50": {"reconet_sampled": ours, "popularity": popular, "users": len(users)},
        "explain_all": {**job, "explanations_per_second_per_core": job["rows_per_second"] / 2, "cores": 2},
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }
    path = write_result(
        RESULTS / "scale_catalogue.json",
        data=f"synthetic catalogue {args.users}x{args.items}",
        seed=args.seed,
        results=results,
    )
    print(json.dumps(results, indent=1, default=str))
    print(f"Wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    for name in ("scaling", "catalogue", "worker"):
        p = sub.add_parser(name)
        p.add_argument("--users", type=int, default=100_000 if name != "catalogue" else 2_000_000)
        p.add_argument("--items", type=int, default=20_000 if name != "catalogue" else 1_000_000)
        p.add_argument("--mean", type=float, default=10.0)
        p.add_argument("--dim", type=int, default=32)
        p.add_argument("--batch-size", type=int, default=1024)
        p.add_argument("--seed", type=int, default=0)
    sub.choices["worker"].add_argument("--data", required=True)
    sub.choices["worker"].add_argument("--out", required=True)
    sub.choices["worker"].add_argument("--threads", type=int, default=1)
    c = sub.choices["catalogue"]
    c.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "whyrec-catalogue"))
    c.add_argument("--generate", action=argparse.BooleanOptionalAction, default=True)
    c.add_argument("--epochs", type=int, default=1)
    c.add_argument("--negatives", type=int, default=2000)
    c.add_argument("--lr", type=float, default=1e-2)
    args = parser.parse_args()
    {"scaling": scaling, "catalogue": catalogue, "worker": worker}[args.part](args)


if __name__ == "__main__":
    main()
