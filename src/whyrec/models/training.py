"""The one training loop every epoch-trained model uses, and the runtime options of a fit.

A model describes *what* to optimise as an :class:`Objective` (its module and optimizers, the
batches of one epoch, the loss of one batch, an optional validation callback); the
:class:`Trainer` owns *how*: the epoch loop, per-epoch seeding, learning-rate schedules, early
stopping on a monitored validation metric (the best epoch's weights are kept), progress bars,
callbacks (for example a tuner's pruning), checkpoints with exact resumption, and the device.

Runtime settings live in :class:`TrainingOptions`, never among a model's hyper-parameters: they
change where and how visibly a model trains, not what it learns.

Every epoch's randomness derives from ``(seed, rank, epoch)``: the objective's batches draw from
the generator the trainer hands them, and the global torch generator (dropout, reparameterisation)
is reseeded from the same triple. A run killed after epoch *e* and restarted from its checkpoint
therefore continues exactly as if it had never stopped.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from whyrec._io import atomic_directory, write_json_atomic
from whyrec.choices import PRECISIONS
from whyrec.errors import ModelFormatError, ParameterError, TrainingDivergedError
from whyrec.models.distributed import World

CHECKPOINT_FORMAT = "whyrec.checkpoint"


def adam(params: Iterable[torch.Tensor], lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam as every epoch-trained model uses it: PyTorch's fused kernel, one pass over each
    parameter a step. On the CPU, PyTorch's default updates a tensor through a chain of separate
    operations, each one a pass over the embedding tables; with small batches those passes can cost
    more than the batch itself. The update is Adam's, equal to the unfused one up to float rounding."""
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)


def require_precision(precision: str) -> None:
    """Refuse a training precision other than those in PRECISIONS, naming it."""
    if precision not in PRECISIONS:
        raise ParameterError(f"unknown precision {precision!r}; use {' or '.join(PRECISIONS)}")


class StopTraining(Exception):
    """Raised by a callback to end training after this epoch, keeping the best epoch so far (a time
    budget's end, for example); any other exception aborts the fit."""


@dataclass(frozen=True)
class EpochRecord:
    """What a callback sees after each epoch: the epoch, its history record and the best so far."""

    epoch: int
    record: Mapping[str, Any]
    best_metric: float | None
    best_epoch: int


