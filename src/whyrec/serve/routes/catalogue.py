"""The catalogue: items (public) and what the model knows of a user (private when a key is set)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from whyrec import service as answers
from whyrec.serve.deps import ServiceDep
from whyrec.serve.schemas import ItemOut, ItemsResponse, UserResponse

router = APIRouter(tags=["catalogue"])
users = APIRouter(tags=["catalogue"])


# a client lists the catalogue, then records what a user did with one of its items (an OpenAPI link)
_RECORD = {
    "RecordEvent": {
        "operationId": "post_events",
        "requestBody": {"events": [{"user_id": "linked-user", "item_id": "$response.body#/items/0/item_id"}]},
    }
}


@router.get(
    "/items", response_model=ItemsResponse, responses={200: {"description": "A page of items.", "links": _RECORD}}
)
def items(
    service: ServiceDep,
    model: str | None = Query(None),
    query: str = Query("", description="Case-insensitive substring of the item name."),
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=1000),
) -> ItemsResponse:
    _, m = service.pick(model)
    total, page = answers.items_matching(m, query, offset, limit)
    return ItemsResponse(total=total, items=[ItemOut(**item) for item in page])


@users.get("/users/{user_id}", response_model=UserResponse)
def user(user_id: str, service: ServiceDep, model: str | None = Query(None)) -> UserResponse:
    _, m = service.pick(model)
    return UserResponse(**answers.user_record(m, user_id))
