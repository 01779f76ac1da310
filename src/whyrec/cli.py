"""whyrec's command line: demo, train, evaluate, recommend, explain.

Every user error ends in a one-line message on stderr and exit status 2; never a stack trace.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from whyrec.errors import WhyrecError
from whyrec.explain.base import method_enum
from whyrec.models.training import PRECISIONS

if TYPE_CHECKING:
    from whyrec.data.ctr import CTRSplit
    from whyrec.models.ctr import CTRModel

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Recommenders that explain themselves: train RecoNet, recommend, and say why.",
)
console = Console()


DATA_HELP = (
    "synthetic | movielens:PATH | csv:INTERACTIONS[,USERS,ITEMS] | shards:FOLDER[,USERS,ITEMS]; reading options "
    "go after '?' (csv:r.csv?user=userId&min_rating=3) or in the flags below"
)
# one definition for `whyrec tune` and `whyrec benchmark accuracy`
SamplerOption = Annotated[
    str,
    typer.Option(
        help="Optuna's TPE over one parameter at a time (tpe) or jointly (tpe_multivariate), or Gaussian-process "
        "Bayesian optimisation (gp)."
    ),
]
GrowOption = Annotated[
    int,
    typer.Option(
        help="Growth trials after the sampler's: each doubles the best configuration's capacity (factors, dim) "
        "until a doubling stops helping; the slots left go to the sampler, so every model gets the same number.",
    ),
]


class SplitKind(StrEnum):
    random = "random"
    user = "user"
    temporal = "temporal"


Precision = StrEnum("Precision", {p: p for p in PRECISIONS})  # type: ignore[misc]  # the trainer's precisions


Method = method_enum()  # every registered explanation method, as the option's choices
MethodOption = Annotated[
    Method | None,  # type: ignore[valid-type]
    typer.Option(help="Attribution method (default: the model's exact one, lrp for RecoNet).", show_choices=True),
]
ModelDir = Annotated[Path, typer.Option("--model", "-m", help="A model directory written by `whyrec train`.")]
_READING = "Reading the data (written into the data spec after '?')"
_DATA_OPTIONS = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[kind, option])
    for name, kind, option in [
        ("user_col", str | None, typer.Option(help="Column of user IDs (default 'user').", rich_help_panel=_READING)),
        ("item_col", str | None, typer.Option(help="Column of item IDs (default 'item').", rich_help_panel=_READING)),
        ("rating_col", str | None, typer.Option(help="Column of ratings (default 'rating').",
                                                rich_help_panel=_READING)),
        ("timestamp_col", str | None, typer.Option(help="Column of event times (default 'timestamp').",
                                                   rich_help_panel=_READING)),
        ("min_rating", float | None, typer.Option(help="Keep ratings at or above this as positives.",
                                                  rich_help_panel=_READING)),
        ("multi_valued", list[str] | None, typer.Option(help="FIELD=SEP: an attribute column of several values "
                                                        "(repeatable), e.g. genres=|.", rich_help_panel=_READING)),
        ("sep", str | None, typer.Option(help="CSV separator: , ; | or tab.", rich_help_panel=_READING)),
        ("on_duplicate", str | None, typer.Option(help="A repeated (user, item): error, drop (keep the first) or "
                                                  "count (one weighted interaction).", rich_help_panel=_READING)),
    ]
]  # fmt: skip


def _with_data_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add the reading options to a command with a `data` spec; they are written into the spec."""
    signature = inspect.signature(command, eval_str=True)

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        values = {p.name: kwargs.pop(p.name) for p in _DATA_OPTIONS}
        if any(v is not None for v in values.values()):
            if kwargs.get("data") is None:
                from whyrec.errors import ParameterError

                raise ParameterError("the reading options (--user-col, --min-rating, ...) need --data")
            kwargs["data"] = _spec(kwargs["data"], **values)
        command(**kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *_DATA_OPTIONS])  # type: ignore[attr-defined]
    return wrapper


def _spec(data: str, *, multi_valued: list[str] | None, sep: str | None, **columns: Any) -> str:
    """`data` with the command line's reading options written into its query."""
    from whyrec.data.options import separator_of, split_spec, with_options
    from whyrec.errors import ParameterError

    multi = {}
    for entry in multi_valued or []:
        name, equals, separator = entry.partition("=")
        if not equals or not name:
            raise ParameterError(f"--multi-valued takes FIELD=SEP (as genres=|), not {entry!r}")
        multi[name] = separator_of(separator)
    base, options = split_spec(data)
    options = options.merged(**columns, sep=separator_of(sep) if sep else None, multi_valued=multi)
    return with_options(base, options)


AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where to save the model, metrics.json and summary.md.")] = Path(
        "runs/demo"
    ),
    seed: Annotated[int, typer.Option(help="Seed for data, split and training.")] = 0,
) -> None:
    """Synthetic data -> RecoNet -> metrics against popularity -> recommendations with reasons."""
    from whyrec.studies.demo import demo as run_demo

    run_demo(out, seed=seed, console=console)


