"""The HTTP service: recommendations with explanations, for known users and new profiles.

``create_app({"ml100k": "runs/ml100k"})`` serves one or more saved models by name. Every user error
is a whyrec exception mapped to a 4xx response with its message; the dashboard's static files and
plotly.js (from the installed plotly package, never a CDN) are served by the same app.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import time
from collections.abc import AsyncIterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import numpy as np
import scipy.sparse as sp
from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles

import whyrec
from whyrec.data.events import Event, EventStore
from whyrec.data.features import id_key
from whyrec.errors import (
    AuthenticationError,
    DataError,
    EmptyProfileError,
    ModelFormatError,
    NotFittedError,
    ParameterError,
    ServiceBusyError,
    ServiceTimeoutError,
    UnknownIdError,
    WhyrecError,
)
from whyrec.explain import default_method, explain_top_k, methods_for
from whyrec.explain.edits import ProfileEdits
from whyrec.models.recommender import Recommender
from whyrec.serve.metrics import Metrics
from whyrec.serve.pool import SlowPool, ThreadPool
from whyrec.serve.schemas import (
    AUTH_ERRORS,
    ERRORS,
    DeletedResponse,
    EventOut,
    EventsRequest,
    EventsResponse,
    ExplainRequest,
    ExplainResponse,
    FieldShare,
    Health,
    HistoryResponse,
    InsightsResponse,
    ItemOut,
    ItemsResponse,
    ModelInfo,
    RecommendedItem,
    RecommendRequest,
    RecommendResponse,
    UserResponse,
    WhyNotRequest,
    WhyNotResponse,
    request_models_for,
)
from whyrec.serve.work import explain_body, is_slow, pack

STATIC = Path(__file__).parent / "static"
_STATUS = {
    UnknownIdError: 404,
    ModelFormatError: 404,
    NotFittedError: 409,
    AuthenticationError: 401,
    ServiceBusyError: 429,
    ServiceTimeoutError: 503,
}
API_KEY_HEADER = "X-API-Key"
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
    if not models:
        raise ParameterError("serve needs at least one model")
    if explain_timeout <= 0 or slow_workers < 0 or slow_queue < 0 or slow_threads < 1:
        raise ParameterError("explain_timeout must be positive, slow_workers and slow_queue at least 0")
    served = {name: m if isinstance(m, Recommender) else Recommender.load(m) for name, m in models.items()}
    model_dirs = {name: None if isinstance(m, Recommender) else str(m) for name, m in models.items()}
    events = store if isinstance(store, EventStore) or store is None else EventStore(os.fspath(store))
    insight_cache: dict[tuple, InsightsResponse] = {}
    metrics = Metrics()
    pools: dict[str, Any] = {}
    request_models = request_models_for(served)

    def slow_pool() -> Any:
        if "pool" not in pools:
            workers = max(1, slow_workers)
            pools["pool"] = (
                SlowPool(served, model_dirs, workers=workers, queue=slow_queue, timeout=explain_timeout,
                         threads=slow_threads) if slow_workers
                else ThreadPool(served, workers=workers, queue=slow_queue, timeout=explain_timeout)
            )  # fmt: skip
            metrics.pool = pools["pool"]
        return pools["pool"]

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        slow_pool()  # worker processes start with the server, not on the first slow request
        yield
        if "pool" in pools:
            pools.pop("pool").close()

    app = FastAPI(
        title="whyrec",
        version=whyrec.__version__,
        description="Recommendations that explain themselves: every item comes with the inputs that drove it.",
        responses=ERRORS,
        lifespan=lifespan,
    )

    @app.exception_handler(WhyrecError)
    async def _whyrec_error(request: Request, exc: WhyrecError) -> JSONResponse:
        status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
        return JSONResponse(status_code=status, content={"detail": str(exc)})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes each bad input back, which fails on NaN (not JSON) and can be large
        errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                  for e in exc.errors()]  # fmt: skip
        return JSONResponse(status_code=422, content={"detail": errors})

    header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="The server's API key.")

    def check_key(key: str | None = Security(header)) -> None:
        assert api_key is not None
        if key is None:
            raise AuthenticationError(f"this server requires an API key in the {API_KEY_HEADER} header")
        if not hmac.compare_digest(key.encode(), api_key.encode()):  # constant time: no timing oracle
            raise AuthenticationError("wrong API key")

    # when a key is configured, these routes require it and say so in the schema; otherwise they don't
    private: dict[str, Any] = {"dependencies": [Depends(check_key)], "responses": AUTH_ERRORS} if api_key else {}

    def pick(name: str | None) -> tuple[str, Recommender]:
        key = name or next(iter(served))
        if key not in served:
            raise UnknownIdError(f"unknown model {key!r}; served models: {', '.join(served)}")
        return key, served[key]

    def user_bag(model: Recommender, user_id: Any) -> sp.csr_matrix:
        """A user's bag: their training profile (if the model knows them) plus their stored events."""
        fs = model.feature_space_
        stored = fs.known_item_index(events.items_of(user_id)) if events else np.zeros(0, np.int64)
        try:
            index = fs.user_index([user_id])
        except UnknownIdError:
            attributes = events.attributes_of(user_id) if events else {}
            if not len(stored) and not attributes:
                raise
            bag = model.profile([fs.item_ids[i] for i in stored], attributes)  # first seen through events
        else:
            bag = model.user_profiles(index)
            if len(stored):
                bag = model.with_history(bag, stored)
        if bag.nnz == 0:
            raise EmptyProfileError(f"user {user_id!r} has no history and no attributes to go on")
        return bag

    def bag_of(model: Recommender, request: Any) -> sp.csr_matrix:
        """The request's bag of tokens (a user's profile with their events, or the new profile it describes)."""
        if request.user_id is not None:
            return user_bag(model, request.user_id)
        assert request.profile is not None  # the schema demands exactly one of user_id and profile
        return model.profile(request.profile.items, request.profile.attributes)

    @app.get("/health", response_model=Health, tags=["service"])
    def health() -> Health:
        return Health(status="ok", models=list(served))

    @app.get("/metrics", tags=["service"], response_class=PlainTextResponse,
             summary="Prometheus metrics: requests, latencies and errors per endpoint; event-store writes")  # fmt: skip
    def prometheus_metrics() -> PlainTextResponse:
        body, content_type = metrics.exposition()
        return PlainTextResponse(body, media_type=content_type)

    @app.get("/model", response_model=ModelInfo, tags=["service"])
    def model_info(model: str | None = Query(None, description="Served model name.")) -> ModelInfo:
        name, m = pick(model)
        fs = m.feature_space_
        manifest = getattr(m, "manifest_", {})
        return ModelInfo(
            name=name,
            model=type(m).__name__,
            params=m.get_params(),
            feature_space=fs.summary(),
            user_fields={f.name: list(f.values) for f in fs.user_fields},
            item_fields={f.name: list(f.values) for f in fs.item_fields},
            methods=methods_for(m),
            default_method=default_method(m),
            training={
                "best_epoch": getattr(m, "best_epoch_", None),
                "best_validation_metric": getattr(m, "best_metric_", None),
                "data": manifest.get("info", {}).get("data"),
                "test_metrics": manifest.get("info", {}).get("test_metrics"),
                "split": manifest.get("split"),
            },
            store=events.dialect if events else None,
            requires_api_key=api_key is not None,
        )

    # CPU work never runs on the event loop: it goes to threads, at most `compute_threads` at once
    # (more would only fight over the cores and the GIL, and stretch every request), and the slow
    # explanation methods go further, to the worker processes (slow_pool). The time a request spends
    # computing, without its wait for a slot, is reported as `Server-Timing: compute;dur=<ms>`.
    limiter = anyio.CapacityLimiter(compute_threads or os.cpu_count() or 1)

    async def compute(response: Response, fn: Any, *args: Any) -> Any:
        spent = [0.0]

        def timed() -> Any:
            start = time.perf_counter()
            try:
                return fn(*args)
            finally:
                spent[0] = time.perf_counter() - start

        try:
            return await anyio.to_thread.run_sync(timed, limiter=limiter)
        finally:
            response.headers.append("server-timing", f"compute;dur={spent[0] * 1e3:.3f}")

    @app.post("/recommend", response_model=RecommendResponse, tags=["recommendations"], **private)
    async def recommend(request: RecommendRequest, response: Response) -> RecommendResponse:
        return await compute(response, recommend_now, request)

    def recommend_now(request: RecommendRequest) -> RecommendResponse:
        name, m = pick(request.model)
        fs = m.feature_space_
        bag = bag_of(m, request)
        seen = sp.csr_matrix(bag[:, : fs.n_items])  # items are the first tokens: the history
        if request.without:
            edits = ProfileEdits(m, bag)
            leave_out = fs.item_index(list(request.without))
            outside = np.setdiff1d(leave_out, edits.history)
            if len(outside):
                raise ParameterError(f"item {fs.item_ids[outside[0]]!r} is not in the profile's history")
            bag = edits.removal_bags(edits.mask(leave_out))
        scores = m.score(bag)
        exclude = seen if request.exclude_seen else sp.csr_matrix(seen.shape, dtype=np.float32)
        if request.item_filter:
            allowed = _items_with(m, request.item_filter)
            blocked = sp.csr_matrix(np.where(allowed, 0.0, 1.0).astype(np.float32)[None, :])
            exclude = exclude + blocked
            available = int(allowed.sum())
            if available == 0:
                raise ParameterError(f"no item matches the filter {request.item_filter}")
        k = min(request.k, fs.n_items)
        recs = m.top_k(scores, k, exclude)
        items = [
            RecommendedItem(rank=r + 1, item_id=fs.item_ids[i], name=fs.item_names[i], score=float(s))
            for r, (i, s) in enumerate(zip(recs.items[0], recs.scores[0], strict=True))
            if np.isfinite(s)
        ]
        return RecommendResponse(model=name, user_id=request.user_id, items=items)

    async def explain(request: ExplainRequest, response: Response) -> ExplainResponse:
        name, m = pick(request.model)
        method = str(request.method) if request.method is not None else default_method(m)
        started = time.perf_counter()
        options: dict[str, Any] = {"item_id": request.item_id, "method": method, "top": request.top,
                                   "n": request.n, "user_id": request.user_id}  # fmt: skip
        if is_slow(method):
            bag = await compute(response, bag_of, m, request)
            body = await slow_pool().run("explain", name, pack(bag), **options)
        else:  # one hop to a thread for the whole of a fast explanation
            body = await compute(response, lambda: explain_body(name, m, bag_of(m, request), **options))
        metrics.explained(method, time.perf_counter() - started)
        return ExplainResponse(**body)

    async def why_not_endpoint(request: WhyNotRequest, response: Response) -> WhyNotResponse:
        name, m = pick(request.model)
        started = time.perf_counter()
        bag = await compute(response, bag_of, m, request)
        body = await slow_pool().run("why_not", name, pack(bag), item_id=request.item_id, n=request.n, top=request.top)
        metrics.explained("why_not", time.perf_counter() - started)
        return WhyNotResponse(**body)

    # The request schemas say what this server accepts: the methods its models support, and list
    # lengths n up to its smallest catalogue (FastAPI reads the annotations set here).
    explain.__annotations__["request"] = request_models["explain"]
    why_not_endpoint.__annotations__["request"] = request_models["why_not"]
    app.post("/explain", response_model=ExplainResponse, tags=["recommendations"], **private)(explain)
    app.post(
        "/why-not", response_model=WhyNotResponse, tags=["recommendations"],
        summary="Why an item is not recommended, and the one history item or attribute value that would change that",
        **private,
    )(why_not_endpoint)  # fmt: skip

    @app.post("/events", response_model=EventsResponse, tags=["events"], status_code=201,
              summary="Store what users just did; their next recommendations use it at once", **private)  # fmt: skip
    def post_events(request: EventsRequest) -> EventsResponse:
        store_ = _require(events)
        _, m = pick(request.model)
        fs = m.feature_space_
        fs.item_index([e.item_id for e in request.events])  # an unknown item fails the whole batch
        for values in request.attributes.values():
            if values:
                fs.encode_attributes("user", values)  # unknown fields or values fail before writing
        batch = [Event(e.user_id, e.item_id, e.epoch(), e.weight) for e in request.events]
        started = time.perf_counter()
        stored = store_.add(batch, request.attributes)
        metrics.stored(time.perf_counter() - started)
        users = list(dict.fromkeys(e.user_id for e in request.events))
        return EventsResponse(stored=stored, users=users)

    @app.get("/users/{user_id}/history", response_model=HistoryResponse, tags=["events"], **private)
    def history(user_id: str, model: str | None = Query(None)) -> HistoryResponse:
        _, m = pick(model)
        fs = m.feature_space_
        try:
            index = int(fs.user_index([user_id])[0])
        except UnknownIdError:
            index = -1
        stored = events.history(user_id) if events else []
        if index < 0 and not stored:
            raise UnknownIdError(f"unknown user {user_id!r}: not in the model and no events stored")
        lookup = {id_key(i): n for n, i in enumerate(fs.item_ids)}

        def event_out(e: dict[str, Any]) -> EventOut:
            n = lookup.get(e["item_id"], -1)
            known = n >= 0
            return EventOut(item_id=fs.item_ids[n] if known else e["item_id"],
                            name=fs.item_names[n] if known else e["item_id"],
                            timestamp=e["timestamp"], weight=e["weight"], received=e["received"])  # fmt: skip

        return HistoryResponse(
            user_id=fs.user_ids[index] if index >= 0 else user_id,
            known_to_model=index >= 0,
            training=[_item(m, i) for i in m.train_matrix_[index].indices] if index >= 0 else [],
            events=[event_out(e) for e in stored],
            attributes=events.attributes_of(user_id) if events else {},
        )

    @app.delete("/users/{user_id}/events", response_model=DeletedResponse, tags=["events"],
                summary="Delete every stored event of a user (and attributes stored with them)", **private)  # fmt: skip
    def delete_events(user_id: str) -> DeletedResponse:
        deleted = _require(events).delete_user(user_id)
        return DeletedResponse(user_id=user_id, deleted=deleted)

    @app.get("/items", response_model=ItemsResponse, tags=["catalogue"])
    def items(
        model: str | None = Query(None),
        query: str = Query("", description="Case-insensitive substring of the item name."),
        offset: int = Query(0, ge=0),
        limit: int = Query(50, ge=1, le=1000),
    ) -> ItemsResponse:
        _, m = pick(model)
        fs = m.feature_space_
        names = np.asarray(fs.item_names, dtype=object)
        match = np.flatnonzero([query.lower() in n.lower() for n in names]) if query else np.arange(fs.n_items)
        page = match[offset : offset + limit]
        return ItemsResponse(total=len(match), items=[_item(m, i) for i in page])

    @app.get("/users/{user_id}", response_model=UserResponse, tags=["catalogue"], **private)
    def user(user_id: str, model: str | None = Query(None)) -> UserResponse:
        _, m = pick(model)
        fs = m.feature_space_
        index = fs.user_index([user_id])[0]
        attributes = [str(fs.token_names[t]) for t in m.user_attributes_[index].indices]
        history = [_item(m, i) for i in m.train_matrix_[index].indices]
        return UserResponse(user_id=fs.user_ids[index], attributes=attributes, history=history)

    def insights(
        model: str | None = Query(None),
        sample: int = Query(300, ge=1, le=5000, description="Users to sample."),
        method: str | None = Query(None, description="Attribution method (default: the model's exact one)."),
    ) -> InsightsResponse:
        name, m = pick(model)
        method = str(method) if method is not None else default_method(m)
        key = (name, sample, method)
        if key not in insight_cache:
            active = np.flatnonzero(np.diff(m.user_profiles(np.arange(m.feature_space_.n_users)).indptr) > 0)
            users = np.sort(np.random.default_rng(0).choice(active, min(sample, len(active)), replace=False))
            shares = explain_top_k(m, users, k=1, method=str(method)).table().field_shares()
            insight_cache[key] = InsightsResponse(
                model=name,
                method=str(method),
                users=len(users),
                fields=[FieldShare(field=str(f), share=float(v)) for f, v in shares.items()],
            )
        return insight_cache[key]

    insights.__annotations__["method"] = request_models["insight_method"] | None
    app.get("/insights", response_model=InsightsResponse, tags=["insights"])(insights)

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        return Response(_plotly_js(), media_type="application/javascript")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(ServerTiming, metrics=metrics)
    app.state.models = served
    app.state.store = events
    return app


