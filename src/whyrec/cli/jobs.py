"""``whyrec recommend-all`` and ``whyrec explain-all``: every user's top k, as resumable Parquet parts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from whyrec.cli._common import ModelDir, Quiet, console, progress_bar

Workers = Annotated[int | None, typer.Option(help="Number of workers (default: torchrun's WORLD_SIZE or 1).")]
Worker = Annotated[int | None, typer.Option(help="This worker, 0..workers-1 (default: torchrun's RANK or 0).")]
PartSize = Annotated[int, typer.Option(help="Users per Parquet part (the unit of resumption).")]
Items = Annotated[int, typer.Option("-k", "--k", help="Items per user.")]


def recommend_all(
    model: ModelDir,
    out: Annotated[Path, typer.Option(help="Folder of Parquet parts (user, item, rank, score).")],
    k: Items = 10,
    users_per_part: PartSize = 10_000,
    worker: Worker = None,
    workers: Workers = None,
    quiet: Quiet = False,
) -> None:
    """Top-k items of every user, as Parquet parts; rerun to resume, one worker per shard of parts."""
    _batch_job("recommend", model, out, k, 0, users_per_part, worker, workers, quiet)


def explain_all(
    model: ModelDir,
    out: Annotated[Path, typer.Option(help="Folder of Parquet parts (user, item, rank, score, reasons).")],
    k: Items = 10,
    reasons: Annotated[int, typer.Option(help="Top reasons kept per recommendation.")] = 3,
    users_per_part: PartSize = 10_000,
    worker: Worker = None,
    workers: Workers = None,
    quiet: Quiet = False,
    counterfactual: Annotated[
        bool, typer.Option("--counterfactual", help="Add each item's verified counterfactual set in the top k.")
    ] = False,
) -> None:
    """Top-k items of every user with their top reasons (the model's exact method), as resumable Parquet parts."""
    _batch_job("explain", model, out, k, reasons, users_per_part, worker, workers, quiet, counterfactual)


def _batch_job(
    kind: str,
    model: Path,
    out: Path,
    k: int,
    reasons: int,
    users_per_part: int,
    worker: int | None,
    workers: int | None,
    quiet: bool,
    counterfactual: bool = False,
) -> None:
    from whyrec.jobs.batch import run_job
    from whyrec.models import Recommender

    loaded = Recommender.load(model)
    with progress_bar(not quiet, loaded.feature_space_.n_users, f"{kind}-all") as advance:
        result = run_job(
            loaded,
            model,
            out,
            kind=kind,
            k=k,
            reasons=reasons,
            users_per_part=users_per_part,
            worker=worker,
            n_workers=workers,
            progress=advance,
            counterfactual=counterfactual,
        )
    rate = f"{result['rows_per_second']:,.0f} rows/s" if result["rows_per_second"] else "nothing left to do"
    console.print(
        f"worker {result['worker']}/{result['n_workers']}: wrote {result['parts_written']} part(s), "
        f"skipped {result['parts_skipped']} already done ({rate}); job complete: {result['complete']}",
        soft_wrap=True,
    )
