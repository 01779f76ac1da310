"""Why an item is recommended (any method), and why one is not."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Response

from whyrec import service as answers
from whyrec.explain import default_method
from whyrec.serve.deps import ServiceDep, check_method, check_n
from whyrec.serve.schemas import ExplainRequest, ExplainResponse, WhyNotRequest, WhyNotResponse
from whyrec.serve.work import is_slow, pack

router = APIRouter(tags=["recommendations"])


@router.post("/explain", response_model=ExplainResponse)
async def explain(request: ExplainRequest, response: Response, service: ServiceDep) -> ExplainResponse:
    chosen = check_method(service, request.method, ("body", "method"))
    n = check_n(service, request, ("body", "n"))
    name, model = service.pick(request.model)
    method = chosen or default_method(model)
    answers.check_explain(model, request.item_id, method)  # a 4xx never waits behind slow work
    started = time.perf_counter()
    options: dict[str, Any] = {
        "item_id": request.item_id,
        "method": method,
        "top": request.top,
        "n": n,
        "user_id": request.user_id,
    }
    if is_slow(method):
        bag = await service.compute(response, service.bag, model, request)
        body = await service.pool().run("explain", name, pack(bag), **options)
    else:  # one hop to a thread for the whole of a fast explanation
        body = await service.compute(
            response, lambda: answers.explain_answer(model, service.bag(model, request), **options)
        )
    service.metrics.explained(method, time.perf_counter() - started)
    return ExplainResponse(model=name, user_id=request.user_id, **body)


@router.post(
    "/why-not",
    response_model=WhyNotResponse,
    summary="Why an item is not recommended, and the one history item or attribute value that would change that",
)
async def why_not(request: WhyNotRequest, response: Response, service: ServiceDep) -> WhyNotResponse:
    n = check_n(service, request, ("body", "n"))
    name, model = service.pick(request.model)
    started = time.perf_counter()
    bag = await service.compute(response, service.bag, model, request)
    answers.check_why_not(model, bag, request.item_id)  # a 4xx never waits behind slow work
    body = await service.pool().run("why_not", name, pack(bag), item_id=request.item_id, n=n, top=request.top)
    service.metrics.explained("why_not", time.perf_counter() - started)
    return WhyNotResponse(model=name, **body)