def app_from_environment() -> FastAPI:
    """The app of one `whyrec serve --workers N` worker, from the settings the CLI left in the
    environment (the API key in WHYREC_API_KEY)."""
    import json

    config = json.loads(os.environ[CONFIG_ENV])
    models = config.pop("models")
    return create_app(models, api_key=os.environ.get("WHYREC_API_KEY") or None, **config)


class ServerTiming:
    """ASGI middleware adding `Server-Timing: app;dur=<ms>`: the request's time inside the app.

    Written as plain ASGI (not BaseHTTPMiddleware) to keep its own cost to microseconds.
    """

    def __init__(self, app: Any, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def timed_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                elapsed = (time.perf_counter() - start) * 1e3
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={elapsed:.3f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            if self.metrics is not None:
                route = scope.get("route")
                path = getattr(route, "path", None) or "unmatched"
                self.metrics.request(path, scope["method"], status[0], time.perf_counter() - start)


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _require(store: EventStore | None) -> EventStore:
    if store is None:
        raise ParameterError("this server has no event store: start it with --store PATH_OR_URL")
    return store


def _item(model: Recommender, index: int) -> ItemOut:
    fs = model.feature_space_
    attrs = [str(fs.token_names[t]) for t in model.item_attributes_[index].indices]
    return ItemOut(item_id=fs.item_ids[index], name=fs.item_names[index], attributes=attrs)


def _items_with(model: Recommender, wanted: Mapping[str, Any]) -> np.ndarray:
    """Boolean mask of items carrying every requested attribute value."""
    fs = model.feature_space_
    allowed = np.ones(fs.n_items, dtype=bool)
    for field, value in wanted.items():
        tokens = fs.encode_attributes("item", {field: value})
        if model.item_attributes_.nnz == 0:
            raise DataError("this model has no item attributes to filter on")
        has = np.asarray(model.item_attributes_[:, tokens].sum(axis=1)).ravel() > 0
        allowed &= has
    return allowed
