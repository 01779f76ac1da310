"""Data-parallel training on torch.distributed: who this process is, and what ranks agree on.

whyrec does not launch processes; `torchrun` does (see ``whyrec train --distributed``). A model's
``fit`` calls :func:`world` once: under torchrun it joins the process group named by torchrun's
environment (gloo on CPU, NCCL when the model runs on CUDA); otherwise it is a world of one, and
every collective below is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from whyrec.errors import ParameterError


@dataclass(frozen=True)
class World:
    """This process's rank among `size` data-parallel workers."""

    rank: int = 0
    size: int = 1

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, owners: np.ndarray) -> np.ndarray:
        """Positions whose owner (a user index) belongs to this rank: owner mod size == rank."""
        return np.flatnonzero(owners % self.size == self.rank)

    def max(self, value: int) -> int:
        """The largest `value` over all ranks (every rank must run as many steps)."""
        if not self.distributed:
            return value
        tensor = torch.tensor([value], dtype=torch.int64)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return int(tensor.item())

    def broadcast(self, value: float) -> float:
        """Rank 0's `value` on every rank (early-stopping decisions are taken on rank 0)."""
        if not self.distributed:
            return value
        tensor = torch.tensor([value], dtype=torch.float64)
        dist.broadcast(tensor, src=0)
        return float(tensor.item())

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def world(device: torch.device) -> World:
    """This process's :class:`World`, joining torchrun's process group when launched by it."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        if "MASTER_ADDR" not in os.environ:
            raise ParameterError("WORLD_SIZE is set but MASTER_ADDR is not; launch distributed runs with torchrun")
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size())


def local_device(device: torch.device) -> torch.device:
    """On CUDA, each rank takes the GPU torchrun assigns it (LOCAL_RANK)."""
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def leave() -> None:
    """Leave torchrun's process group cleanly: wait for every rank, then tear it down (a group left
    to interpreter teardown can abort a rank on exit)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
