"""Typed request and response bodies of the HTTP service (the OpenAPI page is built from these)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator
from pydantic.json_schema import SkipJsonSchema

from whyrec.explain import method_enum

# an ID is an integer or a string, as the user wrote it; never a boolean or a float coerced to one
Id = Annotated[int, Strict()] | Annotated[str, Strict()]
Method = method_enum()  # the registered explanation methods, an enum in the OpenAPI schema
# a multi-valued attribute (genres) is a non-empty list: an empty one would give the model nothing
AttributeValue = str | int | float | Annotated[list[str], Field(min_length=1)]


class Profile(BaseModel):
    """A user described by what they did and who they are; need not exist in training."""

    # an empty profile gives the model nothing to go on: the schema asks for an item or an attribute
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["items"], "properties": {"items": {"minItems": 1}}},
                {"required": ["attributes"], "properties": {"attributes": {"minProperties": 1}}},
            ]
        },
    )
    items: list[Id] = Field(default_factory=list, description="External IDs of items the user interacted with.")
    attributes: dict[str, AttributeValue] = Field(
        default_factory=dict, description="Raw user attributes, e.g. {'age': 27, 'gender': 'F'}."
    )

    @model_validator(mode="after")
    def _not_empty(self) -> Profile:  # what the schema's anyOf says, checked (pydantic does not read it)
        if not self.items and not self.attributes:
            raise ValueError("a profile needs at least one item or one attribute")
        return self


class _Who(BaseModel):
    # "exactly one of user_id or profile" is in the schema (oneOf) as well as checked here; the
    # optional fields may be left out but not sent as null, so the schema says what is accepted
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"oneOf": [{"required": ["user_id"]}, {"required": ["profile"]}]}
    )
    model: str | SkipJsonSchema[None] = Field(None, description="Served model name; the first one when omitted.")
    user_id: Id | SkipJsonSchema[None] = Field(
        None, description="A user known to the model, or one first seen through POST /events."
    )
    profile: Profile | SkipJsonSchema[None] = Field(
        None, description="Or: a profile of a new user (cold start, no retraining)."
    )

    @model_validator(mode="after")
    def _one_of(self) -> _Who:
        for name in ("model", "user_id", "profile"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may be left out but not null")
        if (self.user_id is None) == (self.profile is None):
            raise ValueError("give exactly one of user_id or profile")
        return self


class RecommendRequest(_Who):
    k: int = Field(10, ge=1, le=1000, description="Number of items.")
    exclude_seen: bool = Field(True, description="Leave out items already in the user's history.")
    without: list[Id] = Field(
        default_factory=list,
        description="History items to leave out of the profile (what if the user had not picked them); "
        "they stay out of the list too.",
    )
    item_filter: dict[str, str] = Field(
        default_factory=dict, description="Only items with these attribute values, e.g. {'genre': 'Comedy'}."
    )


class RecommendedItem(BaseModel):
    rank: int
    item_id: Id
    name: str
    score: float


class RecommendResponse(BaseModel):
    model: str
    user_id: Id | None
    items: list[RecommendedItem]


class ExplainRequest(_Who):
    item_id: Id = Field(..., description="The item to explain.")
    method: Method | SkipJsonSchema[None] = Field(  # type: ignore[valid-type]
        None, description="Attribution method; the model's exact one (its default_method) when omitted."
    )
    top: int = Field(10, ge=1, le=500, description="Number of reasons to return.")
    n: int = Field(10, ge=1, le=1000, description="method=counterfactual: the list the item must drop out of.")


class CounterfactualOut(BaseModel):
    found: bool
    verified: bool = Field(description="Re-scored by the model: without these items it is out of the top n.")
    n: int
    rank: int = Field(description="The item's rank before the change.")
    new_rank: int | None = None
    removed: list[str] = Field(description="The tokens removed, most relevant first.")
    removed_labels: list[str] = Field(description="The same tokens in words: titles, or a field and value.")
    removed_items: list[Id] = Field(description="External IDs of the removed history items.")
    replaced_by: Id | None = Field(None, description="The item that enters the top n.")
    replaced_by_name: str | None = None
    search: str = Field(description="attribution or margin: which greedy order found the set.")
    minimum: bool = Field(False, description="No smaller set flips it: every smaller set was tried.")
    message: str = ""
    sentence: str = Field(description="The counterfactual in one sentence.")


class ReasonOut(BaseModel):
    name: str = Field(description="The token, e.g. 'item:Heat (1995)' or 'user.age=25-34'.")
    label: str = Field(description="The token in words, without prefixes: 'Heat (1995)', 'age 25–34'.")
    kind: str
    field: str
    relevance: float
    words: str = Field(description="The reason as a clause: 'you watched Heat (1995)'.")


class GroupOut(BaseModel):
    layer: str = Field(description="The layer: 'kind', an item attribute ('genre') or 'time'.")
    key: str = Field(description="The group within its layer: a kind, an attribute value, 'recent', 'older' or 'rest'.")
    label: str = Field(description="The group in words: 'your Sci-Fi history: 12 films'.")
    relevance: float = Field(description="The sum of its tokens' relevances; a layer's groups sum to the total.")
    size: int = Field(description="Tokens in the group (an item with two values counts in both, with half each).")


class ExplainResponse(BaseModel):
    model: str
    user_id: Id | None
    item_id: Id
    item: str
    score: float
    baseline: float
    method: str
    sentence: str
    reasons: list[ReasonOut] = Field(description="Most relevant tokens first (signed).")
    against: list[ReasonOut] = Field(description="The strongest negative evidence, most negative first.")
    counterfactual: CounterfactualOut | None = Field(None, description="method=counterfactual: the set and its effect.")
    groups: dict[str, list[GroupOut]] = Field(
        default_factory=dict,
        description="Layered reasons: the relevances summed by kind, by each item attribute of the history "
        "and (for a known user with training times) by time, largest first. Each layer sums to the total.",
    )


class ItemOut(BaseModel):
    item_id: Id
    name: str
    attributes: list[str]


class ItemsResponse(BaseModel):
    total: int
    items: list[ItemOut]


class UserResponse(BaseModel):
    user_id: Id
    attributes: list[str]
    history: list[ItemOut]


class ModelInfo(BaseModel):
    name: str
    model: str
    params: dict[str, Any]
    feature_space: dict[str, Any]
    user_fields: dict[str, list[str]]
    item_fields: dict[str, list[str]]
    methods: list[str] = Field(description="Explanation methods that can explain this model.")
    default_method: str = Field(description="The model's exact method, used when a request names none.")
    training: dict[str, Any]
    store: str | None = Field(None, description="The event store's database (sqlite, postgresql), if any.")
    requires_api_key: bool = Field(False, description="Whether user-data endpoints need the X-API-Key header.")


class Health(BaseModel):
    status: str
    models: list[str]


class FieldShare(BaseModel):
    field: str
    share: float


class InsightsResponse(BaseModel):
    model: str
    method: str
    users: int = Field(description="Users sampled; each contributes the explanation of their top recommendation.")
    fields: list[FieldShare] = Field(description="Mean share of |relevance| per field, largest first.")


class WhyNotRequest(_Who):
    item_id: Id = Field(..., description="The item that is not recommended.")
    n: int = Field(10, ge=1, le=1000, description="The list length the item is missing from.")
    top: int = Field(5, ge=1, le=100, description="Number of reasons holding it back.")


class AdditionOut(BaseModel):
    token: str = Field(description="The added token, e.g. 'item:Heat (1995)' or 'user.occupation=writer'.")
    kind: str = Field(description="'item' (a history item) or 'user_attribute'.")
    item_id: Id | None = Field(None, description="The added item's ID when the addition is a history item.")
    name: str = Field(description="The token in words: a title, or a field and value.")
    words: str = Field(description="The addition as a clause: 'you watched Heat (1995)'.")
    new_rank: int = Field(description="The item's rank with the token added, re-scored by the model.")
    verified: bool = Field(description="Re-scored by the model's public scorer: the addition brings it into the top n.")


class TogetherOut(BaseModel):
    tokens: list[str] = Field(description="The added tokens, e.g. 'item:Heat (1995)'.")
    names: list[str] = Field(description="The same tokens in words.")
    words: str = Field(description="The additions as clauses: 'you watched Heat (1995) and you are 25–34'.")
    new_rank: int = Field(description="The item's rank with all of them added, by the model's public scorer.")
    verified: bool = Field(description="Whether that rank is in the top n.")


class WhyNotResponse(BaseModel):
    model: str
    item_id: Id
    item: str
    n: int
    rank: int
    score: float
    gap: float = Field(description="The score of the n-th item minus this item's.")
    recommended: bool = Field(description="Already in the top n: nothing to explain away.")
    holding_back: list[ReasonOut] = Field(description="The tokens pulling its score down, most negative first.")
    addition: AdditionOut | None = Field(
        None,
        description=(
            "The one history item or attribute value that lifts it highest: into the top n when verified, "
            "else as far as any single addition gets it."
        ),
    )
    together: TogetherOut | None = Field(
        None, description="When no single addition brings it in: the best set of two or three additions tried."
    )
    message: str


class ErrorOut(BaseModel):
    detail: str = Field(description="One line naming the problem, e.g. \"unknown user 'nobody'\".")


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Bad input the schema cannot see (an empty profile)."},
    404: {"model": ErrorOut, "description": "An unknown model, user, item, attribute or value."},
    409: {
        "model": ErrorOut,
        "description": "The request conflicts with the current state: why-not about an item already in the user's "
        "history, or a model that is not fitted.",
    },
    429: {"model": ErrorOut, "description": "Too many slow explanations running or queued: retry later."},
    503: {"model": ErrorOut, "description": "The request ran past the server's time limit, or the store is down."},
}
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "The server requires an API key (X-API-Key) and it is missing or wrong."}
}


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: Id = Field(..., description="Who acted: a known user or a new one.")
    item_id: Id = Field(..., description="The item they viewed, clicked or bought (must be in the catalogue).")
    timestamp: float | datetime | SkipJsonSchema[None] = Field(
        None, description="When: seconds since the epoch or an ISO 8601 time (UTC when no zone is given)."
    )
    weight: float = Field(1.0, gt=0, allow_inf_nan=False, description="How much it counts (a positive number).")

    @model_validator(mode="after")
    def _no_null(self) -> EventIn:
        if "timestamp" in self.model_fields_set and self.timestamp is None:
            raise ValueError("timestamp may be left out but not null")
        if isinstance(self.timestamp, float) and not math.isfinite(self.timestamp):
            raise ValueError("timestamp must be a finite number of seconds")
        return self

    def epoch(self) -> float | None:
        if self.timestamp is None or isinstance(self.timestamp, float | int):
            return None if self.timestamp is None else float(self.timestamp)
        stamp = self.timestamp if self.timestamp.tzinfo else self.timestamp.replace(tzinfo=UTC)
        return stamp.timestamp()


class EventsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | SkipJsonSchema[None] = Field(None, description="The served model whose catalogue checks the items.")
    events: list[EventIn] = Field(..., min_length=1, max_length=1000, description="One to 1,000 events, stored whole.")
    attributes: dict[str, dict[str, AttributeValue]] = Field(
        default_factory=dict, description="Raw attributes of users first seen here: {user_id: {'age': 27}}."
    )

    @model_validator(mode="after")
    def _no_null(self) -> EventsRequest:
        if "model" in self.model_fields_set and self.model is None:
            raise ValueError("model may be left out but not null")
        return self


class EventsResponse(BaseModel):
    stored: int
    users: list[Id] = Field(description="The users whose next recommendations now use these events.")


class EventOut(BaseModel):
    item_id: Id
    name: str
    timestamp: float | None
    weight: float
    received: float


class HistoryResponse(BaseModel):
    user_id: Id
    known_to_model: bool = Field(description="Whether the user was in the model's training data.")
    training: list[ItemOut] = Field(description="The history the model was trained with.")
    events: list[EventOut] = Field(description="Events stored since, oldest first.")
    attributes: dict[str, Any] = Field(default_factory=dict, description="Attributes stored with the events.")


class DeletedResponse(BaseModel):
    user_id: Id
    deleted: int = Field(description="Events deleted.")
