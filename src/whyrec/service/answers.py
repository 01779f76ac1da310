"""What a request asks of a model, answered from a bag: recommendations, explanations, why-not, insights.

Each answer is computed once here and returned as a plain dict (the HTTP service's response body,
the command line's JSON), so every interface ranks, explains and re-scores through the same calls.
The slow methods run these same functions in the service's worker processes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from whyrec.errors import ParameterError, UnknownIdError
from whyrec.explain import default_method, explain_top_k, why_not
from whyrec.explain.base import explainer_for
from whyrec.explain.counterfactual import why_not_target
from whyrec.explain.edits import ProfileEdits
from whyrec.explain.explanation import Explanation, Reason
from whyrec.explain.layered import layers
from whyrec.models.recommender import Recommender
from whyrec.service.profiles import items_with


def recommendations(
    model: Recommender,
    bag: sp.csr_matrix,
    *,
    k: int = 10,
    exclude_seen: bool = True,
    without: Sequence[Any] = (),
    item_filter: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The top `k` items for the bag (`k` at most the catalogue), best first: rank, ID, name and the
    score the model ranks by.

    `without` leaves those history items out of the profile (what if the user had not picked them);
    they stay out of the list too. `item_filter` keeps only items with those attribute values.
    """
    fs = model.feature_space_
    seen = sp.csr_matrix(bag[:, : fs.n_items])  # items are the first tokens: the history
    if without:
        edits = ProfileEdits(model, bag)
        leave_out = fs.item_index(list(without))
        outside = np.setdiff1d(leave_out, edits.history)
        if len(outside):
            raise ParameterError(f"item {fs.item_ids[outside[0]]!r} is not in the profile's history")
        bag = edits.removal_bags(edits.mask(leave_out))
    scores = model.score(bag)
    exclude = seen if exclude_seen else sp.csr_matrix(seen.shape, dtype=np.float32)
    if item_filter:
        allowed = items_with(model, item_filter)
        if not allowed.any():
            raise ParameterError(f"no item matches the filter {dict(item_filter)}")
        exclude = exclude + sp.csr_matrix(np.where(allowed, 0.0, 1.0).astype(np.float32)[None, :])
    recs = model.top_k(scores, k, exclude)
    return [
        {"rank": r + 1, "item_id": fs.item_ids[i], "name": fs.item_names[i], "score": float(s)}
        for r, (i, s) in enumerate(zip(recs.items[0], recs.scores[0], strict=True))
        if np.isfinite(s)
    ]


def explanation(
    model: Recommender, bag: sp.csr_matrix, item_id: Any, *, method: str | None = None, n: int = 10
) -> Explanation:
    """Why the model scored `item_id` as it did for the bag: one signed relevance per token.

    `method` defaults to the model's exact one; ``n`` is the list length of the counterfactual method.
    """
    options = {"n": n} if method == "counterfactual" else {}
    return explainer_for(model, method, **options).attribute(model, bag, model.feature_space_.item_index([item_id]))[0]


def check_explain(model: Recommender, item_id: Any, method: str | None = None) -> None:
    """Refuse, before any work is queued, what :func:`explanation` would refuse: an unknown item, a
    method that cannot explain the model."""
    model.feature_space_.item_index([item_id])
    explainer_for(model, method)


def check_why_not(model: Recommender, bag: sp.csr_matrix, item_id: Any) -> None:
    """Refuse, before any work is queued, an unknown item or one already in the bag's history."""
    why_not_target(model, bag, item_id)


def explanation_groups(model: Recommender, e: Explanation, user_id: Any = None) -> dict[str, list[dict[str, Any]]]:
    """The explanation's layers (:func:`whyrec.explain.layered.layers`): by kind, by each item
    attribute, and by time where the model kept the training times of the known user `user_id`."""
    times: dict[int, int] = {}
    if user_id is not None:
        try:
            times = model.history_times(int(model.feature_space_.user_index([user_id])[0]))
        except UnknownIdError:  # a user known only from the event store: no training times
            times = {}
    chosen = layers(e, item_values=model.item_values_, times=times)
    return {name: [g.to_dict() for g in groups] for name, groups in chosen.items()}


def explanation_body(
    e: Explanation, *, top: int = 10, groups: dict[str, list[dict[str, Any]]] | None = None
) -> dict[str, Any]:
    """An explanation as a response: the score, its baseline, the sentence, the strongest reasons
    and the layers of `groups`."""
    return {
        "item_id": e.item_id,
        "item": e.item_name,
        "score": float(e.score),
        "baseline": float(e.baseline),
        "method": e.method,
        "sentence": e.sentence(),
        "reasons": [reason_body(r) for r in e.top(top)],
        "against": [reason_body(r) for r in e.bottom(min(top, 5))],
        "counterfactual": dict(e.details) if e.details else None,
        "groups": groups or {},
    }


def explain_answer(
    model: Recommender,
    bag: sp.csr_matrix,
    item_id: Any,
    *,
    method: str | None = None,
    top: int = 10,
    n: int = 10,
    user_id: Any = None,
) -> dict[str, Any]:
    """:func:`explanation` as a response body, with its layers (see :func:`explanation_body`)."""
    e = explanation(model, bag, item_id, method=method, n=n)
    return explanation_body(e, top=top, groups=explanation_groups(model, e, user_id))


def why_not_answer(
    model: Recommender, bag: sp.csr_matrix, item_id: Any, *, n: int = 10, top: int = 10
) -> dict[str, Any]:
    """Why `item_id` is not in the bag's top `n`, and the one token whose addition would change that."""
    answer = why_not(model, bag, item_id, n=n, top=top)
    return {
        "item_id": answer.item_id,
        "item": answer.item_name,
        "n": answer.n,
        "rank": answer.rank,
        "score": answer.score,
        "gap": answer.to_dict()["gap"],
        "recommended": answer.recommended,
        "holding_back": [reason_body(r) for r in answer.holding_back],
        "addition": answer.addition,
        "together": answer.together,
        "message": answer.message,
    }


def reason_body(reason: Reason) -> dict[str, Any]:
    """One reason: the token, its kind and field, its signed relevance and the words for it."""
    return {
        "name": reason.name,
        "label": reason.label,
        "kind": reason.kind,
        "field": reason.field,
        "relevance": float(reason.relevance),
        "words": reason.words(),
    }


def field_shares(model: Recommender, *, sample: int = 300, method: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Which fields drive the top recommendation of `sample` users with a profile (drawn with `seed`)."""
    method = method or default_method(model)
    profiles = model.user_profiles(np.arange(model.feature_space_.n_users))
    active = np.flatnonzero(np.diff(profiles.indptr) > 0)
    users = np.sort(np.random.default_rng(seed).choice(active, min(sample, len(active)), replace=False))
    shares = explain_top_k(model, users, k=1, method=method).table().field_shares()
    return {
        "method": method,
        "users": len(users),
        "fields": [{"field": str(f), "share": float(v)} for f, v in shares.items()],
    }
