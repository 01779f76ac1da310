"""Training checkpoints: resume a killed run where its last finished epoch left off.

A checkpoint is a directory written atomically (safetensors for the model, the best model so far
and every optimizer's moments; JSON for the rest), so a run killed mid-write leaves the previous
checkpoint intact. It records a fingerprint of the configuration and the data; resuming with
anything else is refused rather than silently mixed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from whyrec._io import atomic_directory, write_json_atomic
from whyrec.errors import ModelFormatError, ParameterError

CHECKPOINT_FORMAT = "whyrec.checkpoint"


@dataclass
class TrainingState:
    """Everything an epoch loop needs to continue: counters, history and the best weights."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float = float("-inf")
    best_epoch: int = 0
    waited: int = 0
    best_state: dict[str, torch.Tensor] | None = None


def save_checkpoint(
    path: str | Path,
    fingerprint: Mapping[str, Any],
    module: torch.nn.Module,
    optimizers: Sequence[torch.optim.Optimizer],
    schedulers: Sequence[Any],
    state: TrainingState,
) -> None:
    """Write the checkpoint directory `path` atomically (rank 0 only)."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    if state.best_state is not None:
        tensors.update({f"best.{k}": v.detach().cpu().contiguous() for k, v in state.best_state.items()})
    groups = []
    for i, optimizer in enumerate(optimizers):
        saved = optimizer.state_dict()
        for index, values in saved["state"].items():
            for name, value in values.items():
                tensors[f"optim{i}.{index}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
        groups.append(saved["param_groups"])
    meta = {
        "format": CHECKPOINT_FORMAT,
        "fingerprint": dict(fingerprint),
        "epoch": state.epoch,
        "history": state.history,
        "best_metric": state.best_metric if np.isfinite(state.best_metric) else None,
        "best_epoch": state.best_epoch,
        "waited": state.waited,
        "param_groups": groups,
        "schedulers": [s.state_dict() for s in schedulers],
    }
    with atomic_directory(path) as staging:
        save_file(tensors, staging / "checkpoint.safetensors")
        write_json_atomic(staging / "checkpoint.json", meta)


def load_checkpoint(
    path: str | Path,
    fingerprint: Mapping[str, Any],
    module: torch.nn.Module,
    optimizers: Sequence[torch.optim.Optimizer],
    schedulers: Sequence[Any],
) -> TrainingState | None:
    """Restore a checkpoint into `module` and `optimizers`; None when `path` holds none yet."""
    path = Path(path)
    if not (path / "checkpoint.json").exists():
        return None
    try:
        meta = json.loads((path / "checkpoint.json").read_text())
        tensors = load_file(path / "checkpoint.safetensors")
    except (OSError, ValueError, SafetensorError) as exc:
        raise ModelFormatError(f"cannot read the checkpoint in {path}: {exc}") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ModelFormatError(f"{path} is not a whyrec training checkpoint")
    if meta["fingerprint"] != json.loads(json.dumps(dict(fingerprint))):
        changed = sorted(k for k in meta["fingerprint"] if meta["fingerprint"].get(k) != fingerprint.get(k))
        raise ParameterError(
            f"the checkpoint in {path} was written by a different run (differs in {', '.join(changed) or 'keys'}); "
            "use another checkpoint directory or the same configuration and data"
        )
    module.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    for i, (optimizer, groups) in enumerate(zip(optimizers, meta["param_groups"], strict=True)):
        prefix = f"optim{i}."
        restored: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith(prefix):
                index, name = key[len(prefix) :].split(".", 1)
                restored.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": restored, "param_groups": groups})
    for scheduler, saved in zip(schedulers, meta["schedulers"], strict=True):
        scheduler.load_state_dict(saved)
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    return TrainingState(
        epoch=meta["epoch"],
        history=meta["history"],
        best_metric=meta["best_metric"] if meta["best_metric"] is not None else float("-inf"),
        best_epoch=meta["best_epoch"],
        waited=meta["waited"],
        best_state=best or None,
    )
