"""The full softmax's floor: one epoch's cross-entropy alone, timed on this machine.

RecoNet's paper objective (``sampling="removal"``) runs a softmax over every item for each training
interaction and epoch. However fast its embedding and output products become, every epoch still
runs the cross-entropy, forward and backward, over an (interactions x items) logit matrix. This
script times that part alone: PyTorch's fused ``cross_entropy`` on random logits, in the batch size
of the timed RecoNet row, for as many batches as one epoch of the seed-0 split has. Autocast keeps
this kernel in float32, so bfloat16 passes do not lower the floor.

Multiplied by the epochs that row ran in `training_speed_<name>.json`, it is a lower bound on that
fit on this machine (no product, no sampling, no validation), compared with 4x the tuned iALS fit
of the same file. The masked objective (``sampling="masked"``) runs one softmax row per user and
epoch instead; its floor is timed the same way, per epoch.

    python -m benchmarks.softmax_floor.run --data ml-1m --seed 0 --repeat 3

Writes benchmarks/softmax_floor/results/softmax_floor_<name>.json.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import numpy as np
import torch

from benchmarks.common import MOVIELENS_NAMES, data_dir, results_dir
from benchmarks.provenance import write_result
from whyrec.data import load_movielens, split

RESULTS = results_dir("softmax_floor")

NAMES = MOVIELENS_NAMES


def epoch_seconds(rows: int, items: int, batch_size: int, seed: int) -> float:
    """Seconds of cross-entropy forward and backward over `rows` logit rows of `items`, in batches."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch_size, items, generator=generator, requires_grad=True)
    labels = torch.randint(items, (batch_size,), generator=generator)
    start = time.perf_counter()
    for first in range(0, rows, batch_size):
        n = min(batch_size, rows - first)
        loss = torch.nn.functional.cross_entropy(logits[:n], labels[:n])
        torch.autograd.grad(loss, logits)  # the gradient the optimiser would take, not accumulated
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="ml-1m", choices=sorted(NAMES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    name = NAMES[args.data]
    speed_path = results_dir("training_speed") / f"training_speed_{name}.json"
    if not speed_path.exists():
        raise SystemExit(
            f"{speed_path.name} is missing: run python -m benchmarks.training_speed.run --data {args.data} first"
        )
    stored = json.loads(speed_path.read_text())
    speed = stored["results"]
    reconet = speed["reconet"]
    row = speed["models"][reconet]
    parts = split(load_movielens(data_dir(args.data), min_rating=3), "random", seed=args.seed)
    train = parts.train.matrix()
    interactions, items = int(train.nnz), int(train.shape[1])
    users = int(np.count_nonzero(np.diff(train.indptr)))
    batch_size = int(row["params"]["batch_size"])
    per_epoch = statistics.median(epoch_seconds(interactions, items, batch_size, args.seed) for _ in range(args.repeat))
    per_user_epoch = statistics.median(epoch_seconds(users, items, 128, args.seed) for _ in range(args.repeat))
    epochs_run = int(row["epochs_run"])
    best_epoch = int(statistics.median(row["best_epoch"]))
    ials = float(speed["models"]["ials"]["fit_seconds_median"])
    results = {
        "timed_row": reconet,
        "training_speed_file": speed_path.name,
        "training_speed_revision": stored.get("git_revision"),
        "interactions": interactions,
        "items": items,
        "batch_size": batch_size,
        "batches_per_epoch": math.ceil(interactions / batch_size),
        "torch_threads": torch.get_num_threads(),
        "removal_cross_entropy_seconds_per_epoch": per_epoch,
        "epochs_run": epochs_run,
        "best_epoch": best_epoch,
        "floor_fit_seconds": per_epoch * epochs_run,
        "floor_to_best_seconds": per_epoch * best_epoch,
        "measured_fit_seconds": row["fit_seconds_median"],
        "ials_fit_seconds": ials,
        "floor_over_ials_fit": per_epoch * epochs_run / ials,
        "target_fit_seconds": 4 * ials,
        "users": users,
        "masked_cross_entropy_seconds_per_epoch": per_user_epoch,
    }
    path = write_result(
        RESULTS / f"softmax_floor_{name}.json",
        data=f"{name} (ratings >= 3, random 60/20/20, seed {args.seed} split; random logits of its shape)",
        seed=args.seed,
        results=results,
    )
    print(
        f"cross-entropy alone: {per_epoch:.2f} s an epoch x {epochs_run} epochs = {per_epoch * epochs_run:.1f} s "
        f"(tuned iALS {ials:.1f} s, 4x = {4 * ials:.1f} s); masked: {per_user_epoch:.3f} s an epoch -> {path}"
    )


if __name__ == "__main__":
    main()
