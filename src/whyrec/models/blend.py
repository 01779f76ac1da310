"""Blend: a weighted sum of recommenders, each one's scores normalised per user.

For a bag b (one user), member m scores every item, s_m(b); its scores are normalised by the
affine map z_m = (s_m - μ_m(b)) / σ_m(b), with the mean and standard deviation over the catalogue
of that bag's scores, so that members on different scales weigh as their weights say. The blend
ranks by

    score_j(b) = Σ_m w_m z_mj(b).

The map is affine in each member's score for a given bag, so a blend of exactly explained members
is exactly explained: token i's relevance is Σ_m (w_m / σ_m) r_mi and the baseline
Σ_m (w_m / σ_m)(b_m - μ_m), with (r_m, b_m) member m's exact reasons (see
:class:`whyrec.explain.blend.BlendExplainer`). A token that several members use (a history item)
is one reason. Weights not given are chosen on the validation split by recall@50, over a grid on
the simplex.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from whyrec._artifact import decode_params, encode_params
from whyrec.data.dataset import Dataset
from whyrec.errors import DataError, ParameterError
from whyrec.metrics import evaluate
from whyrec.models.base import MODELS, TRAINING_STATE
from whyrec.models.recommender import Recommender
from whyrec.models.training import TrainingOptions

METRIC_K = 50


class Blend(Recommender):
    """A weighted sum of per-user normalised recommenders (see the module docstring).

    Parameters
    ----------
    members : sequence of mappings
        Each member as ``{"model": class name, "params": constructor parameters}``, for example
        ``{"model": "ALS", "params": {"factors": 256}}``; :meth:`of` builds a blend of fitted models.
    weights : sequence of float, optional
        One non-negative weight per member. Chosen on validation when omitted.
    grid : int
        Weight steps per member on the simplex when the weights are chosen (11: steps of 0.1).
    """

    supports_attributes = True

    def __init__(
        self, members: Sequence[Mapping[str, Any]] = (), weights: Sequence[float] | None = None, grid: int = 11
    ) -> None:
        self.members = members
        self.weights = weights
        self.grid = grid

    @property
    def use_attributes(self) -> bool:
        """Whether any member reads attribute tokens (the blend's bags then carry them)."""
        return any(m.uses_attributes for m in getattr(self, "members_", ()))

    @property
    def supports_profiles(self) -> bool:  # type: ignore[override]
        """A blend scores a new bag when every member does."""
        return all(m.supports_profiles for m in getattr(self, "members_", ()))

    @classmethod
    def of(cls, models: Sequence[Recommender], weights: Sequence[float]) -> Blend:
        """A blend of models already fitted on the same training data, with the given weights."""
        blend = cls([_spec(m) for m in models], weights=[float(w) for w in weights])
        blend._adopt(list(models))
        return blend

    def fit(
        self, train: Dataset, validation: Dataset | None = None, *, options: TrainingOptions | None = None
    ) -> Blend:
        """Fit every member on `train`, then choose the weights on `validation` unless given."""
        members = [_build(spec) for spec in self._checked_members()]
        for member in members:
            takes_options = "options" in inspect.signature(member.fit).parameters
            member.fit(train, validation, **({"options": options} if takes_options else {}))
        self._adopt(members)
        if self.weights is None:
            if validation is None or validation.n_interactions == 0:
                raise DataError("a blend without weights chooses them on validation: pass a validation split")
            self.weights_ = self.weigh(validation)[0]
        return self

    def _checked_members(self) -> list[Mapping[str, Any]]:
        if len(self.members) < 1:
            raise ParameterError("a blend needs at least one member")
        for spec in self.members:
            if not isinstance(spec, Mapping) or spec.get("model") not in MODELS:
                raise ParameterError(f"a blend member is {{'model': NAME, 'params': {{...}}}}, not {spec!r}")
            if not issubclass(MODELS[spec["model"]], Recommender) or spec["model"] == "Blend":
                raise ParameterError(f"a blend's members are recommenders other than blends, not {spec['model']}")
        if self.weights is not None:
            w = np.asarray(self.weights, dtype=float)
            if w.shape != (len(self.members),) or (w < 0).any() or w.sum() <= 0:
                raise ParameterError(f"weights must be {len(self.members)} non-negative numbers, not all 0")
        if int(self.grid) < 2:
            raise ParameterError(f"grid must be at least 2, got {self.grid}")
        return list(self.members)

    def _adopt(self, members: list[Recommender]) -> None:
        """Take the members and the training data they share (the richest bags any member reads)."""
        self._checked_members()
        for member in members:
            member._check_fitted()
            if member.feature_space_ is not members[0].feature_space_:
                raise DataError("a blend's members must be fitted on the same training data")
        reads = next((m for m in members if m.uses_attributes), members[0])
        self.members_ = members
        self.feature_space_ = reads.feature_space_
        self.train_matrix_ = reads.train_matrix_
        self.user_attributes_, self.item_attributes_ = reads.user_attributes_, reads.item_attributes_
        self.item_values_, self.train_times_ = members[0].item_values_, members[0].train_times_
        if self.weights is not None:
            self.weights_ = np.asarray(self.weights, dtype=np.float64)

    # -- scoring --------------------------------------------------------------------------------
    def member_bags(self, member: Recommender, bags: sp.csr_matrix) -> sp.csr_matrix:
        """The bags as `member` reads them: without attribute tokens when it reads none."""
        if member.uses_attributes:
            return bags
        bags = sp.csr_matrix(bags, copy=True)
        bags.data[bags.indices >= self.feature_space_.n_items] = 0
        bags.eliminate_zeros()
        return bags

    def member_scores(self, bags: sp.csr_matrix) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Each member's scores of the bags with their per-bag mean and standard deviation."""
        return [normalised_scores(member.score(self.member_bags(member, bags))) for member in self.members_]

    def _score(self, profiles: sp.csr_matrix) -> np.ndarray:
        return combine(self.member_scores(profiles), self.weights_)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        # a member scores a known user as it scores the user's bag (the contract suite checks it)
        return combine([normalised_scores(m.score_users(users)) for m in self.members_], self.weights_)

    def weigh(
        self, validation: Dataset, normalised: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
    ) -> tuple[np.ndarray, float]:
        """The simplex grid point with the best validation recall@50 (the first of ties), and that
        recall. `normalised` are the members' scores of the validation users (in ``np.unique``
        order), when already computed."""
        users = np.unique(validation.users)
        if normalised is None:
            normalised = [normalised_scores(m.score_users(users)) for m in self.members_]
        k = min(METRIC_K, self.feature_space_.n_items)
        steps = int(self.grid) - 1
        best, best_weights = -1.0, np.full(len(self.members_), 1.0 / len(self.members_))
        for point in itertools.product(range(steps + 1), repeat=len(self.members_)):
            if sum(point) != steps:
                continue
            weights = np.asarray(point, dtype=np.float64) / steps
            scorer = _Precomputed(users, combine(normalised, weights))
            score = evaluate(scorer, validation, exclude=self.train_matrix_, k=k, users=users)[f"recall@{k}"]
            if score > best:
                best, best_weights = score, weights
        return best_weights, best

    # -- persistence ----------------------------------------------------------------------------
    def _tensors(self) -> dict[str, np.ndarray]:
        return {f"m{n}.{k}": v for n, m in enumerate(self.members_) for k, v in m._tensors().items()}

    def _state(self) -> dict[str, Any]:
        states = [
            {"own": m._state(), **{k: getattr(m, f"{k}_") for k in TRAINING_STATE if hasattr(m, f"{k}_")}}
            for m in self.members_
        ]
        return {"weights": [float(w) for w in self.weights_], "members": states}

    def _restore_model(self, tensors: Mapping[str, np.ndarray], state: Mapping[str, Any]) -> None:
        members = []
        for n, (spec, saved) in enumerate(zip(self._checked_members(), state["members"], strict=True)):
            member = _build(spec)
            member.feature_space_, member.train_matrix_ = self.feature_space_, self.train_matrix_
            member.item_values_, member.train_times_ = self.item_values_, self.train_times_
            fs = self.feature_space_
            if member.uses_attributes:
                member.user_attributes_, member.item_attributes_ = self.user_attributes_, self.item_attributes_
            else:
                member.user_attributes_ = sp.csr_matrix((fs.n_users, fs.n_tokens), dtype=np.float32)
                member.item_attributes_ = sp.csr_matrix((fs.n_items, fs.n_tokens), dtype=np.float32)
            for key in TRAINING_STATE:
                if key in saved:
                    setattr(member, f"{key}_", saved[key])
            prefix = f"m{n}."
            own = {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
            member._restore_model(own, saved["own"])
            members.append(member)
        self.members_ = members
        self.weights_ = np.asarray(state["weights"], dtype=np.float64)


def normalised_scores(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores with each row's mean and standard deviation (1 where a row is constant)."""
    scores = np.asarray(scores, dtype=np.float64)
    spread = scores.std(axis=1)
    return scores, scores.mean(axis=1), np.where(spread > 0, spread, 1.0)


def combine(normalised: list[tuple[np.ndarray, np.ndarray, np.ndarray]], weights: np.ndarray) -> np.ndarray:
    """Σ_m w_m (s_m - μ_m) / σ_m, row by row."""
    total = np.zeros_like(normalised[0][0])
    for (scores, mean, spread), weight in zip(normalised, weights, strict=True):
        total += weight * (scores - mean[:, None]) / spread[:, None]
    return total.astype(np.float32)


class _Precomputed:
    """Scores computed once for some users, served to :func:`whyrec.metrics.evaluate`."""

    def __init__(self, users: np.ndarray, scores: np.ndarray) -> None:
        self.row = {int(u): n for n, u in enumerate(users)}
        self.scores = scores

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return self.scores[[self.row[int(u)] for u in users]]


def _spec(model: Recommender) -> dict[str, Any]:
    return {"model": type(model).__name__, "params": encode_params(model.get_params())}


def _build(spec: Mapping[str, Any]) -> Recommender:
    model = MODELS[spec["model"]](**decode_params(dict(spec.get("params", {}))))
    assert isinstance(model, Recommender)
    return model