@dataclass(frozen=True)
class TrainingOptions:
    """How a fit runs, as opposed to what it learns.

    Parameters
    ----------
    progress : bool
        Show a progress bar with the running loss.
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (CUDA when available).
    checkpoint_dir : str or path, optional
        Write a checkpoint after every epoch; a restarted fit with the same configuration and
        data resumes from it (a different run is refused).
    callbacks : tuple of callables
        Each is called with an :class:`EpochRecord` after every epoch. Raising
        :class:`StopTraining` ends training with the best epoch so far; raising anything else
        aborts the fit (a tuner's pruning does this).
    precision : {"float32", "bfloat16"}
        ``"bfloat16"`` runs the training forward and backward passes under ``torch.autocast``
        (bfloat16 matrix products, float32 weights, optimizer state, loss and validation). On a
        CPU with AVX512-BF16 or AMX, or a GPU, the products run faster, most where the output
        layer is large (the training-speed benchmark measures it); the result differs from a float32
        fit by rounding. The trained weights, saved
        models and explanations stay float32. A checkpoint resumes only at its own precision.
    """

    progress: bool = False
    device: str = "cpu"
    checkpoint_dir: str | os.PathLike | None = None
    callbacks: tuple[Callable[[EpochRecord], None], ...] = ()
    precision: Literal["float32", "bfloat16"] = "float32"

    def __post_init__(self) -> None:
        require_precision(self.precision)

    def cpu_only(self, model: str) -> TrainingOptions:
        """These options for a model that trains on the CPU: an explicit accelerator is refused."""
        if self.device not in ("cpu", "auto"):
            raise ParameterError(f"{model} trains on the CPU; device={self.device!r} is for RecoNet (or use 'auto')")
        return replace(self, device="cpu")

    def torch_device(self) -> torch.device:
        """The torch device named by `device` (``auto``: CUDA when available, else CPU)."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            return torch.device(self.device)
        except RuntimeError:
            raise ParameterError(f"unknown device {self.device!r}; use cpu, cuda or auto") from None


@dataclass(frozen=True)
class Monitor:
    """Early stopping: the validation metric to follow and when to give up.

    A new best must beat the previous one by more than `min_delta` (in the direction `mode`);
    training stops after `patience` epochs without one.
    """

    metric: str
    mode: Literal["max", "min"] = "max"
    patience: int = 3
    min_delta: float = 0.0

    def improved(self, value: float, best: float) -> bool:
        """Whether `value` is a new best against `best`."""
        return value > best + self.min_delta if self.mode == "max" else value < best - self.min_delta


@dataclass
class Objective:
    """What one model optimises; see the module docstring.

    `batches(epoch, rng)` yields the batches of one epoch (drawn from `rng`), `loss(batch)`
    returns the batch's mean loss and its number of examples, `validate()` returns validation
    metrics by name. `network` is what runs the forward pass when it differs from `module` (a
    DistributedDataParallel wrapper); `module` is what is checkpointed and restored.
    """

    module: nn.Module
    optimizers: Sequence[torch.optim.Optimizer]
    batches: Callable[[int, np.random.Generator], Iterable[Any]]
    loss: Callable[[Any], tuple[torch.Tensor, int]]
    schedulers: Sequence[Any] = ()
    after_step: Callable[[], None] | None = None
    validate: Callable[[], Mapping[str, float]] | None = None
    batches_per_epoch: int | None = None
    network: nn.Module | None = None


@dataclass
class TrainingResult:
    """The outcome of :meth:`Trainer.fit`."""

    history: list[dict[str, Any]]
    best_epoch: int
    best_metric: float | None
    time_to_best: float


@dataclass
class TrainingState:
    """Everything the epoch loop needs to continue: counters, history and the best weights."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float | None = None
    best_epoch: int = 0
    waited: int = 0
    best_state: dict[str, torch.Tensor] | None = None


