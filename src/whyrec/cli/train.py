"""``whyrec train``: the best model for your data within a time budget, or a RecoNet you configure,
saved with its split and config."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from whyrec.cli import _params
from whyrec.cli._common import DATA_HELP, Precision, Quiet, SplitKind, console, with_data_options

# set by the run's own options, not by --param
RESERVED = {"seed": "--seed", "use_attributes": "--attributes/--no-attributes"}
EPILOG = _params.help_text("reconet", skip=tuple(RESERVED))
ParamOption = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", metavar="NAME=VALUE", help="A model parameter (repeatable); the list is below."),
]
ParamsFile = Annotated[
    list[Path] | None,
    typer.Option("--params", metavar="FILE", help="A TOML file of parameters, NAME = VALUE lines (repeatable)."),
]


@with_data_options
def train(
    data: Annotated[str, typer.Option(help=DATA_HELP)] = "synthetic",
    out: Annotated[Path, typer.Option(help="Model directory to write.")] = Path("runs/model"),
    config: Annotated[
        Path | None, typer.Option(help="Repeat a saved run: a model directory or its whyrec.json.")
    ] = None,
    attributes: Annotated[
        bool, typer.Option("--attributes/--no-attributes", help="Use user and item attributes.")
    ] = True,
    split: Annotated[SplitKind, typer.Option(help="How to split the interactions.")] = SplitKind.random,
    cold_start: Annotated[float, typer.Option(help="Share of test users made cold-start.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed for split and training.")] = 0,
    model: Annotated[
        str,
        typer.Option(
            help="auto: choose among every exactly explained family (and their blends) within --budget; "
            "reconet: the RecoNet that --param sets, no search; or one model of `whyrec compare --list`, "
            "searched alone within --budget."
        ),
    ] = "auto",
    budget: Annotated[float, typer.Option(help="Seconds the search may take (--model auto or a named model).")] = 120.0,
    param: ParamOption = None,
    params: ParamsFile = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto.")] = None,
    precision: Annotated[
        Precision | None,
        typer.Option(help="Training passes in float32 or bfloat16 (autocast; faster where the hardware has it)."),
    ] = None,
    checkpoint_dir: Annotated[
        Path | None, typer.Option(help="Checkpoint after every epoch; a rerun with the same settings resumes.")
    ] = None,
    distributed: Annotated[
        bool,
        typer.Option(
            "--distributed",
            help="Data-parallel training; launch with: torchrun --nproc-per-node N -m whyrec train --distributed ...",
        ),
    ] = False,
    events: Annotated[
        str | None,
        typer.Option(help="Fold the events of this store (a SQLite file or postgresql:// URL) into the data."),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Choose the best model for the data within --budget, or train the RecoNet --param sets; save it,
    with its split, config and leaderboard, to OUT.

    The search covers iALS, EASE, item kNN and RecoNet (its fast objective, then its full softmax)
    from known good configurations, and blends of the best. --config repeats a saved run's model
    exactly, without searching again.

    Distributed (DistributedDataParallel; gloo on CPU, NCCL on CUDA): start one process per
    worker with torchrun, as in: torchrun --standalone --nproc-per-node 2 -m whyrec train
    --distributed --data ... --checkpoint-dir ckpt. Rank 0 evaluates, checkpoints and saves.
    """
    import os

    from whyrec.errors import ParameterError

    if distributed and "WORLD_SIZE" not in os.environ:
        raise ParameterError(
            "--distributed needs torchrun to start the workers: torchrun --standalone --nproc-per-node 2 "
            "-m whyrec train --distributed ..."
        )
    overrides = _params.parse("reconet", param, params, reserved=RESERVED)
    if overrides or distributed or checkpoint_dir is not None:
        if model not in ("auto", "reconet"):
            raise ParameterError("--param, --distributed and --checkpoint-dir configure RecoNet: use --model reconet")
        model = "reconet"
    run = _run_config(data, config, attributes, split, cold_start, seed, overrides, events, precision)
    if config is not None or model == "reconet":
        _train(run, out, device, checkpoint_dir, distributed, quiet)
    else:
        _select(run, out, model, budget, quiet)


def _run_config(
    data: str,
    config: Path | None,
    attributes: bool,
    split: SplitKind,
    cold_start: float,
    seed: int,
    overrides: dict[str, Any],
    events: str | None,
    precision: Precision | None,
) -> Any:
    """The run to train: a saved run with this command's parameters laid over it, or a new one."""
    from dataclasses import replace

    from whyrec.runs import RunConfig

    if config is None:
        return RunConfig(
            data=data,
            attributes=attributes,
            split=split.value,
            cold_start=cold_start,
            seed=seed,
            params=overrides,
            events=str(events) if events is not None else None,
            precision=precision.value if precision else RunConfig.precision,
        )
    run = RunConfig.from_manifest(config)
    run = replace(run, params={**(run.params or {}), **overrides})
    if events is not None:
        run = replace(run, events=str(events))
    if precision is not None:
        run = replace(run, precision=precision.value)
    return run


