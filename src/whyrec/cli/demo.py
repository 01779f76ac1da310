"""``whyrec demo``: the main job on built-in synthetic data, from training to reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from whyrec.cli._common import console


def demo(
    out: Annotated[Path, typer.Option(help="Where to save the model, metrics.json and summary.md.")] = Path(
        "runs/demo"
    ),
    seed: Annotated[int, typer.Option(help="Seed for data, split and training.")] = 0,
) -> None:
    """Synthetic data -> RecoNet -> metrics against popularity -> recommendations with reasons."""
    from whyrec.jobs.demo import demo as run_demo

    run_demo(out, seed=seed, console=console)
