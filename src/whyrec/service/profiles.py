"""Who a request is about, as a bag of tokens, and what the catalogue says about users and items.

A known user's bag is their training profile with their stored events folded in; a new user's
bag is the profile a request describes. Every interface builds bags here, so that a user's
recommendations, explanations and counterfactuals score the same bag in Python, on the command
line and over HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from whyrec.data.events import EventStore
from whyrec.data.features import id_key
from whyrec.errors import DataError, EmptyProfileError, ParameterError, UnknownIdError
from whyrec.models.recommender import Recommender


def user_bag(model: Recommender, user_id: Any, events: EventStore | None = None) -> sp.csr_matrix:
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


def request_bag(
    model: Recommender,
    user_id: Any = None,
    items: Sequence[Any] = (),
    attributes: Mapping[str, Any] | None = None,
    events: EventStore | None = None,
) -> sp.csr_matrix:
    """The bag a request names: a user's (`user_id`), or the new profile of `items` and `attributes`."""
    if user_id is not None:
        return user_bag(model, user_id, events)
    return model.profile(list(items), dict(attributes or {}))


def item_record(model: Recommender, index: int) -> dict[str, Any]:
    """An item as the catalogue shows it: ID, name and attribute tokens."""
    fs = model.feature_space_
    attrs = [str(fs.token_names[t]) for t in model.item_attributes_[index].indices]
    return {"item_id": fs.item_ids[index], "name": fs.item_names[index], "attributes": attrs}


def items_matching(model: Recommender, query: str = "", offset: int = 0, limit: int = 50) -> tuple[int, list[dict]]:
    """How many items' names contain `query` (case-insensitive), and the page of them from `offset`."""
    fs = model.feature_space_
    if query:
        wanted = query.lower()
        match = np.flatnonzero([wanted in name.lower() for name in fs.item_names])
    else:
        match = np.arange(fs.n_items)
    return len(match), [item_record(model, int(i)) for i in match[offset : offset + limit]]


def items_with(model: Recommender, wanted: Mapping[str, Any]) -> np.ndarray:
    """Boolean mask of items carrying every requested attribute value."""
    fs = model.feature_space_
    allowed = np.ones(fs.n_items, dtype=bool)
    for field, value in wanted.items():
        tokens = fs.encode_attributes("item", {field: value})
        if model.item_attributes_.nnz == 0:
            raise DataError("this model has no item attributes to filter on")
        allowed &= np.asarray(model.item_attributes_[:, tokens].sum(axis=1)).ravel() > 0
    return allowed


def user_record(model: Recommender, user_id: Any) -> dict[str, Any]:
    """A known user as the model saw them in training: attribute tokens and history."""
    fs = model.feature_space_
    index = int(fs.user_index([user_id])[0])
    attributes = [str(fs.token_names[t]) for t in model.user_attributes_[index].indices]
    history = [item_record(model, int(i)) for i in model.train_matrix_[index].indices]
    return {"user_id": fs.user_ids[index], "attributes": attributes, "history": history}


def user_history(model: Recommender, user_id: Any, events: EventStore | None = None) -> dict[str, Any]:
    """A user's training history and stored events (with item names where the model knows them)."""
    fs = model.feature_space_
    try:
        index = int(fs.user_index([user_id])[0])
    except UnknownIdError:
        index = -1
    stored = events.history(user_id) if events else []
    if index < 0 and not stored:
        raise UnknownIdError(f"unknown user {user_id!r}: not in the model and no events stored")
    lookup = {id_key(i): n for n, i in enumerate(fs.item_ids)}

    def event_record(e: dict[str, Any]) -> dict[str, Any]:
        n = lookup.get(e["item_id"], -1)
        known = {"item_id": fs.item_ids[n], "name": fs.item_names[n]} if n >= 0 else {}
        fields = ("timestamp", "weight", "received")
        return {"item_id": e["item_id"], "name": e["item_id"], **known, **{k: e[k] for k in fields}}

    return {
        "user_id": fs.user_ids[index] if index >= 0 else user_id,
        "known_to_model": index >= 0,
        "training": [item_record(model, int(i)) for i in model.train_matrix_[index].indices] if index >= 0 else [],
        "events": [event_record(e) for e in stored],
        "attributes": events.attributes_of(user_id) if events else {},
    }


def require_store(events: EventStore | None) -> EventStore:
    """The event store, or an error saying how to start a server with one."""
    if events is None:
        raise ParameterError("this server has no event store: start it with --store PATH_OR_URL")
    return events