@app.command()
@_with_data_options
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
    dim: Annotated[int | None, typer.Option(help="Embedding size.")] = None,
    hidden: Annotated[str | None, typer.Option(help="Hidden layer widths, e.g. '256' or '256,128'.")] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate.")] = None,
    lr_decay: Annotated[float | None, typer.Option(help="Per-epoch learning-rate factor.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Examples per batch (users with --sampling masked).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs.")] = None,
    sampling: Annotated[
        str | None,
        typer.Option(
            help="Training examples: removal (one per interaction, the paper's) or masked (one softmax per user "
            "predicts its masked items; faster)."
        ),
    ] = None,
    mask_rate: Annotated[float | None, typer.Option(help="--sampling masked: share of history items masked.")] = None,
    beta: Annotated[float | None, typer.Option(help="Removal exponent β of the sampler.")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="Adam weight decay.")] = None,
    patience: Annotated[int | None, typer.Option(help="Epochs without improvement before stopping.")] = None,
    loss: Annotated[str | None, typer.Option(help="softmax (full) or sampled (large catalogues).")] = None,
    negatives: Annotated[int | None, typer.Option(help="Sampled softmax: negatives per batch.")] = None,
    proposal: Annotated[str | None, typer.Option(help="Sampled softmax: log_uniform or popularity.")] = None,
    sparse_gradients: Annotated[
        bool | None,
        typer.Option(
            "--sparse-gradients/--dense-gradients",
            help="Sampled softmax: update only the rows a batch touches (large catalogues) or all (faster on small).",
        ),
    ] = None,
    cold_rate: Annotated[float | None, typer.Option(help="Share of attribute-only training examples.")] = None,
    attribute_output: Annotated[
        bool | None,
        typer.Option(
            "--attribute-output/--paper-output",
            help="Output layer: an item's vector plus its attributes' (attribute-aware; the default) "
            "or its own only (the paper's).",
        ),
    ] = None,
    pooling: Annotated[
        str | None,
        typer.Option(
            help="User vector: mean (one mean over the bag, the paper's) or by_kind (history mean + attribute mean)."
        ),
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto.")] = None,
    precision: Annotated[
        Precision | None,
        typer.Option(help="Training passes in float32 or bfloat16 (autocast; about twice as fast where supported)."),
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
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Train RecoNet and save it, with its split and config, to OUT.

    Distributed (DistributedDataParallel; gloo on CPU, NCCL on CUDA): start one process per
    worker with torchrun, e.g. ``torchrun --standalone --nproc-per-node 2 -m whyrec train
    --distributed --data ... --checkpoint-dir ckpt``. Rank 0 evaluates, checkpoints and saves.
    """
    import os

    from whyrec.errors import ParameterError
    from whyrec.models.training import TrainingOptions
    from whyrec.studies.runs import RunConfig, train_run

    if distributed and "WORLD_SIZE" not in os.environ:
        raise ParameterError(
            "--distributed needs torchrun to start the workers: torchrun --standalone --nproc-per-node 2 "
            "-m whyrec train --distributed ..."
        )
    overrides: dict[str, Any] = {
        "dim": dim, "lr": lr, "lr_decay": lr_decay, "batch_size": batch_size, "epochs": epochs,
        "sampling": sampling, "mask_rate": mask_rate, "beta": beta, "weight_decay": weight_decay,
        "patience": patience, "loss": loss, "negatives": negatives,
        "proposal": proposal, "sparse_gradients": sparse_gradients, "cold_rate": cold_rate,
        "attribute_output": attribute_output, "pooling": pooling,
    }  # fmt: skip
    if hidden is not None:
        overrides["hidden"] = _widths(hidden)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if config is not None:
        run = RunConfig.from_manifest(config)
        run = RunConfig(**{**run.__dict__, "params": {**(run.params or {}), **overrides}})
        if events is not None:
            run = RunConfig(**{**run.__dict__, "events": str(events)})
        if precision is not None:
            run = RunConfig(**{**run.__dict__, "precision": precision.value})
    else:
        run = RunConfig(
            data=data, attributes=attributes, split=split.value, cold_start=cold_start, seed=seed, params=overrides,
            events=str(events) if events is not None else None,
            precision=precision.value if precision else RunConfig.precision,
        )  # fmt: skip
    options = TrainingOptions(progress=not quiet, device=device or "cpu", checkpoint_dir=checkpoint_dir)
    model, _, metrics = train_run(run, out, options=options)
    if distributed:
        from whyrec.models.distributed import leave

        leave()  # every rank, once rank 0 has saved
    if not metrics:  # a distributed worker other than rank 0
        return
    cutoff = max((key for key in metrics if key.startswith("recall@")), key=lambda key: int(key.split("@")[1]))
    if run.events:
        console.print(f"Folded {metrics['events_folded_in']} stored events from {run.events} into the training data")
    console.print(
        f"Saved RecoNet to {out} (best epoch {model.best_epoch_}, {model.time_to_best_:.1f}s); "
        f"test {cutoff} {metrics[cutoff]:.4f}"
    )


@app.command()
@_with_data_options
def evaluate(
    model: ModelDir,
    k: Annotated[list[int], typer.Option("--k", help="Cut-offs (repeatable).")] = [20, 50],  # noqa: B006
    data: Annotated[
        str | None, typer.Option(help="Evaluate on these interactions instead of the saved test split: " + DATA_HELP)
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Ranking metrics of a saved model: on the test split saved with it, or on other interactions
    (`--data`, for example the next period's; users and items the model does not know are left out,
    and so are the interactions it trained on)."""
    from whyrec.studies.runs import dumps, evaluate_on, evaluate_saved

    metrics = evaluate_saved(model, k=tuple(k)) if data is None else evaluate_on(model, data, k=tuple(k))
    if as_json:
        typer.echo(dumps(metrics))
        return
    from rich.table import Table

    table = Table(title=f"Test metrics of {model} ({metrics['n_users']} users)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
    if "cold_start" in metrics:
        for kk in k:
            table.add_row(f"cold-start recall@{kk}", f"{metrics['cold_start'][f'recall@{kk}']:.4f}")
    console.print(table)


@app.command()
def recommend(
    model: ModelDir,
    user: Annotated[str, typer.Option(help="External user ID.")],
    k: Annotated[int, typer.Option("-k", "--k", help="Number of items.")] = 10,
    as_json: AsJson = False,
) -> None:
    """Top-k items for a known user, best first."""
    from whyrec.models import Recommender
    from whyrec.studies.runs import dumps

    loaded = Recommender.load(model)
    recs = loaded.recommend(user, k=k)
    names = loaded.feature_space_.item_names
    rows = [
        {"rank": r + 1, "item_id": item_id, "item": names[index], "score": float(score)}
        for r, (item_id, index, score) in enumerate(zip(recs.item_ids[0], recs.items[0], recs.scores[0], strict=True))
    ]
    if as_json:
        typer.echo(dumps({"user": user, "recommendations": rows}))
        return
    for row in rows:
        console.print(f"{row['rank']:>3}. {row['item']} [dim](id {row['item_id']}, score {row['score']:.3f})[/dim]")


def _batch_job(kind: str, model: Path, out: Path, k: int, reasons: int, users_per_part: int,
               worker: int | None, workers: int | None, quiet: bool, counterfactual: bool = False) -> None:  # fmt: skip
    from whyrec.models import Recommender
    from whyrec.studies.batch import run_job

    loaded = Recommender.load(model)
    with _bar(not quiet, loaded.feature_space_.n_users, f"{kind}-all") as advance:
        result = run_job(
            loaded, model, out, kind=kind, k=k, reasons=reasons, users_per_part=users_per_part,
            worker=worker, n_workers=workers, progress=advance, counterfactual=counterfactual,
        )  # fmt: skip
    rate = f"{result['rows_per_second']:,.0f} rows/s" if result["rows_per_second"] else "nothing left to do"
    console.print(
        f"worker {result['worker']}/{result['n_workers']}: wrote {result['parts_written']} part(s), "
        f"skipped {result['parts_skipped']} already done ({rate}); job complete: {result['complete']}",
        soft_wrap=True,
    )


Workers = Annotated[int | None, typer.Option(help="Number of workers (default: torchrun's WORLD_SIZE or 1).")]
Worker = Annotated[int | None, typer.Option(help="This worker, 0..workers-1 (default: torchrun's RANK or 0).")]
PartSize = Annotated[int, typer.Option(help="Users per Parquet part (the unit of resumption).")]


@app.command("recommend-all")
def recommend_all(
    model: ModelDir,
    out: Annotated[Path, typer.Option(help="Folder of Parquet parts (user, item, rank, score).")],
    k: Annotated[int, typer.Option("-k", "--k", help="Items per user.")] = 10,
    users_per_part: PartSize = 10_000,
    worker: Worker = None,
    workers: Workers = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Top-k items of every user, as Parquet parts; rerun to resume, one worker per shard of parts."""
    _batch_job("recommend", model, out, k, 0, users_per_part, worker, workers, quiet)


@app.command("explain-all")
def explain_all(
    model: ModelDir,
    out: Annotated[Path, typer.Option(help="Folder of Parquet parts (user, item, rank, score, reasons).")],
    k: Annotated[int, typer.Option("-k", "--k", help="Items per user.")] = 10,
    reasons: Annotated[int, typer.Option(help="Top reasons kept per recommendation.")] = 3,
    users_per_part: PartSize = 10_000,
    worker: Worker = None,
    workers: Workers = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    counterfactual: Annotated[
        bool, typer.Option("--counterfactual", help="Add each item's verified counterfactual set in the top k.")
    ] = False,
) -> None:
    """Top-k items of every user with their top reasons (ε-LRP), as resumable Parquet parts."""
    _batch_job("explain", model, out, k, reasons, users_per_part, worker, workers, quiet, counterfactual)


@app.command()
def explain(
    model: ModelDir,
    user: Annotated[str, typer.Option(help="External user ID.")],
    item: Annotated[str | None, typer.Option(help="External item ID to explain.")] = None,
    top: Annotated[int, typer.Option(help="Number of reasons to show.")] = 10,
    method: MethodOption = None,
    counterfactual: Annotated[
        bool,
        typer.Option("--counterfactual", help="Also find the smallest set whose removal drops ITEM from the top N."),
    ] = False,
    why_not: Annotated[
        str | None, typer.Option("--why-not", help="Instead explain why this item is not in the top N.")
    ] = None,
    n: Annotated[int, typer.Option("--n", help="The list length N for --counterfactual and --why-not.")] = 10,
    kinds: Annotated[
        str, typer.Option(help="Token kinds a counterfactual may remove / a why-not may add: item,user_attribute.")
    ] = "",
    as_json: AsJson = False,
) -> None:
    """Which profile tokens drove the score of ITEM for USER (signed relevance), and what would change it."""
    import numpy as np

    from whyrec.errors import ParameterError
    from whyrec.explain import explain as explain_pair
    from whyrec.models import Recommender
    from whyrec.studies.runs import dumps

    if top <= 0:
        raise ParameterError(f"--top must be positive, got {top}")
    if (item is None) == (why_not is None):
        raise ParameterError("give exactly one of --item (explain it) and --why-not (explain its absence)")
    if why_not is not None and counterfactual:
        raise ParameterError("--counterfactual speaks about a recommended --item, not --why-not")
    chosen_kinds = tuple(k.strip() for k in kinds.split(",") if k.strip())
    loaded = Recommender.load(model)
    if why_not is not None:
        _why_not(loaded, user, why_not, n, top, method, chosen_kinds or None, as_json)
        return
    assert item is not None
    explanation = explain_pair(loaded, user, item, method=_method(method))[0]
    found = None
    if counterfactual:
        from whyrec.explain import counterfactual as search

        fs = loaded.feature_space_
        bag = loaded.user_profiles(fs.user_index([user]))
        relevance = explanation.relevance_by_token(np.sort(bag.indices))
        found = search(loaded, bag, int(fs.item_index([item])[0]), n=n, relevance=relevance,
                       kinds=chosen_kinds or ("item",))  # fmt: skip
    if as_json:
        extra = {"counterfactual": found.to_dict()} if found is not None else {}
        typer.echo(dumps({"user": user, **explanation.to_dict(top=top), **extra}))
        return
    console.print(
        f"[bold]{explanation.item_name}[/bold] for user {user}: score {explanation.score:.3f} "
        f"(bias {explanation.baseline:+.3f}, method {explanation.method})"
    )
    console.print(explanation.sentence())
    for reason in explanation.top(top):
        colour = "green" if reason.relevance > 0 else "red"
        console.print(f"  [{colour}]{reason.relevance:+.4f}[/{colour}]  {reason.name}")
    if found is not None:
        console.print(_counterfactual_line(found))


def _counterfactual_line(found: Any) -> str:
    if not found.found:
        return f"What would change it: {found.message}."
    names = ", ".join(found.removed)
    instead = f"; {found.replaced_by_name} takes its place" if found.replaced_by_name else ""
    check = "verified by re-scoring" if found.verified else "NOT verified"
    return (
        f"What would change it: without {names}, it would drop from rank {found.rank} to {found.new_rank} "
        f"(out of the top {found.n}){instead} [{check}]."
    )


def _why_not(
    model: Any, user: str, item: str, n: int, top: int, method: str | None, kinds: tuple[str, ...] | None,
    as_json: bool,
) -> None:  # fmt: skip
    from whyrec.explain import why_not
    from whyrec.studies.runs import dumps

    answer = why_not(model, user, item, n=n, top=top, method=_method(method), **({"kinds": kinds} if kinds else {}))
    if as_json:
        typer.echo(dumps({"user": user, **answer.to_dict()}))
        return
    console.print(f"[bold]{answer.item_name}[/bold] for user {user}: rank {answer.rank}, {answer.message}.")
    if answer.recommended:
        return
    console.print(f"Its score {answer.score:.3f} is {answer.nth_score - answer.score:.3f} below the item at rank {n}.")
    for reason in answer.holding_back:
        console.print(f"  [red]{reason.relevance:+.4f}[/red]  {reason.name}")
    if answer.addition is not None:
        check = "verified by re-scoring" if answer.addition["verified"] else "NOT verified"
        console.print(f"Add {answer.addition['token']}: rank {answer.addition['new_rank']} [{check}].")


@app.command()
def serve(
    model: Annotated[
        list[str], typer.Option("--model", "-m", help="A model directory, or NAME=DIR; repeat to serve several.")
    ],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    store: Annotated[
        str | None, typer.Option(help="Event store for POST /events: a SQLite file or a postgresql:// URL.")
    ] = None,
    api_key_file: Annotated[
        Path | None, typer.Option(help="File holding the API key (else WHYREC_API_KEY); user-data endpoints need it.")
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow a non-loopback --host without an API key.")
    ] = False,
    explain_timeout: Annotated[float, typer.Option(help="Seconds a slow explanation may run (then 503).")] = 10.0,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes sharing the store.")] = 1,
    slow_workers: Annotated[
        int, typer.Option(help="Processes per server worker for slow explanation methods (0: threads).")
    ] = 1,
    slow_queue: Annotated[int, typer.Option(help="Slow explanations that may wait before 429.")] = 4,
) -> None:
    """Serve the HTTP API (OpenAPI page at /docs) and the dashboard (at /)."""
    import ipaddress
    import json
    import os
    import tempfile

    import uvicorn

    from whyrec.data.events import EventStore
    from whyrec.errors import ParameterError
    from whyrec.serve.app import CONFIG_ENV, create_app

    models = {}
    for entry in model:
        name, sep, path = entry.partition("=")
        if not sep:
            name, path = Path(entry).name, entry
        models[name] = path
    key = os.environ.get("WHYREC_API_KEY") or None
    if api_key_file is not None:
        if not api_key_file.is_file():
            raise ParameterError(f"API key file {api_key_file} not found")
        key = api_key_file.read_text().strip()
        if not key:
            raise ParameterError(f"API key file {api_key_file} is empty")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and key is None and not insecure:
        raise ParameterError(
            f"refusing to serve on {host} without an API key: give --api-key-file or WHYREC_API_KEY "
            "(or --insecure to serve open)"
        )
    if workers < 1:
        raise ParameterError(f"--workers must be at least 1, got {workers}")
    if store is not None:
        EventStore(store).close()  # a store that cannot be opened stops the start here, in one line
    options: dict[str, Any] = {"store": store, "explain_timeout": explain_timeout, "slow_workers": slow_workers,
                               "slow_queue": slow_queue}  # fmt: skip
    guard = "API key required" if key else "no API key"
    console.print(f"Serving {', '.join(models)} on http://{host}:{port}/ (API reference at /docs; {guard})")
    if workers == 1:
        uvicorn.run(create_app(models, api_key=key, **options), host=host, port=port, log_level="warning")
        return
    create_app(models, api_key=key, **{**options, "slow_workers": 0})  # fail here, once, on a bad model
    os.environ[CONFIG_ENV] = json.dumps({"models": models, **options})
    if key:
        os.environ["WHYREC_API_KEY"] = key
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="whyrec-metrics-"))
    uvicorn.run("whyrec.serve.app:app_from_environment", factory=True, workers=workers, host=host, port=port,
                log_level="warning")  # fmt: skip


@app.command()
def report(
    model: ModelDir,
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("runs/report.html"),
    user: Annotated[list[str] | None, typer.Option(help="Users to show (repeatable); default a random few.")] = None,
    method: MethodOption = None,
) -> None:
    """The dashboard's views (global drivers, recommendations with Sankeys) as one static HTML file."""
    from whyrec.models import Recommender
    from whyrec.viz.report import model_report

    path = model_report(Recommender.load(model), out, users=user or None, method=_method(method))
    console.print(f"Wrote {path}")


@app.command()
def insights(
    model: ModelDir,
    segment_by: Annotated[
        list[str] | None, typer.Option("--segment-by", help="user.FIELD, item.FIELD, activity or cold (repeatable).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for insights.json and insights.html.")] = Path("runs/insights"),
    k: Annotated[int, typer.Option("-k", "--k", help="Recommendations explained per user.")] = 5,
    method: MethodOption = None,
    stability: Annotated[int, typer.Option(help="Retrained runs for the stability check (0: none).")] = 0,
    users: Annotated[int | None, typer.Option(help="Sample this many users (default: all).")] = None,
) -> None:
    """What drives the recommendations overall and per segment, with uncertainty, as HTML + JSON."""
    from whyrec.insights import insights as run_insights
    from whyrec.insights import summary_lines
    from whyrec.models import Recommender
    from whyrec.studies.runs import retrain_for_stability
    from whyrec.viz.insights import write_report

    if k <= 0 or stability < 0:
        from whyrec.errors import ParameterError

        raise ParameterError(f"-k must be positive and --stability non-negative, got {k} and {stability}")
    loaded = Recommender.load(model)
    retrained = retrain_for_stability(model, stability) if stability else ()
    result = run_insights(
        loaded, segment_by=segment_by or (), k=k, method=_method(method), max_users=users, retrained=retrained
    )
    json_path, html_path = write_report(result, out, title=f"whyrec insights: {model}")
    for line in summary_lines(result):
        console.print(line)
    console.print(f"Wrote {json_path} and {html_path}")


benchmark_app = typer.Typer(help="Reproducible studies that write JSON + HTML under benchmarks/results.")
app.add_typer(benchmark_app, name="benchmark")


@benchmark_app.command("explanations")
@_with_data_options
def benchmark_explanations(
    data: Annotated[str, typer.Option(help=DATA_HELP)] = "synthetic",
    out: Annotated[Path, typer.Option(help="Folder for the JSON and HTML results.")] = Path("benchmarks/results"),
    name: Annotated[str | None, typer.Option(help="Name used in the file names (default: from the data).")] = None,
    pairs: Annotated[int, typer.Option(help="(user, top recommendation) pairs explained by every method.")] = 200,
    speed_pairs: Annotated[int, typer.Option(help="Pairs in the batched speed measurement.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed for data, split, training and sampling.")] = 0,
) -> None:
    """Deletion/insertion curves, significance, agreement, ground truth and speed of every method."""
    from whyrec.errors import ParameterError
    from whyrec.studies.explanations import explanation_study

    if pairs < 2 or speed_pairs < 1:
        raise ParameterError(f"--pairs must be at least 2 and --speed-pairs at least 1, got {pairs} and {speed_pairs}")
    results = explanation_study(
        data, out, name=name, n_pairs=pairs, speed_pairs=speed_pairs, seed=seed, log=console.print
    )
    lrp = results["methods"]["lrp"]
    console.print(
        f"LRP deletion area {lrp['deletion']['area']:.3f} vs random {results['random']['deletion']['area']:.3f}; "
        f"top-1 vs random-1 p = {lrp['top1_vs_random1']['p_value']:.2e}; "
        f"LIME/LRP time ratio {results['lime_to_lrp_speed_ratio']:,.0f}"
    )


@benchmark_app.command("attribution-network")
def benchmark_attribution_network(
    task: Annotated[str, typer.Option(help="synthetic | movielens:PATH | frappe:PATH")] = "synthetic",
    out: Annotated[Path, typer.Option(help="Folder for the JSON and HTML results.")] = Path("benchmarks/results"),
    name: Annotated[str | None, typer.Option(help="Name used in the file names (default: from the task).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs (default 80 synthetic, 30 MovieLens).")] = None,
    seed: Annotated[list[int] | None, typer.Option(help="Seed; repeat for several (metrics averaged).")] = None,
) -> None:
    """Attribution networks (tower and masked) against a black-box MLP: accuracy and read-out."""
    from whyrec.studies.attribution import attribution_study

    attribution_study(task, out, name=name, seed=seed or [0], epochs=epochs, log=console.print)


@benchmark_app.command("accuracy")
@_with_data_options
def benchmark_accuracy(
    data: Annotated[str, typer.Option(help=DATA_HELP)] = "synthetic",
    out: Annotated[Path, typer.Option(help="Folder for the JSON, Markdown and HTML results.")] = Path(
        "benchmarks/results"
    ),
    name: Annotated[str | None, typer.Option(help="Name used in the file names (default: from the data).")] = None,
    seeds: Annotated[int, typer.Option(help="Number of seeds (0..N-1): splits and model initialisations.")] = 3,
    trials: Annotated[
        int, typer.Option(help="Optuna trials per model on the validation split (the same for all).")
    ] = 40,
    jobs: Annotated[int, typer.Option(help="Trials run at once (threads).")] = 1,
    storage: Annotated[
        Path | None,
        typer.Option(help="SQLite file keeping the studies: a killed run resumes (default: OUT/tuning_NAME.db)."),
    ] = None,
    models: Annotated[str | None, typer.Option(help="Comma-separated subset of the models (default: all).")] = None,
    sampler: SamplerOption = "tpe",
    grow: GrowOption = 0,
    add: Annotated[
        bool,
        typer.Option(
            "--add",
            help="Add the --models' rows to the existing accuracy_NAME.json (same data, seeds, trials, sampler and "
            "growth), keeping its other rows.",
        ),
    ] = False,
) -> None:
    """The paper's Table 1: every model tuned with the same number of Optuna trials, test recall and NDCG over seeds."""

    from whyrec._io import write_text_atomic
    from whyrec.data.spec import load_spec
    from whyrec.studies.accuracy import accuracy_study, accuracy_table, add_to_study, tuning_figures
    from whyrec.studies.provenance import write_result
    from whyrec.viz.page import write_page

    name = name or data.split(":")[0]
    chosen = [m.strip() for m in models.split(",") if m.strip()] if models else None
    target = out / f"accuracy_{name}.json"
    previous = _stored_study(target, "models", "an accuracy study", chosen) if add else None
    dataset = load_spec(data)
    if storage is None:
        out.mkdir(parents=True, exist_ok=True)  # the default storage lives beside the results
        storage = out / f"tuning_{name}.db"
    results = accuracy_study(dataset, models=chosen, seeds=list(range(seeds)), trials=trials, jobs=jobs,
                             storage=storage, sampler=sampler, grow=grow, log=console.print)  # fmt: skip
    figures = tuning_figures(results)
    results.pop("figures")
    if previous is not None:
        results = add_to_study(previous, results, data)
    # with --add, this run's figures get their own page: the others' studies may not be at hand
    page = out / (f"tuning_{name}_{'_'.join(chosen or [])}.html" if add else f"tuning_{name}.html")
    path = write_result(target, data=data, seed=list(range(seeds)), results=results)
    write_text_atomic(out / f"accuracy_{name}.md", accuracy_table(results))
    budget = f"{trials} Optuna trials per model (seeded {sampler})" + (f" and {grow} growth trials" if grow else "")
    write_page(page, f"Tuning on {name}", figures, notes=[f"{budget}; source {path.name}"])
    console.print(accuracy_table(results))
    console.print(f"Wrote {path}, {out / f'accuracy_{name}.md'} and {page}")


@app.command()
@_with_data_options
def tune(
    data: Annotated[str, typer.Option(help=DATA_HELP)] = "synthetic",
    model: Annotated[
        str, typer.Option(help="The model to tune (see `whyrec benchmark accuracy --help`).")
    ] = "reconet_attributes",
    out: Annotated[Path, typer.Option(help="Where to save the best model.")] = Path("runs/tuned"),
    trials: Annotated[int, typer.Option(help="Optuna trials.")] = 40,
    jobs: Annotated[int, typer.Option(help="Trials run at once (threads).")] = 1,
    storage: Annotated[Path | None, typer.Option(help="SQLite file keeping the study: a killed run resumes.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the split, the sampler and the model.")] = 0,
    sampler: SamplerOption = "tpe",
    grow: GrowOption = 0,
    precision: Annotated[
        Precision | None,
        typer.Option(help="Every trial's training passes, and the best model's, in float32 or bfloat16."),
    ] = None,
) -> None:
    """Tune one model on your data (validation recall@50), then save the best configuration's model."""
    from whyrec.data.spec import load_spec
    from whyrec.data.splits import split
    from whyrec.metrics import evaluate
    from whyrec.models.training import TrainingOptions
    from whyrec.studies.catalogue import build
    from whyrec.studies.tuning import tune as run_tuning

    chosen = precision.value if precision else TrainingOptions.precision
    options = TrainingOptions(precision=chosen)  # type: ignore[arg-type]  # checked by TrainingOptions
    parts = split(load_spec(data, seed=seed), seed=seed)
    tuned = run_tuning(model, parts, trials=trials, seed=seed, storage=storage, jobs=jobs, sampler=sampler,
                       grow=grow, precision=options.precision, log=console.print)  # fmt: skip
    best = build(model, tuned["params"], seed, parts.train).fit(parts.train, parts.validation, options=options)
    known = parts.train.matrix() + parts.validation.matrix()
    metrics = evaluate(best, parts.test, exclude=known, k=(20, 50))
    info = {"data": data, "tuning": {k: v for k, v in tuned.items() if k != "study"}, "test_metrics": metrics}
    best.save(out, info=info)
    edge = f"; at the edge of its range: {', '.join(tuned['boundary'])}" if tuned["boundary"] else ""
    console.print(
        f"Best of {len(tuned['trials'])} trials: {tuned['params']} (validation recall@50 {tuned['validation']:.4f}"
        f"{edge}); test recall@50 {metrics['recall@50']:.4f}. Saved to {out}"
    )


def _stored_study(target: Path, key: str, kind: str, chosen: list[str] | None) -> dict[str, Any]:
    """The stored result JSON that ``--add`` adds `chosen` models to, or a one-line error."""
    import json

    from whyrec.errors import DataError, ParameterError

    if not chosen:
        raise ParameterError("--add needs --models: the models to add")
    if not target.exists():
        raise ParameterError(f"--add: {target} does not exist; run the study without --add first")
    try:
        previous = json.loads(target.read_text())
        previous["results"][key]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"--add: {target} is not {kind}'s result JSON ({exc})") from exc
    return dict(previous)


@benchmark_app.command("coldstart")
@_with_data_options
def benchmark_coldstart(
    data: Annotated[str, typer.Option(help=DATA_HELP)] = "synthetic",
    out: Annotated[Path, typer.Option(help="Folder for the JSON and HTML results.")] = Path("benchmarks/results"),
    name: Annotated[str | None, typer.Option(help="Name used in the file names (default: from the data).")] = None,
    seeds: Annotated[int, typer.Option(help="Number of seeds (0, 1, ...): split, cold users and models.")] = 3,
    models: Annotated[
        str | None, typer.Option(help="Comma-separated cold-start models (default: all that can).")
    ] = None,
    add: Annotated[
        bool,
        typer.Option(
            "--add",
            help="Add the --models' curves to the existing coldstart_NAME.json (same data, seeds and tuned "
            "parameters), keeping its other curves.",
        ),
    ] = False,
) -> None:
    """The paper's Figure 4: recall@k of cold-start users (10% of test users, history removed from training).

    Two protocols: the user's profile is given at serving time (the paper's), or attributes only.
    """
    import json

    from whyrec.data.spec import load_spec
    from whyrec.studies.accuracy import PROTOCOLS, add_to_coldstart, coldstart_figure, coldstart_study
    from whyrec.studies.provenance import write_result
    from whyrec.viz.page import write_page

    name = name or data.split(":")[0]
    tuned = out / f"accuracy_{name}.json"  # reuse the accuracy study's tuned configurations when present
    params = {}
    if tuned.exists():
        params = {k: v["params"] for k, v in json.loads(tuned.read_text())["results"]["models"].items()}
    chosen = [m.strip() for m in models.split(",") if m.strip()] if models else None
    target = out / f"coldstart_{name}.json"
    previous = _stored_study(target, "params", "a cold-start study", chosen) if add else None
    results = coldstart_study(load_spec(data), models=chosen, params=params, seeds=range(seeds))
    results["params_from"] = tuned.name if params else "defaults"
    if previous is not None:
        results = add_to_coldstart(previous, results, data)
    path = write_result(target, data=data, seed=list(range(seeds)), results=results)
    figures = [coldstart_figure(results, protocol) for protocol in PROTOCOLS]
    write_page(out / f"coldstart_{name}.html", f"Cold start on {name}", figures)
    for protocol in PROTOCOLS:
        for model, curve in results[protocol]["curves"].items():
            console.print(f"{protocol:>16} {model:>36}: cold-start recall@50 {curve[-1]:.4f}")
    console.print(f"Wrote {path}")


data_app = typer.Typer(help="Look at a dataset before training on it.")
app.add_typer(data_app, name="data")


@data_app.command("inspect")
@_with_data_options
def data_inspect(
    data: Annotated[str, typer.Argument(help=DATA_HELP)],
    split: Annotated[SplitKind, typer.Option(help="The split to preview.")] = SplitKind.random,
    cold_start: Annotated[float, typer.Option(help="Share of test users made cold-start.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 0,
    html: Annotated[Path | None, typer.Option(help="Also write a self-contained HTML page of charts here.")] = None,
    as_json: AsJson = False,
) -> None:
    """Sizes, activity and popularity, what loading filtered, attribute coverage, and what a split gives."""
    from whyrec.data.inspect import inspect_dataset, summary_lines
    from whyrec.data.spec import load_spec
    from whyrec.studies.runs import dumps

    report = inspect_dataset(load_spec(data, seed=seed), kind=split.value, cold_start=cold_start, seed=seed)
    report["spec"] = data
    if html is not None:
        from whyrec.viz.data import write_data_report

        write_data_report(report, html)
    if as_json:
        typer.echo(dumps(report))
        return
    for line in summary_lines(report):
        console.print(line, soft_wrap=True)
    if html is not None:
        console.print(f"Wrote {html}")


ctr_app = typer.Typer(help="Click-through-rate models: logistic regression, FM, Wide&Deep, DeepFM, DCN, AutoInt.")
app.add_typer(ctr_app, name="ctr")
interactions_app = typer.Typer(help="Feature interactions of CTR models: GLIDER detection and cross-feature encoding.")
app.add_typer(interactions_app, name="interactions")
CtrData = Annotated[
    str, typer.Option(help="synthetic-ctr[:n_rows=N] | criteo:PATH | avazu:PATH | frappe:PATH | movielens-ctr:PATH")
]


@ctr_app.command("train")
def ctr_train(
    data: CtrData = "synthetic-ctr",
    architecture: Annotated[str, typer.Option(help="lr | fm | wide_deep | deepfm | dcn | autoint")] = "deepfm",
    out: Annotated[Path, typer.Option(help="Model directory to write.")] = Path("runs/ctr"),
    seed: Annotated[int, typer.Option(help="Seed for the split, negatives and training.")] = 0,
    min_count: Annotated[int, typer.Option(help="Values seen fewer times in training fold into 'other'.")] = 2,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs (early stopping on validation log loss).")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (default per architecture).")] = None,
    dim: Annotated[int, typer.Option(help="Embedding size.")] = 16,
) -> None:
    """Train a CTR model on an 80/10/10 split; report test AUC and log loss; save it."""
    from whyrec.data.ctr_loaders import ctr_split

    split, _ = ctr_split(data, seed=seed, min_count=min_count)
    overrides = {"seed": seed, "dim": dim, **({"lr": lr} if lr is not None else {})}
    if epochs is not None:
        overrides["epochs"] = epochs
    model = _fit_ctr(architecture, overrides, split, data)
    metrics = model.evaluate(split.test)
    model.save(out, info={"data": data, "split_seed": seed, "min_count": min_count, "test": metrics})
    console.print(
        f"{architecture} on {data}: test AUC {metrics['auc']:.4f}, log loss {metrics['log_loss']:.4f} "
        f"(best epoch {model.best_epoch_}); saved to {out}"
    )


def _fit_ctr(architecture: str, overrides: dict[str, Any], split: CTRSplit, data: str) -> CTRModel:
    from whyrec.models.ctr import CTRModel
    from whyrec.models.training import TrainingOptions
    from whyrec.studies.interactions import model_params

    model = CTRModel(**model_params(architecture, overrides, data=data))
    return model.fit(split.train, split.validation, options=TrainingOptions(progress=True))


def _ctr_model_and_split(
    model_dir: Path, data: str | None
) -> tuple[CTRModel, CTRSplit, list[tuple[str, ...]] | None, str, dict[str, Any]]:
    from whyrec.data.ctr_loaders import ctr_split
    from whyrec.errors import DataError
    from whyrec.models.ctr import CTRModel

    model = CTRModel.load(model_dir)
    info = model.manifest_.get("info", {})
    spec = data or info.get("data")
    if not spec:
        raise DataError(f"{model_dir} does not say which data it was trained on; pass --data")
    split, planted = ctr_split(spec, seed=info.get("split_seed", 0), space=model.feature_space_)
    return model, split, planted, spec, info


@ctr_app.command("evaluate")
def ctr_evaluate(
    model: ModelDir,
    data: Annotated[str | None, typer.Option(help="CTR data spec (default: the model's own).")] = None,
) -> None:
    """Test AUC and log loss of a saved CTR model (unseen values go to their field's 'other')."""
    loaded, split, _, spec, _ = _ctr_model_and_split(model, data)
    metrics = loaded.evaluate(split.test)
    console.print(
        f"{spec}: test AUC {metrics['auc']:.4f}, log loss {metrics['log_loss']:.4f} on {metrics['rows']} rows"
    )


@interactions_app.command("detect")
def interactions_detect(
    model: ModelDir,
    data: Annotated[str | None, typer.Option(help="CTR data spec (default: the model's own).")] = None,
    instances: Annotated[int, typer.Option(help="Test rows explained (GLIDER's N).")] = 1000,
    samples: Annotated[int, typer.Option(help="Perturbations per instance.")] = 600,
    jobs: Annotated[int | None, typer.Option(help="Worker processes (default: all cores).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="JSON file (default MODEL/interactions.json); HTML beside it.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the instances and perturbations.")] = 0,
) -> None:
    """GLIDER: the interactions a CTR model learned, as JSON and a field graph."""
    from rich.progress import Progress

    from whyrec._io import write_json_atomic
    from whyrec.interactions.glider import GliderSettings, glider
    from whyrec.studies.interactions import planted_recovery
    from whyrec.viz.interactions import interaction_bars, interaction_graph
    from whyrec.viz.page import write_page

    loaded, split, planted, spec, info = _ctr_model_and_split(model, data)
    n = min(instances, len(split.test))
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("GLIDER", total=n)
        report = glider(
            loaded.predict_logit, split.test, instances=instances, settings=GliderSettings(samples=samples),
            n_jobs=jobs, seed=seed, progress=lambda done: bar.update(task, completed=done),
        )  # fmt: skip
    payload = {"data": spec, "split_seed": info.get("split_seed", 0), "min_count": info.get("min_count", 2),
               "model": str(model), **report.to_dict()}  # fmt: skip
    if planted:
        payload["planted"] = [list(p) for p in planted]
        payload["recovery"] = planted_recovery(report, planted)
    out = out or model / "interactions.json"
    write_json_atomic(out, payload)
    html = write_page(
        out.with_suffix(".html"), f"Interactions of {model.name}", [interaction_graph(report), interaction_bars(report)]
    )
    for row in report.ranking[:10]:
        console.print(f"{' × '.join(row['fields']):<40} {row['share']:6.1%} of instances")
    console.print(f"{report.timing['seconds_per_instance'] * 1000:.1f} ms per instance; wrote {out} and {html}")
    if planted:
        console.print(f"planted pairs ROC-AUC {payload['recovery']['pair_auc']:.3f}")


@interactions_app.command("encode")
def interactions_encode(
    interactions: Annotated[Path, typer.Option(help="JSON written by `whyrec interactions detect`.")],
    top: Annotated[int, typer.Option(help="Cross the K strongest interactions.")] = 5,
    architectures: Annotated[
        str, typer.Option(help="Comma-separated target models.")
    ] = "lr,fm,wide_deep,deepfm,dcn,autoint",
    seeds: Annotated[str, typer.Option(help="Comma-separated training seeds.")] = "0,1,2",
    data: Annotated[str | None, typer.Option(help="CTR data spec (default: the detection's).")] = None,
    min_count: Annotated[int, typer.Option(help="Cross values seen fewer times in training map to 'other'.")] = 5,
    out: Annotated[Path | None, typer.Option(help="JSON result (default: beside the interactions file).")] = None,
) -> None:
    """Retrain target models with and without GLIDER's cross fields; AUC and log loss over seeds."""
    import json

    from whyrec._io import write_json_atomic
    from whyrec.data.ctr_loaders import ctr_split
    from whyrec.errors import DataError, ParameterError
    from whyrec.studies.interactions import encode_study

    try:
        detected = json.loads(interactions.read_text(encoding="utf-8"))
        chosen = [tuple(r["fields"]) for r in detected["interactions"] if len(r["fields"]) >= 2][:top]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"{interactions} is not an interactions file from `whyrec interactions detect` ({exc})"
        ) from None
    if top < 1:
        raise ParameterError(f"--top must be at least 1, got {top}")
    try:
        seed_list = [int(v) for v in seeds.split(",") if v.strip()]
    except ValueError:
        raise ParameterError(f"--seeds takes comma-separated integers, not {seeds!r}") from None
    spec = data or detected.get("data")
    split, _ = ctr_split(spec, seed=detected.get("split_seed", 0), min_count=detected.get("min_count", 2))
    result = encode_study(
        split, chosen, architectures=[a.strip() for a in architectures.split(",") if a.strip()], seeds=seed_list,
        cross_min_count=min_count, log=console.print,
    )  # fmt: skip
    out = out or interactions.with_name(interactions.stem + "-encode.json")
    write_json_atomic(out, {"data": spec, "top": top, **result})
    console.print(
        f"crosses improved test AUC for {len(result['improved_models'])} of {len(result['models'])} models; wrote {out}"
    )


@contextlib.contextmanager
def _bar(enabled: bool, total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar over `total` units; yields the function that advances it."""
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import Progress

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.update(task, advance=n)


def _method(method: Any) -> str | None:
    return None if method is None else str(method.value)


def _widths(text: str) -> tuple[int, ...]:
    from whyrec.errors import ParameterError

    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ParameterError(f"--hidden takes comma-separated integers, not {text!r}") from None


def main() -> None:
    """Console entry point: run the typer app, turning whyrec errors into one-line messages."""
    from whyrec._runtime import tune_allocator

    tune_allocator()
    try:
        app(standalone_mode=False)
    except WhyrecError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:
        # usage errors (missing option, bad value) know their message and exit code; typer
        # raises its own or click's class depending on the version, so match on behaviour
        if hasattr(exc, "exit_code") and hasattr(exc, "format_message"):
            message = " ".join(str(exc.format_message()).split())
            typer.echo(f"error: {message} (see --help)", err=True)
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
