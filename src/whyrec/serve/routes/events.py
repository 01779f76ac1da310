"""Events: what users just did, stored and used by their next recommendations at once."""

from __future__ import annotations

import time

from fastapi import APIRouter, Query

from whyrec import service as answers
from whyrec.data.events import Event
from whyrec.serve.deps import ServiceDep
from whyrec.serve.schemas import DeletedResponse, EventsRequest, EventsResponse, HistoryResponse

router = APIRouter(tags=["events"])


# what a client can do next with the users an answer names (OpenAPI links, which stateful tests follow)
_USER = {"user_id": "$response.body#/users/0"}
_NEXT = {
    "History": {"operationId": "user_history", "parameters": _USER},
    "DeleteEvents": {"operationId": "delete_user_events", "parameters": _USER},
}


@router.post(
    "/events",
    response_model=EventsResponse,
    status_code=201,
    summary="Store what users just did; their next recommendations use it at once",
    responses={201: {"description": "Stored, whole.", "links": _NEXT}},
    operation_id="post_events",
)
def post_events(request: EventsRequest, service: ServiceDep) -> EventsResponse:
    store = answers.require_store(service.events)
    _, model = service.pick(request.model)
    fs = model.feature_space_
    fs.item_index([e.item_id for e in request.events])  # an unknown item fails the whole batch
    for values in request.attributes.values():
        if values:
            fs.encode_attributes("user", values)  # unknown fields or values fail before writing
    batch = [Event(e.user_id, e.item_id, e.epoch(), e.weight) for e in request.events]
    started = time.perf_counter()
    stored = store.add(batch, request.attributes)
    service.metrics.stored(time.perf_counter() - started)
    users = list(dict.fromkeys(e.user_id for e in request.events))
    return EventsResponse(stored=stored, users=users)


@router.get("/users/{user_id}/history", response_model=HistoryResponse, operation_id="user_history")
def history(user_id: str, service: ServiceDep, model: str | None = Query(None)) -> HistoryResponse:
    _, m = service.pick(model)
    return HistoryResponse(**answers.user_history(m, user_id, service.events))


@router.delete(
    "/users/{user_id}/events",
    response_model=DeletedResponse,
    summary="Delete every stored event of a user (and attributes stored with them)",
    operation_id="delete_user_events",
)
def delete_events(user_id: str, service: ServiceDep) -> DeletedResponse:
    deleted = answers.require_store(service.events).delete_user(user_id)
    return DeletedResponse(user_id=user_id, deleted=deleted)
