"""``whyrec demo``: the main job on built-in synthetic data, from training to reasons."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from whyrec._io import write_json_atomic, write_text_atomic
from whyrec.data.splits import split
from whyrec.data.synthetic import synthetic
from whyrec.evaluate.ground_truth import planted_driver_recovery
from whyrec.explain.base import explain
from whyrec.models.baselines import Popularity
from whyrec.models.reconet import RecoNet
from whyrec.models.training import TrainingOptions
from whyrec.runs import RunConfig, evaluate_model, run_info


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
    options = TrainingOptions(progress=progress)
    model = RecoNet(seed=seed).fit(data_split.train, data_split.validation, options=options)
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
        explained = explain(model, user, list(recommendations.item_ids.ravel()))
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