class Trainer:
    """The epoch loop (see the module docstring).

    Parameters
    ----------
    epochs : int
        Maximum number of epochs.
    seed : int
        Seed of every epoch's randomness.
    monitor : Monitor, optional
        Early stopping on a validation metric; without it (or without a validation callback)
        every epoch runs and the last one is kept.
    options : TrainingOptions, optional
        Runtime options (progress, device, checkpoints, callbacks).
    name : str
        Label of the progress bar.
    fingerprint : mapping, optional
        What identifies the run (configuration and data); a checkpoint written by a run with
        another fingerprint is refused.
    world : World, optional
        This process among data-parallel workers (one by default).
    """

    def __init__(
        self,
        *,
        epochs: int,
        seed: int,
        monitor: Monitor | None = None,
        options: TrainingOptions | None = None,
        name: str = "training",
        fingerprint: Mapping[str, Any] | None = None,
        world: World | None = None,
    ) -> None:
        self.epochs = int(epochs)
        self.seed = int(seed)
        self.monitor = monitor
        self.options = options or TrainingOptions()
        self.name = name
        self.fingerprint = dict(fingerprint or {})
        if self.options.precision != "float32":  # float32 runs keep the fingerprints they always had
            self.fingerprint["precision"] = self.options.precision
        self.world = world or World()
        self.device = self.options.torch_device()

    def fit(self, objective: Objective) -> TrainingResult:
        """Run the epochs of `objective`; the module ends in eval mode with the best weights."""
        network = objective.network or objective.module
        validating = objective.validate is not None and self.monitor is not None
        state = TrainingState()
        if self.options.checkpoint_dir is not None:
            resumed = load_checkpoint(
                self.options.checkpoint_dir,
                self.fingerprint,
                objective.module,
                objective.optimizers,
                objective.schedulers,
            )
            state = resumed or state
        started = time.perf_counter() - (state.history[-1]["seconds"] if state.history else 0.0)
        remaining = self.epochs - state.epoch
        total = remaining * objective.batches_per_epoch if objective.batches_per_epoch else None
        with _Progress(self.options.progress and self.world.is_main, total, self.name) as bar:
            for epoch in range(state.epoch + 1, self.epochs + 1):
                network.train()
                mean_loss, seen = self._epoch(objective, epoch, bar)
                for scheduler in objective.schedulers:
                    scheduler.step()
                record: dict[str, Any] = {"epoch": epoch, "loss": mean_loss, "seconds": time.perf_counter() - started}
                if self.world.distributed:
                    record["examples_per_rank"] = seen
                if validating:
                    network.eval()
                    self._validate(objective, state, record, bar)
                state.history.append(record)
                state.epoch = epoch
                self._checkpoint(objective, state)
                try:
                    for callback in self.options.callbacks:
                        callback(EpochRecord(epoch, record, state.best_metric, state.best_epoch))
                except StopTraining:
                    break  # a callback ended training: the best epoch so far is kept, as at patience
                if validating and self.monitor is not None and state.waited >= self.monitor.patience:
                    break
        return self._result(objective, state)

    def _epoch(self, objective: Objective, epoch: int, bar: _Progress) -> tuple[float, int]:
        """One epoch's steps; its mean training loss and the examples seen. Its randomness derives
        from (seed, rank, epoch), so a resumed run draws what an uninterrupted one would."""
        rng = np.random.default_rng([self.seed, self.world.rank, epoch])
        self._reseed(int(np.random.default_rng([self.seed, self.world.rank, epoch, 1]).integers(2**62)))
        bfloat16 = self.options.precision == "bfloat16"
        total_loss, seen = 0.0, 0
        for batch in objective.batches(epoch, rng):
            with torch.autocast(self.device.type, torch.bfloat16, enabled=bfloat16):
                loss, examples = objective.loss(batch)
            for optimizer in objective.optimizers:
                optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for optimizer in objective.optimizers:
                optimizer.step()
            if objective.after_step is not None:
                objective.after_step()
            total_loss += float(loss.detach()) * examples
            seen += examples
            bar.advance(f"epoch {epoch} loss {total_loss / max(seen, 1):.4f}")
        if not math.isfinite(total_loss):
            raise TrainingDivergedError(
                f"{self.name} diverged at epoch {epoch}: the training loss is {total_loss}; use a smaller learning rate"
            )
        return total_loss / max(seen, 1), seen

    def _validate(self, objective: Objective, state: TrainingState, record: dict[str, Any], bar: _Progress) -> None:
        """Validation metrics into `record` (computed on rank 0, broadcast), and the best epoch kept."""
        assert objective.validate is not None and self.monitor is not None
        monitor = self.monitor
        metrics = dict(objective.validate()) if self.world.is_main else {}
        value = self.world.broadcast(float(metrics.get(monitor.metric, 0.0)))
        metrics[monitor.metric] = value
        record.update({f"val_{k}": float(v) for k, v in metrics.items()})
        bar.note(f"epoch {record['epoch']}: loss {record['loss']:.4f}, val {monitor.metric} {value:.4f}")
        if state.best_metric is None or monitor.improved(value, state.best_metric):
            state.best_metric, state.best_epoch, state.waited = value, record["epoch"], 0
            state.best_state = copy.deepcopy(objective.module.state_dict())
            record["best"] = True
        else:
            state.waited += 1

    def _checkpoint(self, objective: Objective, state: TrainingState) -> None:
        """Rank 0 writes the epoch's checkpoint, when asked; no rank runs ahead of it."""
        if self.options.checkpoint_dir is not None and self.world.is_main:
            save_checkpoint(
                self.options.checkpoint_dir,
                self.fingerprint,
                objective.module,
                objective.optimizers,
                objective.schedulers,
                state,
            )
        self.world.barrier()

    def _result(self, objective: Objective, state: TrainingState) -> TrainingResult:
        """The best epoch's weights back in the module (the last epoch's without validation)."""
        if state.best_state is not None:
            objective.module.load_state_dict(state.best_state)
            best_epoch = state.best_epoch
        else:
            best_epoch = len(state.history)
        objective.module.eval()
        seconds = state.history[best_epoch - 1]["seconds"] if state.history and best_epoch else 0.0
        return TrainingResult(state.history, best_epoch, state.best_metric, seconds)

    def _reseed(self, seed: int) -> None:
        # the CPU generator directly: torch.manual_seed also queues a lazy CUDA seeding that records a
        # traceback each time (~85 µs), which full-batch objectives with many short epochs would feel
        torch.default_generator.manual_seed(seed)
        if self.device.type == "cuda":
            torch.cuda.manual_seed_all(seed)

    def to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        """`tensor` on the training device (through pinned memory on CUDA)."""
        return to_device(tensor, self.device)


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`tensor` on `device`, through pinned memory (and without blocking) on CUDA."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


