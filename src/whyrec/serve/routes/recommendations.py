"""Recommendations for a known user or a new profile."""

from __future__ import annotations

from fastapi import APIRouter, Response

from whyrec import service as answers
from whyrec.serve.deps import ServiceDep
from whyrec.serve.schemas import RecommendedItem, RecommendRequest, RecommendResponse

router = APIRouter(tags=["recommendations"])


@router.post("/recommend", response_model=RecommendResponse)
async def recommend(request: RecommendRequest, response: Response, service: ServiceDep) -> RecommendResponse:
    name, model = service.pick(request.model)

    def work() -> list[dict]:
        return answers.recommendations(
            model,
            service.bag(model, request),
            k=min(request.k, model.feature_space_.n_items),
            exclude_seen=request.exclude_seen,
            without=request.without,
            item_filter=request.item_filter,
        )

    items = await service.compute(response, work)
    return RecommendResponse(model=name, user_id=request.user_id, items=[RecommendedItem(**item) for item in items])
