"""Explainer: the contract every attribution method follows (one class, one verb), the registry of
methods, and :func:`explain`, the one entry point from a model and its inputs to explanations.

Every explainer maps (model, bags, targets) to an :class:`~whyrec.explain.Explanations`: one signed
relevance per bag token. A bag is a row of a CSR matrix of tokens: a user's profile for
recommenders, a row's ``field=value`` tokens for CTR models. Attribution networks explain
themselves: their read-out is the ``read_out`` method, which takes their group inputs instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from whyrec.choices import METHODS
from whyrec.data.ctr import CTRData
from whyrec.data.profiles import Profile, check_nonempty
from whyrec.errors import ParameterError
from whyrec.explain.explanation import Explanations, NamedVocabulary, Vocabulary
from whyrec.models.base import Estimator
from whyrec.models.ctr.model import TARGETS, CTRModel
from whyrec.models.recommender import Recommender

EXPLAINERS: dict[str, type[Explainer]] = {}


class Explainer:
    """Maps (model, bags, targets) to one signed relevance per bag token.

    Subclasses set `name` (how users select them), `batched` (whether one call explains a
    whole batch with vectorised work, as opposed to one perturbation run per pair) and implement
    :meth:`attribute`; :meth:`supports` says which models they can explain.
    """

    name: ClassVar[str] = ""
    batched: ClassVar[bool] = True
    summary: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            if cls.__module__.startswith("whyrec.") and cls.name not in METHODS:
                raise TypeError(
                    f"whyrec's explainer {cls.__name__} registers as {cls.name!r}: add it to choices.METHODS"
                )
            EXPLAINERS[cls.name] = cls

    def supports(self, model: Any) -> bool:
        """Whether this method can explain `model` (default: any model that scores bags)."""
        return isinstance(model, Recommender | CTRModel)

    def attribute(self, model: Any, bags: Any, targets: np.ndarray) -> Explanations:
        """Relevance of every token of every bag to its target's score."""
        raise NotImplementedError

    def _result(
        self, model: Any, relevance: sp.csr_matrix, targets: np.ndarray, scores: Any, baselines: Any
    ) -> Explanations:
        return Explanations(
            relevance=relevance,
            targets=np.asarray(targets, dtype=np.int64),
            scores=np.asarray(scores, dtype=np.float64),
            baselines=np.asarray(baselines, dtype=np.float64),
            method=self.name,
            vocabulary=vocabulary_of(model),
        )


def vocabulary_of(model: Any) -> Vocabulary:
    """How `model`'s tokens and targets are named in explanations."""
    fs = model.feature_space_
    if isinstance(model, CTRModel):
        return NamedVocabulary(fs.token_names, fs.token_kinds, fs.token_fields, list(TARGETS), list(TARGETS))
    return fs


def get_explainer(method: str, **options: Any) -> Explainer:
    """The explainer registered under `method` (e.g. "lrp")."""
    cls = EXPLAINERS.get(str(method))
    if cls is None:
        raise ParameterError(f"unknown explanation method {method!r}; available: {', '.join(sorted(EXPLAINERS))}")
    return cls(**options)


def explainer_for(model: Any, method: str | None = None, **options: Any) -> Explainer:
    """The explainer of `method` (default: the model's exact one) with `options`, if it can explain `model`."""
    method = method or default_method(model)
    explainer = get_explainer(method, **options)
    if not explainer.supports(model):
        raise ParameterError(
            f"method {method!r} cannot explain a {type(model).__name__} model; "
            f"methods that can: {', '.join(methods_for(model)) or 'none'}"
        )
    return explainer


def methods_for(model: Any) -> list[str]:
    """The names of every method that can explain `model`, sorted."""
    return sorted(name for name, cls in EXPLAINERS.items() if cls().supports(model))


# the methods whose relevances plus baseline are the model's score, exactly
EXACT_METHODS = ("blend", "lrp", "read_out", "decomposition")


def default_method(model: Any) -> str:
    """The method an explanation uses when none is named: the model's exact one."""
    for name in (*EXACT_METHODS, "occlusion"):
        if name in EXPLAINERS and EXPLAINERS[name]().supports(model):
            return name
    raise ParameterError(f"no explanation method can explain a {type(model).__name__}")


