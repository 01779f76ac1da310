"""The HTTP service: recommendations with explanations, for known users and new profiles.

``create_app({"ml100k": "runs/ml100k"})`` serves one or more saved models by name. It assembles one
router per resource (:mod:`whyrec.serve.routes`) over the service layer (:mod:`whyrec.service`).
Every user error is a whyrec exception mapped to a 4xx response with its message; the dashboard's
static files and plotly.js (from the installed plotly package, never a CDN) are served by the same app.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from whyrec._version import __version__
from whyrec.data.events import EventStore
from whyrec.errors import (
    AuthenticationError,
    ConflictError,
    ModelFormatError,
    NotFittedError,
    ParameterError,
    ServiceBusyError,
    ServiceTimeoutError,
    UnknownIdError,
    WhyrecError,
)
from whyrec.models.recommender import Recommender
from whyrec.serve.deps import Limits, Service, check_key, compute_slots
from whyrec.serve.middleware import ServerTiming
from whyrec.serve.openapi import narrowed_openapi
from whyrec.serve.routes import catalogue, events, explanations, insights, recommendations, service
from whyrec.serve.schemas import AUTH_ERRORS, ERRORS

_STATUS = {
    UnknownIdError: 404,
    ModelFormatError: 404,
    NotFittedError: 409,
    ConflictError: 409,
    AuthenticationError: 401,
    ServiceBusyError: 429,
    ServiceTimeoutError: 503,
}
log = logging.getLogger("whyrec.serve")
log.addHandler(logging.NullHandler())  # a library stays quiet until its application configures logging
CONFIG_ENV = "WHYREC_SERVE_CONFIG"  # how `whyrec serve --workers N` hands its settings to each worker


def create_app(
    models: Mapping[str, str | os.PathLike | Recommender],
    *,
    store: str | os.PathLike | EventStore | None = None,
    api_key: str | None = None,
    explain_timeout: float = 10.0,
    slow_workers: int = 1,
    slow_queue: int = 4,
    slow_threads: int = 1,
    compute_threads: int | None = None,
) -> FastAPI:
    """A FastAPI app serving `models` (name -> model directory or fitted model).

    Parameters
    ----------
    store : str, path or EventStore, optional
        Where POST /events stores events (a SQLite file or a ``postgresql://`` URL); the
        recommendations and explanations of a user use their stored events at once.
    api_key : str, optional
        When given, every endpoint that reads or writes a user's data requires it in the
        ``X-API-Key`` header (compared in constant time).
    explain_timeout : float
        Seconds a slow explanation may run before the request is answered 503.
    slow_workers, slow_queue, slow_threads : int
        Worker processes for the slow methods (0: threads of this process), how many more may
        wait before requests are refused with 429, and torch threads per worker.
    compute_threads : int, optional
        Requests computing at once in this process (default: the CPU count); the others wait.
    """
    state = _service(models, store, api_key, explain_timeout, slow_workers, slow_queue, slow_threads, compute_threads)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.pool().start()  # worker processes start with the server, not on the first slow request
        yield
        state.close()

    app = FastAPI(
        title="whyrec",
        version=__version__,
        description="Recommendations that explain themselves: every item comes with the inputs that drove it.",
        responses=ERRORS,
        lifespan=lifespan,
    )
    app.add_exception_handler(WhyrecError, _whyrec_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    _include_routes(app, private=api_key is not None)
    app.add_middleware(ServerTiming, metrics=state.metrics)
    app.openapi = lambda: narrowed_openapi(app, state.limits)  # type: ignore[method-assign]
    app.state.service = state
    app.state.models = state.models
    app.state.store = state.events
    return app


def _include_routes(app: FastAPI, *, private: bool) -> None:
    """One router per resource, and the dashboard's files. With an API key, the routes that read or
    write a user's data require it and say so in the schema."""
    guarded: dict[str, Any] = {"dependencies": [Depends(check_key)], "responses": AUTH_ERRORS} if private else {}
    app.include_router(service.router)
    app.include_router(recommendations.router, **guarded)
    app.include_router(explanations.router, **guarded)
    app.include_router(events.router, **guarded)
    app.include_router(catalogue.router)
    app.include_router(catalogue.users, **guarded)
    app.include_router(insights.router)
    app.include_router(service.dashboard)
    app.mount("/static", StaticFiles(directory=service.STATIC), name="static")


def _service(
    models: Mapping[str, str | os.PathLike | Recommender],
    store: str | os.PathLike | EventStore | None,
    api_key: str | None,
    explain_timeout: float,
    slow_workers: int,
    slow_queue: int,
    slow_threads: int,
    compute_threads: int | None,
) -> Service:
    """The server's state, its settings checked and its models loaded."""
    if not models:
        raise ParameterError("serve needs at least one model")
    if explain_timeout <= 0 or slow_workers < 0 or slow_queue < 0 or slow_threads < 1:
        raise ParameterError("explain_timeout must be positive, slow_workers and slow_queue at least 0")
    served = {name: m if isinstance(m, Recommender) else Recommender.load(m) for name, m in models.items()}
    return Service(
        models=served,
        model_dirs={name: None if isinstance(m, Recommender) else str(m) for name, m in models.items()},
        events=store if isinstance(store, EventStore) or store is None else EventStore(os.fspath(store)),
        api_key=api_key,
        explain_timeout=explain_timeout,
        slow_workers=slow_workers,
        slow_queue=slow_queue,
        slow_threads=slow_threads,
        limiter=compute_slots(compute_threads),
        limits=Limits.of(served),
    )


async def _whyrec_error(request: Request, exc: WhyrecError) -> JSONResponse:
    status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
    log_error(request, status, str(exc))
    return JSONResponse(status_code=status, content={"detail": str(exc)})


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's default echoes each bad input back, which fails on NaN (not JSON) and can be large
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    log_error(request, 422, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
    return JSONResponse(status_code=422, content={"detail": errors})


def log_error(request: Request, status: int, message: str) -> None:
    """One JSON line per error answer: method, route, status, duration and message (no traceback)."""
    started = request.scope.get("whyrec.started")
    route = getattr(request.scope.get("route"), "path", None) or request.url.path
    record = {
        "method": request.method,
        "route": route,
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1e3, 3) if started is not None else None,
        "message": message,
    }
    log.log(logging.ERROR if status >= 500 else logging.WARNING, json.dumps(record))


def app_from_environment() -> FastAPI:
    """The app of one `whyrec serve --workers N` worker, from the settings the CLI left in the
    environment (the API key in WHYREC_API_KEY). The worker ends with the server that started it."""
    from whyrec._runtime import exit_with_parent

    exit_with_parent()
    configure_logging()
    config = json.loads(os.environ[CONFIG_ENV])
    models = config.pop("models")
    return create_app(models, api_key=os.environ.get("WHYREC_API_KEY") or None, **config)


def configure_logging() -> None:
    """Send the service's error lines to stderr (once), whatever uvicorn's own log level."""
    if not any(type(h) is logging.StreamHandler for h in log.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s whyrec %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
