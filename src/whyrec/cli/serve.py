"""``whyrec serve``: the HTTP API (OpenAPI page at /docs) and the dashboard (at /)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from whyrec.cli._common import console


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
    from whyrec.errors import ParameterError

    models = dict(_named(entry) for entry in model)
    key = _api_key(api_key_file)
    if not _loopback(host) and key is None and not insecure:
        raise ParameterError(
            f"refusing to serve on {host} without an API key: give --api-key-file or WHYREC_API_KEY "
            "(or --insecure to serve open)"
        )
    if workers < 1:
        raise ParameterError(f"--workers must be at least 1, got {workers}")
    if store is not None:
        from whyrec.data.events import EventStore

        EventStore(store).close()  # a store that cannot be opened stops the start here, in one line
    options = {
        "store": store,
        "explain_timeout": explain_timeout,
        "slow_workers": slow_workers,
        "slow_queue": slow_queue,
    }
    guard = "API key required" if key else "no API key"
    console.print(f"Serving {', '.join(models)} on http://{host}:{port}/ (API reference at /docs; {guard})")
    _run(models, key, options, host, port, workers)


def _named(entry: str) -> tuple[str, str]:
    """A `--model` entry as (name, directory): NAME=DIR, or a directory named by its last part."""
    name, sep, path = entry.partition("=")
    return (name, path) if sep else (Path(entry).name, entry)


def _api_key(api_key_file: Path | None) -> str | None:
    import os

    from whyrec.errors import ParameterError

    if api_key_file is None:
        return os.environ.get("WHYREC_API_KEY") or None
    if not api_key_file.is_file():
        raise ParameterError(f"API key file {api_key_file} not found")
    key = api_key_file.read_text().strip()
    if not key:
        raise ParameterError(f"API key file {api_key_file} is empty")
    return key


def _loopback(host: str) -> bool:
    import ipaddress

    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _run(models: dict[str, str], key: str | None, options: dict[str, Any], host: str, port: int, workers: int) -> None:
    import json
    import os
    import tempfile

    import uvicorn

    from whyrec.serve.app import CONFIG_ENV, configure_logging, create_app

    configure_logging()
    # a graceful stop waits for requests in flight, which the explanation timeout bounds
    grace = int(options["explain_timeout"]) + 5
    if workers == 1:
        app = create_app(models, api_key=key, **options)
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=grace)
        return
    create_app(models, api_key=key, **{**options, "slow_workers": 0})  # fail here, once, on a bad model
    os.environ[CONFIG_ENV] = json.dumps({"models": models, **options})
    if key:
        os.environ["WHYREC_API_KEY"] = key
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="whyrec-metrics-"))
    uvicorn.run(
        "whyrec.serve.app:app_from_environment",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=grace,
    )
