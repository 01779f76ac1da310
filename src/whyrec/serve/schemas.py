"""Typed request and response bodies of the HTTP service (the OpenAPI page is built from these)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from whyrec.explain import method_enum

Id = int | str
Method = method_enum()  # the registered explanation methods, an enum in the OpenAPI schema
AttributeValue = str | int | float | list[str]


class Profile(BaseModel):
    """A user described by what they did and who they are; need not exist in training."""

    model_config = ConfigDict(extra="forbid")
    items: list[Id] = Field(default_factory=list, description="External IDs of items the user interacted with.")
    attributes: dict[str, AttributeValue] = Field(
        default_factory=dict, description="Raw user attributes, e.g. {'age': 27, 'gender': 'F'}."
    )


class _Who(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(None, description="Served model name; the first one when omitted.")
    user_id: Id | None = Field(None, description="A user known to the model.")
    profile: Profile | None = Field(None, description="Or: a profile of a new user (cold start, no retraining).")

    @model_validator(mode="after")
    def _one_of(self) -> _Who:
        if (self.user_id is None) == (self.profile is None):
            raise ValueError("give exactly one of user_id or profile")
        return self


class RecommendRequest(_Who):
    k: int = Field(10, ge=1, le=1000, description="Number of items.")
    exclude_seen: bool = Field(True, description="Leave out items already in the user's history.")
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
    method: Method = Field(Method("lrp"), description="Attribution method.")  # type: ignore[valid-type]
    top: int = Field(10, ge=1, le=500, description="Number of reasons to return.")


class ReasonOut(BaseModel):
    name: str
    kind: str
    field: str
    relevance: float
    words: str


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
