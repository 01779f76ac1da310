"""Explainer: the contract every attribution method follows (one class, one verb)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from whyrec.errors import ParameterError
from whyrec.explain.explanation import Explanations

EXPLAINERS: dict[str, type[Explainer]] = {}


class Explainer:
    """Maps (model, bags, targets) to one signed relevance per bag token.

    Subclasses set `name` (how users select them) and implement :meth:`attribute`.
    """

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            EXPLAINERS[cls.name] = cls

    def supports(self, model: Any) -> bool:
        """Whether this method can explain `model`."""
        return True

    def attribute(self, model: Any, bags: sp.csr_matrix, targets: np.ndarray) -> Explanations:
        raise NotImplementedError


def get_explainer(method: str, **options: Any) -> Explainer:
    """The explainer registered under `method` (e.g. "lrp")."""
    cls = EXPLAINERS.get(method)
    if cls is None:
        raise ParameterError(f"unknown explanation method {method!r}; available: {', '.join(sorted(EXPLAINERS))}")
    return cls(**options)


def explain_pairs(model: Any, bags: sp.csr_matrix, targets: np.ndarray, *, method: str = "lrp") -> Explanations:
    """Explain each (bag, target item) pair with `method`."""
    explainer = get_explainer(method)
    if not explainer.supports(model):
        raise ParameterError(f"method {method!r} cannot explain a {type(model).__name__} model")
    targets = np.asarray(targets, dtype=np.int64)
    if bags.shape[0] != len(targets):
        raise ParameterError(f"{bags.shape[0]} profiles but {len(targets)} targets")
    return explainer.attribute(model, bags, targets)
