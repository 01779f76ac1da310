"""What drives a model's recommendations: the share of relevance per field, over sampled users."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from whyrec import service as answers
from whyrec.explain import default_method
from whyrec.serve.deps import ServiceDep, check_method
from whyrec.serve.schemas import FieldShare, InsightsResponse, Method

router = APIRouter(tags=["insights"])


@router.get("/insights", response_model=InsightsResponse)
async def insights(
    response: Response,
    service: ServiceDep,
    model: str | None = Query(None),
    sample: int = Query(300, ge=1, le=5000, description="Users to sample."),
    method: Method | None = Query(  # type: ignore[valid-type]
        None, description="A fast attribution method (default: the model's exact one)."
    ),
) -> InsightsResponse:
    # insights explain hundreds of users in one request: the batched, fast methods only (the CLI's
    # `whyrec insights` runs any method offline)
    chosen = check_method(service, method, ("query", "method"), fast=True)
    name, m = service.pick(model)
    key = (name, sample, chosen or default_method(m))
    if key not in service.insights:
        shares = await service.compute(response, lambda: answers.field_shares(m, sample=sample, method=key[2]))
        fields = [FieldShare(**f) for f in shares["fields"]]
        service.insights[key] = InsightsResponse(model=name, method=key[2], users=shares["users"], fields=fields)
    return service.insights[key]
