"""The service itself: health, Prometheus metrics, what a model is, and the dashboard's files."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, PlainTextResponse, Response

from whyrec.explain import default_method, methods_for
from whyrec.serve.deps import ServiceDep
from whyrec.serve.schemas import Health, ModelInfo

STATIC = Path(__file__).parents[1] / "static"
router = APIRouter(tags=["service"])
dashboard = APIRouter(include_in_schema=False)


@router.get("/health", response_model=Health)
def health(service: ServiceDep) -> Health:
    return Health(status="ok", models=list(service.models))


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Prometheus metrics: requests, latencies and errors per endpoint; event-store writes",
)
def prometheus_metrics(service: ServiceDep) -> PlainTextResponse:
    body, content_type = service.metrics.exposition()
    return PlainTextResponse(body, media_type=content_type)


@router.get("/model", response_model=ModelInfo)
def model_info(service: ServiceDep, model: str | None = Query(None, description="Served model name.")) -> ModelInfo:
    name, m = service.pick(model)
    fs = m.feature_space_
    info = getattr(m, "manifest_", {}).get("info", {})
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
            "data": info.get("data"),
            "test_metrics": info.get("test_metrics"),
            "split": getattr(m, "manifest_", {}).get("split"),
        },
        store=service.events.dialect if service.events else None,
        requires_api_key=service.api_key is not None,
    )


@dashboard.get("/")
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html")


@dashboard.get("/favicon.ico")
def favicon() -> FileResponse:
    """The dashboard's icon where a browser asks for it by the old name (an SVG, which browsers read)."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


@dashboard.get("/static/plotly.min.js")
def plotly_js() -> Response:
    return Response(_plotly_js(), media_type="application/javascript")


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()