def _train(
    run: Any, out: Path, device: str | None, checkpoint_dir: Path | None, distributed: bool, quiet: bool
) -> None:
    from whyrec.models.training import TrainingOptions
    from whyrec.runs import train_run

    options = TrainingOptions(progress=not quiet, device=device or "cpu", checkpoint_dir=checkpoint_dir)
    model, _, metrics = train_run(run, out, options=options)
    _report(run, model, metrics, out, distributed)


def _select(run: Any, out: Path, model: str, budget: float, quiet: bool) -> None:
    from whyrec.runs import select_run

    families = None if model == "auto" else [model]
    if not quiet:
        console.print(f"Choosing a model within {budget:g} s ({'every family' if families is None else model}):")
    with _clock(not quiet, budget) as (log, on_row):
        chosen, _, metrics, _ = select_run(run, out, budget=budget, families=families, log=log, on_row=on_row)
    if not quiet:
        _print_leaderboard(out)
    _report(run, chosen, metrics, out, False)


@contextlib.contextmanager
def _clock(enabled: bool, budget: float) -> Iterator[tuple[Any, Any]]:
    """A bar over the selection's wall-clock budget, with the time left and the leader so far (its
    description changes as trials end); each trial's line prints above it. When the output is not a
    terminal, rich draws no bar and the trial lines alone report progress."""
    if not enabled:
        yield None, None
        return
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    from whyrec.tuning.select import entry_name

    best: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description}"), _clock_bar(), TimeElapsedColumn(), console=console, transient=True
    ) as bar:
        task = bar.add_task("searching", total=budget)

        def on_row(row: dict[str, Any]) -> None:
            if row.get("validation", -1.0) > best.get("validation", -1.0):
                best.update(validation=row["validation"], name=entry_name(row))
            bar.update(task, description=f"leader {best['name']} {best['validation']:.4f}" if best else "searching")

        yield console.print, on_row


def _clock_bar() -> Any:
    """A bar that fills with wall-clock time against the budget (rich's own bar fills with work
    done, which a time budget does not have), and says the seconds left."""
    from rich.progress import BarColumn
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    class ClockBar(BarColumn):
        def render(self, task: Any) -> Any:
            elapsed = min(task.elapsed or 0.0, task.total)
            grid = Table.grid(padding=(0, 1))
            grid.add_row(
                ProgressBar(total=task.total, completed=elapsed, width=30), f"{task.total - elapsed:.0f} s left"
            )
            return grid

    return ClockBar()


def _print_leaderboard(out: Path) -> None:
    """The best trial of every family, and the blends, from the saved selection."""
    import json

    from rich.table import Table

    from whyrec.tuning.select import entry_name

    selection = json.loads((out / "whyrec.json").read_text())["info"]["selection"]
    best: dict[str, dict] = {}
    for row in selection["leaderboard"]:
        name = entry_name(row)
        if "validation" in row and (name not in best or row["validation"] > best[name]["validation"]):
            best[name] = row
    table = Table(title=f"Validation recall@50 after {selection['seconds']:.0f} s (winner: {selection['winner']})")
    for column in ("model", "validation", "fit s", "trials"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, row in sorted(best.items(), key=lambda kv: -kv[1]["validation"]):
        done = [r for r in selection["leaderboard"] if r.get("state") == "complete" and r["model"] == row["model"]]
        trials = "-" if row["model"] == "blend" else str(len(done))  # a blend is weighed, not searched
        table.add_row(name, f"{row['validation']:.4f}", f"{row['seconds']:.1f}", trials)
    console.print(table)


def _report(run: Any, model: Any, metrics: dict[str, Any], out: Path, distributed: bool) -> None:
    if distributed:
        from whyrec.models.distributed import leave

        leave()  # every rank, once rank 0 has saved
    if not metrics:  # a distributed worker other than rank 0
        return
    cutoff = max((key for key in metrics if key.startswith("recall@")), key=lambda key: int(key.split("@")[1]))
    if run.events:
        console.print(f"Folded {metrics['events_folded_in']} stored events from {run.events} into the training data")
    epoch = getattr(model, "best_epoch_", None)
    trained = f" (best epoch {epoch}, {model.time_to_best_:.1f}s)" if epoch is not None else ""
    console.print(f"Saved {type(model).__name__} to {out}{trained}; test {cutoff} {metrics[cutoff]:.4f}")
