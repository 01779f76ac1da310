"""Training runs shared by the CLI, the benchmarks and the tests: train, evaluate, retrain.

A training run records everything needed to repeat it (data spec, split, seed, hyper-parameters)
in the model's manifest; :func:`train_run` accepts that record back (``whyrec train --config``).
Runtime options (progress, device, checkpoints) are not part of the record: they never change
what is learned.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from whyrec._artifact import decode_params, encode_params, read_manifest
from whyrec.data.dataset import Dataset
from whyrec.data.events import EventStore, with_events
from whyrec.data.spec import load_spec
from whyrec.data.splits import Split, split
from whyrec.errors import DataError, ModelFormatError, ParameterError
from whyrec.metrics import evaluate, evaluate_curve
from whyrec.models.base import Estimator
from whyrec.models.blend import Blend
from whyrec.models.recommender import Recommender, load_split
from whyrec.models.reconet import RecoNet
from whyrec.models.training import TrainingOptions


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run."""

    data: str = "synthetic"
    attributes: bool = True
    split: str = "random"
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    cold_start: float = 0.0
    seed: int = 0
    params: Mapping[str, Any] | None = None
    events: str | None = None  # an event store whose events are folded into the data (read when run)
    precision: str = "float32"  # of the training passes (TrainingOptions.precision): it changes the weights
    model: str = "reconet"  # RecoNet, a catalogue name (whyrec.tuning.CANDIDATES) or "blend"

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "attributes": self.attributes,
            "split": self.split,
            "fractions": list(self.fractions),
            "cold_start": self.cold_start,
            "seed": self.seed,
            "params": dict(self.params or {}),
            "events": self.events,
            "precision": self.precision,
            "model": self.model,
        }

    @classmethod
    def from_manifest(cls, path: str | os.PathLike) -> RunConfig:
        """The run config saved in a model directory (or in its whyrec.json)."""
        path = Path(path)
        manifest = read_manifest(path.parent if path.name == "whyrec.json" else path)
        run = manifest.get("info", {}).get("run")
        if not run:
            raise ModelFormatError(f"{path} has no saved run configuration")
        saved = decode_params(manifest["params"]) | decode_params(run.get("params") or {})
        model = run.get("model", "reconet")  # runs saved before model selection trained RecoNet
        # a RecoNet run saved before a parameter existed repeats as it ran
        params = RecoNet.former_defaults | saved if model == "reconet" else saved
        return cls(
            data=run["data"],
            attributes=run["attributes"],
            split=run["split"],
            fractions=tuple(run["fractions"]),
            cold_start=run["cold_start"],
            seed=run["seed"],
            params=params,
            events=run.get("events"),
            precision=run.get("precision", "float32"),  # runs saved before bfloat16 training ran in float32
            model=model,
        )


def prepare(config: RunConfig) -> Split:
    """Load the data a run names and split it."""
    dataset = load_spec(config.data, attributes=config.attributes, seed=config.seed)
    if config.events:
        store = EventStore(config.events)
        try:
            dataset = with_events(dataset, store)
        finally:
            store.close()
    kind: Any = config.split  # checked by split()
    return split(dataset, kind, fractions=config.fractions, cold_start=config.cold_start, seed=config.seed)


def train_run(
    config: RunConfig, out: str | os.PathLike | None = None, *, options: TrainingOptions | None = None
) -> tuple[Recommender, Split, dict[str, Any]]:
    """Train the model `config` names and save it (with its split and config) to `out` if given.

    Returns the model, the split and its test metrics (empty on distributed ranks other than 0).
    """
    data_split = prepare(config)
    options = replace(options or TrainingOptions(), precision=config.precision)  # type: ignore[arg-type]
    model = _model(config, data_split.train)
    takes_options = "options" in inspect.signature(model.fit).parameters
    model.fit(data_split.train, data_split.validation, **({"options": options} if takes_options else {}))
    if not is_main_process():  # distributed: rank 0 evaluates and saves
        return model, data_split, {}
    return model, data_split, _finish(config, model, data_split, out, {})


def select_run(
    config: RunConfig,
    out: str | os.PathLike | None = None,
    *,
    budget: float = 120.0,
    families: list[str] | None = None,
    log: Any = None,
    on_row: Any = None,
) -> tuple[Recommender, Split, dict[str, Any], Any]:
    """Choose the model for `config`'s data within `budget` seconds (:func:`whyrec.tuning.select`),
    and save it like a trained one, its run recording the winner (so `--config` repeats its fit)
    and the leaderboard kept under ``info.selection``. Returns the model, the split, its test
    metrics and the :class:`~whyrec.tuning.select.Selection`."""
    from whyrec.tuning.select import select

    data_split = prepare(config)
    chosen = select(
        data_split.dataset, budget=budget, families=families, seed=config.seed, parts=data_split, log=log, on_row=on_row
    )
    config = replace(config, model=chosen.name, params=chosen.model.get_params())
    extra = {"selection": {**chosen.to_dict(), "budget_seconds": budget}}
    return chosen.model, data_split, _finish(config, chosen.model, data_split, out, extra), chosen


def _model(config: RunConfig, train: Dataset) -> Recommender:
    """The unfitted model a run names."""
    params = dict(config.params or {})
    if config.model == "reconet":
        params.setdefault("seed", config.seed)
        params["use_attributes"] = config.attributes
        try:
            return RecoNet(**params)
        except TypeError as exc:
            raise ParameterError(f"unknown RecoNet parameter: {exc}") from None
    if config.model == "blend":
        return Blend(**params)
    from whyrec.tuning.catalogue import build

    return build(config.model, params, config.seed, train)


