"""The work behind the explanation endpoints, as plain functions of (model, bag).

The service runs them in its own threads for the fast methods and in the worker processes of
:class:`~whyrec.serve.pool.SlowPool` for the slow ones; both paths build the same response dict,
and a worker needs nothing but the model and the request's bag (events already folded in).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from whyrec.errors import ParameterError
from whyrec.explain import get_explainer, why_not
from whyrec.explain.explanation import Reason
from whyrec.models.recommender import Recommender

# Methods that answer in a few milliseconds at most; the others go to the worker pool.
FAST_METHODS = frozenset(
    {"lrp", "shapley", "occlusion", "read_out", "decomposition", "saliency", "input_x_gradient", "deeplift"}
)


def is_slow(method: str) -> bool:
    return method not in FAST_METHODS


def explain_body(
    name: str, model: Recommender, bag: sp.csr_matrix, item_id: Any, method: str, top: int, n: int, user_id: Any
) -> dict[str, Any]:
    """The body of a POST /explain response."""
    fs = model.feature_space_
    explainer = get_explainer(method, **({"n": n} if method == "counterfactual" else {}))
    if not explainer.supports(model):
        raise ParameterError(f"method {method!r} cannot explain a {type(model).__name__} model")
    target = fs.item_index([item_id])
    e = explainer.attribute(model, bag, target)[0]
    return {
        "model": name,
        "user_id": user_id,
        "item_id": e.item_id,
        "item": e.item_name,
        "score": float(e.score),
        "baseline": float(e.baseline),
        "method": e.method,
        "sentence": e.sentence(),
        "reasons": [reason_body(r) for r in e.top(top)],
        "against": [reason_body(r) for r in e.bottom(min(top, 5))],
        "counterfactual": dict(e.details) if e.details else None,
    }


def why_not_body(name: str, model: Recommender, bag: sp.csr_matrix, item_id: Any, n: int, top: int) -> dict[str, Any]:
    """The body of a POST /why-not response."""
    answer = why_not(model, bag, item_id, n=n, top=top)
    out = answer.to_dict()
    return {
        "model": name,
        "item_id": answer.item_id,
        "item": answer.item_name,
        "n": answer.n,
        "rank": answer.rank,
        "score": answer.score,
        "gap": out["gap"],
        "recommended": answer.recommended,
        "holding_back": [reason_body(r) for r in answer.holding_back],
        "addition": answer.addition,
        "message": answer.message,
    }


def reason_body(reason: Reason) -> dict[str, Any]:
    return {"name": reason.name, "kind": reason.kind, "field": reason.field, "relevance": float(reason.relevance),
            "words": reason.words()}  # fmt: skip


def pack(bag: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """A bag as plain arrays, cheap to send to a worker process."""
    bag = sp.csr_matrix(bag)
    return bag.data, bag.indices, bag.indptr, bag.shape


def unpack(packed: tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]) -> sp.csr_matrix:
    data, indices, indptr, shape = packed
    return sp.csr_matrix((data, indices, indptr), shape=shape)


def fields_of(details: Mapping[str, Any] | None, names: Any) -> dict[str, Any] | None:
    return None if details is None else {k: v for k, v in details.items() if k in names}