def method_enum() -> type[StrEnum]:
    """The registered method names as an enum (the CLI's choices, the OpenAPI schema's enum)."""
    return StrEnum("ExplanationMethod", {name: name for name in sorted(EXPLAINERS)})  # type: ignore[return-value]


def explain_pairs(model: Any, bags: Any, targets: np.ndarray, *, method: str | None = None) -> Explanations:
    """Explain each (bag, target) pair with `method`: the batch primitive on dense indices.

    `bags` is a CSR batch of bags over the model's tokens and `targets` one dense item index per
    bag (0, the click, for CTR models).
    """
    explainer = explainer_for(model, method)
    targets = np.asarray(targets, dtype=np.int64)
    if bags.shape[0] != len(targets):
        raise ParameterError(f"{bags.shape[0]} profiles but {len(targets)} targets")
    return explainer.attribute(model, bags, targets)


def explain(model: Estimator, who: Any, items: Any = None, *, method: str | None = None) -> Explanations:
    """Why `model` scored what it scored: one signed relevance per input token.

    Parameters
    ----------
    model : Estimator
        A fitted recommender, CTR model or attribution network.
    who : object
        Recommenders: a known user ID, a list of them, a :class:`~whyrec.data.Profile` (a user
        never seen in training), a list of profiles, or a CSR batch of bags. CTR models:
        :class:`~whyrec.data.ctr.CTRData` rows, a raw DataFrame or a token matrix. Attribution
        networks: a :class:`~whyrec.models.attribution_network.GroupBatch` or a dense input matrix.
    items : object, optional
        Recommenders: the item ID(s) to explain, paired element by element with `who` (one user
        or profile is paired with every item); with a CSR batch of bags, dense item indices.
        Unused by the other families, which have one output.
    method : str, optional
        A registered method (see :data:`EXPLAINERS`); by default the model's exact one:
        ``lrp`` for RecoNet, ``decomposition`` for EASE, item kNN and iALS, ``occlusion`` for
        other recommenders and CTR models, ``read_out`` for attribution networks.

    Returns
    -------
    Explanations
        One explanation per (input, target) pair.
    """
    method = method or default_method(model)
    if isinstance(model, Recommender):
        bags, targets = _recommender_pairs(model, who, items)
        return explain_pairs(model, bags, targets, method=method)
    if isinstance(model, CTRModel):
        if not isinstance(who, CTRData | pd.DataFrame | np.ndarray):
            raise ParameterError("a CTR model explains CTRData rows, a DataFrame or a token matrix")
        bags = model.bags(who)
        return explain_pairs(model, bags, np.zeros(bags.shape[0], np.int64), method=method)
    return explainer_for(model, method).attribute(model, who, np.zeros(0, np.int64))


def _recommender_pairs(model: Recommender, who: Any, items: Any) -> tuple[sp.csr_matrix, np.ndarray]:
    """Bags and dense targets of the (user or profile, item) pairs `who` and `items` describe."""
    model._check_fitted()
    fs = model.feature_space_
    if items is None:
        raise ParameterError("name the item(s) to explain")
    if sp.issparse(who):
        bags = model._check_profiles(who)
        targets = np.atleast_1d(np.asarray(items, dtype=np.int64))
        if len(targets) and (targets.min() < 0 or targets.max() >= fs.n_items):
            raise ParameterError(f"item indices must lie in 0..{fs.n_items - 1}")
    else:
        targets = np.atleast_1d(fs.item_index(items))
        profiles = [who] if isinstance(who, Profile) else who
        if isinstance(profiles, Sequence) and profiles and all(isinstance(p, Profile) for p in profiles):
            bags = sp.vstack([model.profile(p.items, p.attributes) for p in profiles], format="csr")
        else:
            users = np.atleast_1d(fs.user_index(who))
            unique, inverse = np.unique(users, return_inverse=True)
            bags = model.user_profiles(unique)[inverse]
            check_nonempty(bags, list(np.asarray(fs.user_ids, dtype=object)[users]))
    if bags.shape[0] == 1 and len(targets) > 1:
        bags = bags[np.zeros(len(targets), np.int64)]
    if bags.shape[0] != len(targets):
        raise ParameterError(f"{bags.shape[0]} users or profiles but {len(targets)} items; pass one item per user")
    return bags, targets