def _finish(
    config: RunConfig, model: Recommender, data_split: Split, out: str | os.PathLike | None, extra: dict[str, Any]
) -> dict[str, Any]:
    """Test metrics of a trained run; the model saved with its split and config when `out` is given."""
    metrics = evaluate_model(model, data_split)
    if config.events:
        store = EventStore(config.events)
        metrics["events_folded_in"] = store.count()
        store.close()
    if out is not None:
        summary = {k: v for k, v in metrics.items() if k != "cold_start"}
        if "cold_start" in metrics:
            summary["cold_start"] = {k: v for k, v in metrics["cold_start"].items() if k != "recall_curve"}
        info = {**run_info(config, model), "test_metrics": summary, **extra}
        model.save(out, split=data_split, info=info)
    return metrics


def is_main_process() -> bool:
    """False on the ranks other than 0 of a torch.distributed job."""
    import torch.distributed as dist

    return not dist.is_initialized() or dist.get_rank() == 0


def run_info(config: RunConfig, model: Estimator) -> dict[str, Any]:
    """Manifest metadata that lets ``whyrec train --config`` repeat the run."""
    run = dict(config.to_dict(), params=encode_params(model.get_params()))
    return {"run": run, "data": config.data, "command": _command()}


def evaluate_model(model: Recommender, data_split: Split, *, k: tuple[int, ...] = (20, 50)) -> dict[str, Any]:
    """Test metrics of `model` on the split (known train + validation positives excluded).

    Cut-offs larger than the catalogue are lowered to its size.
    """
    k = tuple(sorted({min(kk, data_split.dataset.n_items) for kk in k}))
    known = data_split.train.matrix() + data_split.validation.matrix()
    test = data_split.test
    warm_users = np.setdiff1d(np.unique(test.users), data_split.cold_users)
    metrics = evaluate(model, test, exclude=known, k=k, users=warm_users)
    if len(data_split.cold_users):
        curve = evaluate_curve(model, test, exclude=known, users=data_split.cold_users, max_k=max(k))
        metrics["cold_start"] = {"n_users": len(data_split.cold_users), "recall_curve": curve.tolist()}
        for kk in k:
            metrics["cold_start"][f"recall@{kk}"] = float(curve[kk - 1])
    return metrics


def evaluate_saved(path: str | os.PathLike, *, k: tuple[int, ...] = (20, 50)) -> dict[str, Any]:
    """Evaluate a saved recommender on the test split saved with it."""
    return evaluate_model(Recommender.load(path), load_split(path), k=k)


def evaluate_on(path: str | os.PathLike, data: str, *, k: tuple[int, ...] = (20, 50)) -> dict[str, Any]:
    """Evaluate a saved recommender on the interactions a data spec names (a later period, say).

    Users and items the model does not know are left out (and counted), and so are the
    interactions it trained on; the model ranks the whole catalogue for every remaining user.
    """
    model = Recommender.load(path)
    fs = model.feature_space_
    fresh = load_spec(data, attributes=False)
    users = fs.lookup("user", [fresh.feature_space.user_ids[u] for u in fresh.users])
    items = fs.lookup("item", [fresh.feature_space.item_ids[i] for i in fresh.items])
    known = (users >= 0) & (items >= 0)
    trained = np.asarray(model.train_matrix_[users[known], items[known]]).ravel() > 0
    keep = np.flatnonzero(known)[~trained]
    if not len(keep):
        raise DataError(f"{data} has no interaction of a user and an item the model knows that it did not train on")
    heldout = Dataset(
        fs,
        users[keep].astype(np.int32),
        items[keep].astype(np.int32),
        model.user_attributes_,
        model.item_attributes_,
        name=fresh.name,
    )
    metrics = evaluate(model, heldout, exclude=model.train_matrix_, k=k)
    metrics["left_out"] = {
        "unknown_user_or_item": int((~known).sum()),
        "seen_in_training": int(trained.sum()),
        "evaluated_interactions": len(keep),
    }
    return metrics


def retrain_for_stability(
    model_dir: str | os.PathLike, runs: int, *, seed: int = 0, resample: float = 0.9
) -> list[Recommender]:
    """The model retrained `runs` times from its saved run: new seeds, resampled training data."""
    try:
        config = RunConfig.from_manifest(model_dir)
    except ModelFormatError as exc:
        raise ModelFormatError(f"stability needs a model saved by `whyrec train` or the demo: {exc}") from None
    parts = prepare(config)
    models: list[Recommender] = []
    for run in range(1, runs + 1):
        rng = np.random.default_rng([seed, run])
        keep = np.sort(rng.choice(parts.train_index, int(resample * len(parts.train_index)), replace=False))
        params = {k: v for k, v in (config.params or {}).items() if k != "seed"}  # a new seed for each run
        rerun = replace(config, params=params, seed=config.seed + run)
        models.append(_model(rerun, parts.train).fit(parts.dataset.subset(keep), parts.validation))
    return models


def _command() -> str:
    return " ".join(["whyrec", *sys.argv[1:]]) if sys.argv and sys.argv[0].endswith("whyrec") else "python API"


def dumps(payload: Any) -> str:
    """JSON text for CLI output."""
    return json.dumps(payload, indent=2, default=lambda v: v.item() if hasattr(v, "item") else str(v))