class _Progress:
    """A rich progress bar with the running loss, or nothing when disabled."""

    def __init__(self, enabled: bool, total: int | None, name: str) -> None:
        self.enabled = enabled
        self.total = total
        self.name = name

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            # the time left assumes every epoch runs: early stopping can only end it sooner
            self._bar = Progress(
                TextColumn(f"[bold]{self.name}[/bold] {{task.description}}"),
                BarColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
            )
            self._bar.start()
            self._task = self._bar.add_task("", total=self.total)
        return self

    def advance(self, description: str) -> None:
        if self.enabled:
            self._bar.update(self._task, advance=1, description=description)

    def note(self, text: str) -> None:
        if self.enabled:
            self._bar.console.print(text)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            if self.total is not None:
                self._bar.update(self._task, completed=self.total)
            self._bar.stop()


# -- checkpoints --------------------------------------------------------------------------------
def save_checkpoint(
    path: str | os.PathLike,
    fingerprint: Mapping[str, Any],
    module: nn.Module,
    optimizers: Sequence[torch.optim.Optimizer],
    schedulers: Sequence[Any],
    state: TrainingState,
) -> None:
    """Write the checkpoint directory `path` atomically: tensors in safetensors, the rest JSON."""
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
        "best_metric": state.best_metric,
        "best_epoch": state.best_epoch,
        "waited": state.waited,
        "param_groups": groups,
        "schedulers": [s.state_dict() for s in schedulers],
    }
    with atomic_directory(path) as staging:
        save_file(tensors, staging / "checkpoint.safetensors")
        write_json_atomic(staging / "checkpoint.json", meta)


def load_checkpoint(
    path: str | os.PathLike,
    fingerprint: Mapping[str, Any],
    module: nn.Module,
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
    current = json.loads(json.dumps(dict(fingerprint), default=str))
    if meta["fingerprint"] != current:
        changed = sorted(
            k for k in meta["fingerprint"].keys() | current.keys() if meta["fingerprint"].get(k) != current.get(k)
        )
        raise ParameterError(
            f"the checkpoint in {path} was written by a different run (differs in {', '.join(changed) or 'keys'}); "
            "use another checkpoint directory or the same configuration and data"
        )
    device = next(iter(module.state_dict().values())).device
    module.load_state_dict({k[6:]: v.to(device) for k, v in tensors.items() if k.startswith("model.")})
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
    best = {k[5:]: v.to(device) for k, v in tensors.items() if k.startswith("best.")}
    return TrainingState(
        epoch=meta["epoch"],
        history=meta["history"],
        best_metric=meta["best_metric"],
        best_epoch=meta["best_epoch"],
        waited=meta["waited"],
        best_state=best or None,
    )
