"""End-to-end jobs shared by the CLI, the benchmarks and the tests: train, evaluate, demo.

A training run records everything needed to repeat it (data spec, split, seed, hyper-parameters)
in the model's manifest; :func:`train_run` accepts that record back (``whyrec train --config``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from whyrec._io import write_json_atomic, write_text_atomic
from whyrec.data.spec import load_spec
from whyrec.data.splits import Split, split
from whyrec.errors import ModelFormatError, ParameterError
from whyrec.evaluate.metrics import evaluate, evaluate_curve
from whyrec.models.base import Recommender, load_model, load_split, read_manifest
from whyrec.models.baselines import Popularity
from whyrec.models.reconet import RecoNet


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "attributes": self.attributes,
            "split": self.split,
            "fractions": list(self.fractions),
            "cold_start": self.cold_start,
            "seed": self.seed,
            "params": dict(self.params or {}),
        }

    @classmethod
    def from_manifest(cls, path: str | os.PathLike) -> RunConfig:
        """The run config saved in a model directory (or in its whyrec.json)."""
        path = Path(path)
        manifest = read_manifest(path.parent if path.name == "whyrec.json" else path)
        run = manifest.get("info", {}).get("run")
        if not run:
            raise ModelFormatError(f"{path} has no saved run configuration")
        params = dict(manifest["params"])
        params.update(run.get("params") or {})
        return cls(
            data=run["data"],
            attributes=run["attributes"],
            split=run["split"],
            fractions=tuple(run["fractions"]),
            cold_start=run["cold_start"],
            seed=run["seed"],
            params=params,
        )


def prepare(config: RunConfig) -> Split:
    """Load the data a run names and split it."""
    dataset = load_spec(config.data, attributes=config.attributes, seed=config.seed)
    return split(dataset, config.split, fractions=config.fractions, cold_start=config.cold_start, seed=config.seed)


def train_run(
    config: RunConfig, out: str | os.PathLike | None = None, *, progress: bool = False
) -> tuple[RecoNet, Split]:
    """Train RecoNet as `config` says; save it (with its split and config) to `out` if given."""
    data_split = prepare(config)
    params = dict(config.params or {})
    params.setdefault("seed", config.seed)
    params["use_attributes"] = config.attributes
    params["progress"] = progress
    try:
        model = RecoNet(**params)
    except TypeError as exc:
        raise ParameterError(f"unknown RecoNet parameter: {exc}") from None
    model.fit(data_split.train, data_split.validation)
    if not is_main_process():  # distributed: rank 0 evaluates and saves
        return model, data_split, {}
    metrics = evaluate_model(model, data_split)
    if out is not None:
        summary = {k: v for k, v in metrics.items() if k != "cold_start"}
        if "cold_start" in metrics:
            summary["cold_start"] = {k: v for k, v in metrics["cold_start"].items() if k != "recall_curve"}
        model.save(out, split=data_split, info={**run_info(config, model), "test_metrics": summary})
    return model, data_split, metrics


def is_main_process() -> bool:
    """False on the ranks other than 0 of a torch.distributed job."""
    import torch.distributed as dist

    return not dist.is_initialized() or dist.get_rank() == 0


def run_info(config: RunConfig, model: Recommender) -> dict[str, Any]:
    """Manifest metadata that lets ``whyrec train --config`` repeat the run."""
    params = {k: v for k, v in model.get_params().items() if k != "progress"}
    return {"run": dict(config.to_dict(), params=params), "data": config.data, "command": _command()}


def evaluate_model(model: Recommender, data_split: Split, *, k: tuple[int, ...] = (20, 50)) -> dict[str, Any]:
    """Test metrics of `model` on the split (known train + validation positives excluded)."""
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
    """Evaluate a saved model on the test split saved with it."""
    model = load_model(path)
    return evaluate_model(model, load_split(path), k=k)


def demo(
    out: str | os.PathLike = "runs/demo",
    *,
    seed: int = 0,
    n_users: int = 3000,
    n_items: int = 600,
    progress: bool = True,
    console: Any = None,
) -> dict[str, Any]:
    """The main job on built-in synthetic data: train, evaluate, explain, save."""
    from rich.console import Console
    from rich.table import Table

    from whyrec.data.synthetic import synthetic
    from whyrec.evaluate.ground_truth import planted_driver_recovery

    console = console or Console()
    out = Path(out)
    console.rule("[bold]whyrec demo")
    data = synthetic(n_users=n_users, n_items=n_items, seed=seed)
    spec = f"synthetic:n_users={n_users},n_items={n_items},seed={seed}"
    config = RunConfig(data=spec, seed=seed, cold_start=0.1)
    data_split = split(data.dataset, "random", cold_start=0.1, seed=seed)
    d = data.dataset.describe()
    console.print(
        f"Synthetic shop: {d['n_users']} users, {d['n_items']} items, {d['n_interactions']} interactions, "
        f"{d['n_tokens']} tokens; split 60/20/20 with {len(data_split.cold_users)} cold-start test users."
    )
    model = RecoNet(seed=seed, progress=progress).fit(data_split.train, data_split.validation)
    popularity = Popularity().fit(data_split.train)
    results = {"RecoNet": evaluate_model(model, data_split), "Popularity": evaluate_model(popularity, data_split)}

    table = Table(title="Test metrics (known positives excluded)")
    for column in ("model", "recall@20", "recall@50", "ndcg@50", "cold-start recall@50"):
        table.add_column(column, justify="right" if column != "model" else "left")
    for name, m in results.items():
        table.add_row(
            name,
            f"{m['recall@20']:.4f}",
            f"{m['recall@50']:.4f}",
            f"{m['ndcg@50']:.4f}",
            f"{m['cold_start']['recall@50']:.4f}",
        )
    console.print(table)

    # does LRP find the planted driver? (ground truth known only for synthetic data)
    fs = data.dataset.feature_space
    recovery = planted_driver_recovery(model, data, np.unique(data_split.test.users)[:1000])
    driver_share, n_with_driver = recovery["share"], recovery["pairs_with_driver"]
    console.print(
        f"LRP ranks the planted driver in its top 3 for {driver_share:.1%} of {n_with_driver} "
        "recommended (user, item) pairs that have one."
    )

    lines = []
    for user in fs.user_ids[:3]:
        recommendations = model.recommend(user, k=5)
        explained = model.explain([user] * 5, list(recommendations.item_ids.ravel()))
        attrs = [
            fs.token_names[t].removeprefix("user.") for t in model.user_attributes_[fs.user_index(user)[0]].indices
        ]
        console.rule(f"user {user} ({', '.join(attrs)})")
        lines.append(f"### User {user} ({', '.join(attrs)})\n")
        for rank, e in enumerate(explained, start=1):
            reasons = "; ".join(f"{r.words()} ({r.relevance:+.3f})" for r in e.top(5))
            console.print(f"[bold]{rank}. {e.item_name}[/bold] (score {e.score:.2f})\n   because {reasons}")
            lines.append(f"{rank}. **{e.item_name}** (score {e.score:.2f}): {reasons}")
        lines.append("")

    test_metrics = {k: v for k, v in results["RecoNet"].items() if k != "cold_start"}
    model.save(out / "model", split=data_split, info={**run_info(config, model), "test_metrics": test_metrics})
    metrics = {
        "data": spec,
        "seed": seed,
        "models": {
            name: {k: v for k, v in m.items() if k != "cold_start"}
            | {"cold_start_recall@50": m["cold_start"]["recall@50"]}
            for name, m in results.items()
        },
        "lrp_planted_driver_top3": driver_share,
        "pairs_with_driver": n_with_driver,
        "lrp_planted_driver_top3_by_driver": recovery["by_driver"],
        "best_epoch": model.best_epoch_,
        "seconds_to_best_epoch": model.time_to_best_,
    }
    write_json_atomic(out / "metrics.json", metrics)
    summary = [
        "# whyrec demo",
        "",
        f"Data: `{spec}`; random 60/20/20 split, 10% of test users cold-start; seed {seed}.",
        "",
        "| model | recall@20 | recall@50 | ndcg@50 | cold-start recall@50 |",
        "|---|---|---|---|---|",
        *(
            f"| {n} | {m['recall@20']:.4f} | {m['recall@50']:.4f} | {m['ndcg@50']:.4f} "
            f"| {m['cold_start']['recall@50']:.4f} |"
            for n, m in results.items()
        ),
        "",
        f"LRP ranks the planted driver among its top-3 tokens for {driver_share:.1%} of "
        f"{n_with_driver} recommended pairs that have one.",
        "",
        "## Recommendations with reasons",
        "",
        *lines,
    ]
    write_text_atomic(out / "summary.md", "\n".join(summary) + "\n")
    console.print(f"\nSaved the model, metrics.json and summary.md in {out}/")
    return metrics


def _command() -> str:
    return " ".join(["whyrec", *sys.argv[1:]]) if sys.argv and sys.argv[0].endswith("whyrec") else "python API"


def dumps(payload: Any) -> str:
    """JSON text for CLI output."""
    return json.dumps(payload, indent=2, default=lambda v: v.item() if hasattr(v, "item") else str(v))
