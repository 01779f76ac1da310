"""What every command shares: the console, the common options, the data-reading options, output.

Nothing here imports torch, pandas or plotly: the commands import what they need when they run,
so that ``--help`` and argument errors answer at once.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from whyrec.choices import METHODS, PRECISIONS

console = Console()

DATA_HELP = (
    "synthetic | movielens:PATH | csv:INTERACTIONS[,USERS,ITEMS] | shards:FOLDER[,USERS,ITEMS]; "
    "reading options go after '?' (csv:r.csv?user=userId&min_rating=3) or in the reading flags"
)


class SplitKind(StrEnum):
    random = "random"
    user = "user"
    temporal = "temporal"


Precision = StrEnum("Precision", {p: p for p in PRECISIONS})  # type: ignore[misc]  # the trainer's precisions
Method = StrEnum("Method", {m: m for m in METHODS})  # type: ignore[misc]  # every explanation method

MethodOption = Annotated[
    Method | None,
    typer.Option(
        metavar="METHOD",
        help=f"Attribution method: {', '.join(METHODS)}. Default: the model's exact one (lrp for RecoNet).",
    ),
]
ModelDir = Annotated[Path, typer.Option("--model", "-m", help="A model directory written by `whyrec train`.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress bar.")]
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

_READING = "Reading the data (written into the data spec after '?')"


def _reading(help_text: str, metavar: str | None = None) -> Any:
    return typer.Option(help=help_text, rich_help_panel=_READING, metavar=metavar)


_DATA_OPTIONS = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[kind, option])
    for name, kind, option in [
        ("user_col", str | None, _reading("Column of user IDs (default 'user').")),
        ("item_col", str | None, _reading("Column of item IDs (default 'item').")),
        ("rating_col", str | None, _reading("Column of ratings (default 'rating').")),
        ("timestamp_col", str | None, _reading("Column of event times (default 'timestamp').")),
        ("min_rating", float | None, _reading("Keep ratings at or above this as positives.")),
        (
            "multi_valued",
            list[str] | None,
            _reading("An attribute column of several values (repeatable), e.g. genres=|.", "FIELD=SEP"),
        ),
        ("sep", str | None, _reading("CSV separator: , ; | or tab.")),
        ("encoding", str | None, _reading("Text encoding of CSV files (default utf-8), e.g. latin-1.")),
        (
            "on_duplicate",
            str | None,
            _reading("A repeated (user, item): error, drop (keep the first) or count (one weighted interaction)."),
        ),
    ]
]


def with_data_options(command: Callable[..., None]) -> Callable[..., None]:
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

    parameters = [*signature.parameters.values(), *_DATA_OPTIONS]
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
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


def dumps(payload: Any) -> str:
    """JSON text for CLI output (numpy scalars as numbers)."""
    return json.dumps(payload, indent=2, default=lambda v: v.item() if hasattr(v, "item") else str(v))


def method_name(method: Any) -> str | None:
    """The chosen method's name, or None for the model's default."""
    return None if method is None else str(method.value)


@contextlib.contextmanager
def progress_bar(enabled: bool, total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar over `total` units; yields the function that advances it."""
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import Progress

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.update(task, advance=n)


def comma_list(text: str | None) -> list[str]:
    """The non-empty, stripped entries of a comma-separated option."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]
