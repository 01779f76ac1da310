"""Run by tests/test_distributed.py under torchrun: train RecoNet data-parallel for several seeds."""

import json
import os
import sys

import torch
import torch.distributed as dist

from whyrec.data.splits import split
from whyrec.data.synthetic import synthetic
from whyrec.models.reconet import RecoNet

SETTINGS = {"dim": 16, "epochs": 8, "batch_size": 256, "lr": 1e-2, "patience": 8}


def main(out: str, seeds: list[int]) -> None:
    torch.set_num_threads(1)
    results = {}
    for seed in seeds:
        parts = split(synthetic(n_users=800, n_items=120, seed=3).dataset, seed=1)
        model = RecoNet(seed=seed, **SETTINGS).fit(parts.train, parts.validation)
        results[seed] = {
            "best": model.best_metric_,
            "world_size": model.world_size_,
            "weights": float(model.module_.output.weight.sum()),
        }
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, results)
    if dist.get_rank() == 0:
        with open(out, "w") as handle:
            json.dump(gathered, handle)
    dist.barrier()  # no rank tears the group down while another still uses it
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], [int(s) for s in sys.argv[2:]])
    sys.stdout.flush()
    sys.stderr.flush()
    # the work is done and written; skip interpreter teardown, where gloo's threads occasionally abort
    # the process ("terminate called without an active exception") on a loaded machine
    os._exit(0)
