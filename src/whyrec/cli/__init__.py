"""whyrec's command line: one module per command or group, assembled here.

Every user error ends in a one-line message on stderr and exit status 2; never a stack trace. The
modules import torch, pandas and plotly only inside the command that needs them, so ``whyrec
--help``, ``whyrec train --help`` and argument errors answer without loading them.
"""

from __future__ import annotations

import sys

import typer

from whyrec.cli import ctr, data, demo, evaluate, explain, interactions, jobs, recommend, report, serve, train, tune
from whyrec.errors import WhyrecError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Recommenders that explain themselves: train, recommend, and say why.",
)
app.command()(demo.demo)
app.command(epilog=train.EPILOG)(train.train)
app.command()(tune.tune)
app.command()(tune.compare)
app.command()(evaluate.evaluate)
app.command()(recommend.recommend)
app.command()(explain.explain)
app.command("recommend-all")(jobs.recommend_all)
app.command("explain-all")(jobs.explain_all)
app.command()(report.insights)
app.command()(report.report)
app.command()(serve.serve)
app.add_typer(data.app, name="data")
app.add_typer(ctr.app, name="ctr")
app.add_typer(interactions.app, name="interactions")


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
