"""The HTTP service: recommendations with explanations, for known users and new profiles.

``create_app({"ml100k": "runs/ml100k"})`` serves one or more saved models by name. Every user error
is a whyrec exception mapped to a 4xx response with its message; the dashboard's static files and
plotly.js (from the installed plotly package, never a CDN) are served by the same app.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

import whyrec
from whyrec.data.profiles import Profile as DataProfile
from whyrec.errors import (
    DataError,
    EmptyProfileError,
    ModelFormatError,
    NotFittedError,
    ParameterError,
    UnknownIdError,
    WhyrecError,
)
from whyrec.explain import default_method, explain_top_k, get_explainer, methods_for, why_not
from whyrec.explain.edits import ProfileEdits
from whyrec.explain.explanation import Reason
from whyrec.models.recommender import Recommender
from whyrec.serve.schemas import (
    ERRORS,
    AdditionOut,
    CounterfactualOut,
    ExplainRequest,
    ExplainResponse,
    FieldShare,
    Health,
    InsightsResponse,
    ItemOut,
    ItemsResponse,
    Method,
    ModelInfo,
    ReasonOut,
    RecommendedItem,
    RecommendRequest,
    RecommendResponse,
    UserResponse,
    WhyNotRequest,
    WhyNotResponse,
)

STATIC = Path(__file__).parent / "static"
_STATUS = {UnknownIdError: 404, ModelFormatError: 404, NotFittedError: 409}


def create_app(models: Mapping[str, str | os.PathLike | Recommender]) -> FastAPI:
    """A FastAPI app serving `models` (name -> model directory or fitted model)."""
    if not models:
        raise ParameterError("serve needs at least one model")
    served = {name: m if isinstance(m, Recommender) else Recommender.load(m) for name, m in models.items()}
    insight_cache: dict[tuple, InsightsResponse] = {}
    app = FastAPI(
        title="whyrec",
        version=whyrec.__version__,
        description="Recommendations that explain themselves: every item comes with the inputs that drove it.",
        responses=ERRORS,
    )

    @app.exception_handler(WhyrecError)
    async def _whyrec_error(request: Request, exc: WhyrecError) -> JSONResponse:
        status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
        return JSONResponse(status_code=status, content={"detail": str(exc)})

    def pick(name: str | None) -> tuple[str, Recommender]:
        key = name or next(iter(served))
        if key not in served:
            raise UnknownIdError(f"unknown model {key!r}; served models: {', '.join(served)}")
        return key, served[key]

    def bag_of(model: Recommender, request: RecommendRequest | ExplainRequest) -> sp.csr_matrix:
        """The request's bag of tokens (a known user's profile, or the new profile it describes)."""
        if request.user_id is not None:
            bag = model.user_profiles(model.feature_space_.user_index([request.user_id]))
            if bag.nnz == 0:
                raise EmptyProfileError(f"user {request.user_id!r} has no history and no attributes to go on")
            return bag
        assert request.profile is not None  # the schema demands exactly one of user_id and profile
        return model.profile(request.profile.items, request.profile.attributes)

    @app.get("/health", response_model=Health, tags=["service"])
    def health() -> Health:
        return Health(status="ok", models=list(served))

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
        )

    # CPU work of a fraction of a millisecond: async handlers skip the thread-pool hop
    @app.post("/recommend", response_model=RecommendResponse, tags=["recommendations"])
    async def recommend(request: RecommendRequest) -> RecommendResponse:
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

    @app.post("/explain", response_model=ExplainResponse, tags=["recommendations"])
    async def explain(request: ExplainRequest) -> ExplainResponse:
        name, m = pick(request.model)
        fs = m.feature_space_
        method = str(request.method)
        explainer = get_explainer(method, **({"n": request.n} if method == "counterfactual" else {}))
        if not explainer.supports(m):
            raise ParameterError(f"method {method!r} cannot explain a {type(m).__name__} model")
        bag = bag_of(m, request)
        target = fs.item_index([request.item_id])
        e = explainer.attribute(m, bag, target)[0]
        return ExplainResponse(
            model=name,
            user_id=request.user_id,
            item_id=e.item_id,
            item=e.item_name,
            score=e.score,
            baseline=e.baseline,
            method=e.method,
            sentence=e.sentence(),
            reasons=[_reason(r) for r in e.top(request.top)],
            against=[_reason(r) for r in e.bottom(min(request.top, 5))],
            counterfactual=CounterfactualOut(**_fields(e.details, CounterfactualOut)) if e.details else None,
        )

    @app.post(
        "/why-not", response_model=WhyNotResponse, tags=["recommendations"],
        summary="Why an item is not recommended, and the one history item or attribute value that would change that",
    )  # fmt: skip
    def why_not_endpoint(request: WhyNotRequest) -> WhyNotResponse:
        name, m = pick(request.model)
        who = request.user_id if request.user_id is not None else _profile(request)
        answer = why_not(m, who, request.item_id, n=request.n, top=request.top)
        return WhyNotResponse(
            model=name, item_id=answer.item_id, item=answer.item_name, n=answer.n, rank=answer.rank,
            score=answer.score, gap=answer.nth_score - answer.score, recommended=answer.recommended,
            holding_back=[_reason(r) for r in answer.holding_back],
            addition=AdditionOut(**answer.addition) if answer.addition else None, message=answer.message,
        )  # fmt: skip

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

    @app.get("/users/{user_id}", response_model=UserResponse, tags=["catalogue"])
    def user(user_id: str, model: str | None = Query(None)) -> UserResponse:
        _, m = pick(model)
        fs = m.feature_space_
        index = fs.user_index([user_id])[0]
        attributes = [str(fs.token_names[t]) for t in m.user_attributes_[index].indices]
        history = [_item(m, i) for i in m.train_matrix_[index].indices]
        return UserResponse(user_id=fs.user_ids[index], attributes=attributes, history=history)

    @app.get("/insights", response_model=InsightsResponse, tags=["insights"])
    def insights(
        model: str | None = Query(None),
        sample: int = Query(300, ge=1, le=5000, description="Users to sample."),
        method: Method = Query(Method("lrp"), description="Attribution method."),  # type: ignore[valid-type]
    ) -> InsightsResponse:
        name, m = pick(model)
        key = (name, sample, str(method))
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

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        return Response(_plotly_js(), media_type="application/javascript")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(ServerTiming)
    app.state.models = served
    return app


class ServerTiming:
    """ASGI middleware adding `Server-Timing: app;dur=<ms>`: the request's time inside the app.

    Written as plain ASGI (not BaseHTTPMiddleware) to keep its own cost to microseconds.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - start) * 1e3
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={elapsed:.3f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed_send)


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _fields(details: Mapping[str, Any], schema: type[Any]) -> dict[str, Any]:
    return {k: v for k, v in details.items() if k in schema.model_fields}


def _profile(request: WhyNotRequest) -> DataProfile:
    assert request.profile is not None  # the schema demands exactly one of user_id and profile
    return DataProfile(items=request.profile.items, attributes=request.profile.attributes)


def _reason(reason: Reason) -> ReasonOut:
    return ReasonOut(
        name=reason.name, kind=reason.kind, field=reason.field, relevance=reason.relevance, words=reason.words()
    )


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
