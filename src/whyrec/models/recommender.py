"""Recommender: the verbs every recommender answers, written once.

``fit(train, validation=None, *, options=None)`` learns from a :class:`~whyrec.data.Dataset`;
every recommender then answers ``score(profiles)``, ``score_pairs``, ``score_users(users)``,
``recommend(user_ids, k)`` and ``recommend_profile(items, user_attributes)``, and is saved and
loaded like every other whyrec model. The base class owns the parts that do not depend on the
model: input validation, profiles of known and new users, top-k selection, early-stopping
validation, and what a recommender stores beside its own tensors (vocabulary, training histories,
attribute matrices and, optionally, the split it was evaluated on).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from whyrec._artifact import TENSORS, Artifact, read_artifact, read_manifest
from whyrec.data.dataset import Dataset, interaction_matrix
from whyrec.data.features import FeatureSpace
from whyrec.data.profiles import build_profiles, check_nonempty
from whyrec.data.sparse import csr_rows
from whyrec.data.splits import Split
from whyrec.errors import DataError, ModelFormatError, ParameterError
from whyrec.metrics import evaluate
from whyrec.models.base import Content, Estimator
from whyrec.models.training import Monitor, Objective, Trainer, TrainingOptions, adam

FEATURES = "feature_space.json"
SPLIT_TENSORS = "split.safetensors"
PROFILE_CACHE_MAX_NNZ = 20_000_000  # above this, known users' bags are built on demand
VALIDATION_USERS = 3000  # validation users sampled for early stopping
Validator = Callable[[], dict[str, float]]


@dataclass(frozen=True)
class Recommendations:
    """Top-k items per profile: external item IDs, dense item indices and scores (n x k)."""

    item_ids: np.ndarray
    items: np.ndarray
    scores: np.ndarray


class Recommender(Estimator, abstract=True):
    """Base class of the recommenders (see the module docstring)."""

    family = "recommender"
    supports_attributes: ClassVar[bool] = False
    # can score a user from a new profile (attributes, or a history it was not trained on)?
    supports_profiles: ClassVar[bool] = True

    feature_space_: FeatureSpace
    train_matrix_: sp.csr_matrix
    user_attributes_: sp.csr_matrix
    item_attributes_: sp.csr_matrix
    item_values_: sp.csr_matrix  # the catalogue's attribute values, read or not: what layered reasons group by
    train_times_: sp.csr_matrix | None = None  # users x items: each pair's latest time, where the data had times

    # -- fitting --------------------------------------------------------------------------------
    def fit(
        self, train: Dataset, validation: Dataset | None = None, *, options: TrainingOptions | None = None
    ) -> Recommender:
        """Learn from `train`; epoch-trained models early-stop on `validation` when given.

        `options` are runtime settings (progress, device, checkpoints); models fitted in closed
        form or by ``implicit`` ignore them. Repeated events counted on loading
        (:attr:`~whyrec.data.Dataset.weights`) are confidence for :class:`ALS`; every other model
        learns from whether a user interacted with an item, once.
        """
        raise NotImplementedError

    def _remember(self, train: Dataset, use_attributes: bool) -> None:
        """Keep what inference needs from the training data: vocabulary, histories, attributes."""
        if not isinstance(train, Dataset):
            raise DataError(f"fit expects a whyrec Dataset, not {type(train).__name__}")
        if train.n_interactions == 0:
            raise DataError("the training set has no interactions")
        self.feature_space_ = train.feature_space
        self.train_matrix_ = train.matrix()
        self.item_values_ = train.item_attributes
        self.train_times_ = _latest_times(train)
        fs = train.feature_space
        if use_attributes:
            self.user_attributes_ = train.user_attributes
            self.item_attributes_ = train.item_attributes
        else:
            self.user_attributes_ = sp.csr_matrix((fs.n_users, fs.n_tokens), dtype=np.float32)
            self.item_attributes_ = sp.csr_matrix((fs.n_items, fs.n_tokens), dtype=np.float32)

    def _validator(self, validation: Dataset | None, *, k: int, max_users: int, seed: int) -> Validator | None:
        """Early stopping's callback: recall@k on (a sample of) the validation users, or None."""
        if validation is None or validation.n_interactions == 0:
            return None
        if validation.feature_space is not self.feature_space_:
            raise DataError("train and validation must share one FeatureSpace (use whyrec.data.split)")
        users = np.unique(validation.users)
        if len(users) > max_users:
            users = np.sort(np.random.default_rng([seed, 0]).choice(users, max_users, replace=False))
        exclude = self.train_matrix_

        def validate() -> dict[str, float]:
            return {f"recall@{k}": evaluate(self, validation, exclude=exclude, k=k, users=users)[f"recall@{k}"]}

        return validate

    def _fit_module(
        self,
        module: torch.nn.Module,
        *,
        batches: Callable[[int, np.random.Generator], Any],
        loss: Callable[[Any], tuple[torch.Tensor, int]],
        validation: Dataset | None,
        options: TrainingOptions | None,
        after_step: Callable[[], None] | None = None,
        batches_per_epoch: int | None = None,
        export: Callable[[], None] | None = None,
    ) -> None:
        """Train `module` with Adam through the shared :class:`Trainer`, with the model's own ``lr``,
        ``epochs`` and ``seed``, early-stopping after ``patience`` epochs on validation
        recall@``eval_k`` (at most the catalogue); sets ``history_``, ``best_epoch_`` and ``best_metric_``.

        `export` copies the module's weights into the attributes that scoring reads; it runs
        before every validation and once at the end, on the best weights.
        """
        fingerprint = self.fingerprint(n_tokens=self.feature_space_.n_tokens, nnz=int(self.train_matrix_.nnz))
        params = self.get_params()
        lr, epochs, patience, seed = (
            float(params["lr"]),
            int(params["epochs"]),
            int(params["patience"]),
            int(params["seed"]),
        )
        eval_k = min(int(params["eval_k"]), self.feature_space_.n_items)
        name = type(self).__name__
        trainer = Trainer(
            epochs=epochs,
            seed=seed,
            options=(options or TrainingOptions()).cpu_only(name),
            name=name,
            monitor=Monitor(f"recall@{eval_k}", "max", patience),
            fingerprint=fingerprint,
        )
        validate = self._validator(validation, k=eval_k, max_users=VALIDATION_USERS, seed=seed)
        if validate is not None and export is not None:
            score_only = validate

            def validate() -> dict[str, float]:
                export()
                return score_only()

        result = trainer.fit(
            Objective(
                module=module,
                optimizers=[adam(module.parameters(), lr=lr)],
                batches=batches,
                loss=loss,
                after_step=after_step,
                validate=validate,
                batches_per_epoch=batches_per_epoch,
            )
        )
        if export is not None:
            export()
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.best_metric_ = result.best_metric

    # -- scoring --------------------------------------------------------------------------------
    def score(self, profiles: sp.csr_matrix) -> np.ndarray:
        """Scores (n_profiles x n_items) of bags of tokens given as a binary CSR matrix."""
        return self._score(self._check_profiles(profiles))

    def score_pairs(self, profiles: sp.csr_matrix, targets: np.ndarray) -> np.ndarray:
        """Score of one target item per profile (explainers and deletion tests need only these)."""
        profiles = self._check_profiles(profiles)
        targets = np.asarray(targets, dtype=np.int64).reshape(-1)
        if len(targets) != profiles.shape[0]:
            raise DataError(f"{profiles.shape[0]} profiles but {len(targets)} targets")
        if len(targets) and (targets.min() < 0 or targets.max() >= self.feature_space_.n_items):
            raise DataError(f"target item indices must lie in 0..{self.feature_space_.n_items - 1}")
        return self._score_pairs(profiles, targets)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Scores (n_users x n_items) of known users given by dense index."""
        self._check_fitted()
        users = np.asarray(users)
        if users.ndim != 1 or not np.issubdtype(users.dtype, np.integer):
            raise DataError("users must be a one-dimensional array of dense user indices")
        if len(users) and (users.min() < 0 or users.max() >= self.feature_space_.n_users):
            raise DataError(f"user indices must lie in 0..{self.feature_space_.n_users - 1}")
        return self._score_users(users.astype(np.int64))

    def _score(self, profiles: sp.csr_matrix) -> np.ndarray:
        """The model's scores of checked profiles (what subclasses implement)."""
        raise NotImplementedError

    def _score_pairs(self, profiles: sp.csr_matrix, targets: np.ndarray, batch_size: int = 2048) -> np.ndarray:
        out = np.empty(len(targets), dtype=np.float32)
        for start in range(0, len(targets), batch_size):
            block = self._score(profiles[start : start + batch_size])
            out[start : start + len(block)] = block[np.arange(len(block)), targets[start : start + batch_size]]
        return out

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self._score(self.user_profiles(users))

    def _check_profiles(self, profiles: sp.csr_matrix) -> sp.csr_matrix:
        """`profiles` as CSR, checked against this model's vocabulary."""
        self._check_fitted()
        if not sp.issparse(profiles):
            raise DataError("profiles must be a scipy CSR matrix of shape (n_profiles, n_tokens)")
        profiles = sp.csr_matrix(profiles)
        if profiles.shape[1] != self.feature_space_.n_tokens:
            raise DataError(
                f"profiles have {profiles.shape[1]} columns; this model's feature space has "
                f"{self.feature_space_.n_tokens} tokens"
            )
        return profiles

    def user_profiles(self, users: np.ndarray) -> sp.csr_matrix:
        """Bags of tokens of known users (dense indices): training history plus attributes."""
        self._check_fitted()
        users = np.asarray(users, dtype=np.int64)
        if len(users) <= 64 and self.train_matrix_.nnz <= PROFILE_CACHE_MAX_NNZ:
            return csr_rows(self._all_profiles(), users)  # serving: rows of a cache built once
        return build_profiles(self.train_matrix_[users], self.user_attributes_[users], self.item_attributes_)

    def _all_profiles(self) -> sp.csr_matrix:
        key = (id(self.train_matrix_), id(self.user_attributes_), id(self.item_attributes_))
        cached = getattr(self, "_profile_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, build_profiles(self.train_matrix_, self.user_attributes_, self.item_attributes_))
            self._profile_cache = cached
        return cached[1]

    def history(self, profiles: sp.csr_matrix) -> sp.csr_matrix:
        """The item part of profile bags (n x n_items, binary)."""
        return sp.csr_matrix(profiles[:, : self.feature_space_.n_items], dtype=np.float32)

    def user_attribute_tokens(self, profiles: sp.csr_matrix) -> sp.csr_matrix:
        """Profile bags with only their user-attribute tokens kept (n x n_tokens)."""
        fs = self.feature_space_
        keep = np.zeros(fs.n_tokens, dtype=np.float32)
        keep[fs.n_items : fs.n_items + sum(len(f.values) for f in fs.user_fields)] = 1.0
        out = sp.csr_matrix(profiles.multiply(keep[None, :]), dtype=np.float32)
        out.eliminate_zeros()  # the product stores the zeroed tokens explicitly; a bag must not carry them
        return out

    def profile(self, items: Sequence[Any] = (), user_attributes: Mapping[str, Any] | None = None) -> sp.csr_matrix:
        """The bag (1 x n_tokens) of a user described by item IDs and raw attribute values.

        This is how a user never seen in training reaches the model: no retraining needed.
        """
        self._check_fitted()
        fs = self.feature_space_
        item_index = fs.item_index(list(items)) if len(items) else np.zeros(0, np.int64)
        history = interaction_matrix(np.zeros(len(item_index), np.int64), item_index, 1, fs.n_items)
        attrs = sp.csr_matrix((1, fs.n_tokens), dtype=np.float32)
        if user_attributes:
            tokens = fs.encode_attributes("user", user_attributes)
            if self.uses_attributes:
                attrs = sp.csr_matrix(
                    (np.ones(len(tokens), np.float32), tokens, [0, len(tokens)]), shape=(1, fs.n_tokens)
                )
        bag = build_profiles(history, attrs, self.item_attributes_)
        check_nonempty(bag)
        return bag

    def with_history(self, bag: sp.csr_matrix, items: np.ndarray) -> sp.csr_matrix:
        """`bag` (1 x n_tokens) with the items at dense indices `items` added to its history (and
        their attribute tokens), as a user's new events add them: no retraining needed."""
        fs = self.feature_space_
        items = np.asarray(items, dtype=np.int64)
        added = interaction_matrix(np.zeros(len(items), np.int64), items, 1, fs.n_items)
        history = self.history(bag) + added
        history.data[:] = 1.0
        return build_profiles(sp.csr_matrix(history), self.user_attribute_tokens(bag), self.item_attributes_)

    @property
    def uses_attributes(self) -> bool:
        """Whether this model reads attribute tokens (it supports them and was asked to)."""
        return bool(getattr(self, "use_attributes", False)) and self.supports_attributes

    # -- recommending ---------------------------------------------------------------------------
    def recommend(self, user_ids: Any, k: int = 10, *, exclude_seen: bool = True) -> Recommendations:
        """Top-k items for known users (external IDs; one or many), best first."""
        self._check_fitted()
        users = self.feature_space_.user_index(user_ids)
        profiles = self.user_profiles(users)
        labels = list(np.atleast_1d(np.asarray(user_ids, dtype=object)))
        check_nonempty(profiles, labels)
        exclude = self.train_matrix_[users] if exclude_seen else None
        return self.top_k(self.score_users(users), k, exclude)

    def recommend_profile(
        self,
        items: Sequence[Any] = (),
        user_attributes: Mapping[str, Any] | None = None,
        k: int = 10,
        *,
        exclude_seen: bool = True,
    ) -> Recommendations:
        """Top-k items for a user never seen in training (cold start, no retraining)."""
        bag = self.profile(items, user_attributes)
        exclude = bag[:, : self.feature_space_.n_items] if exclude_seen else None
        return self.top_k(self.score(bag), k, exclude)

    def top_k(self, scores: np.ndarray, k: int, exclude: sp.csr_matrix | None = None) -> Recommendations:
        """Best k items of each row of `scores`, skipping the non-zeros of `exclude`."""
        n_items = self.feature_space_.n_items
        k = check_k(k, n_items)
        scores = np.array(scores, dtype=np.float32, copy=True)
        if exclude is not None:
            rows, cols = exclude.nonzero()
            scores[rows, cols] = -np.inf
        values, index = torch.topk(torch.from_numpy(scores), k, dim=1)
        items = index.numpy()
        ids = np.asarray(self.feature_space_.item_ids, dtype=object)[items]
        return Recommendations(item_ids=ids, items=items, scores=values.numpy())

    # -- persistence ----------------------------------------------------------------------------
    def history_times(self, user: int) -> dict[int, int]:
        """Each training item of user `user` (a dense index) and its latest time; empty without times."""
        if self.train_times_ is None or not 0 <= user < self.train_times_.shape[0]:
            return {}
        start, end = self.train_times_.indptr[user], self.train_times_.indptr[user + 1]
        items, times = self.train_times_.indices[start:end], self.train_times_.data[start:end]
        return dict(zip(items.tolist(), times.tolist(), strict=True))

    def save(self, path: str | os.PathLike, *, split: Split | None = None, info: dict[str, Any] | None = None) -> Path:
        """Write the model to directory `path` atomically; tensors in safetensors, the rest JSON.

        `split` (optional) is stored with the model so that ``whyrec evaluate`` can reuse it;
        `info` is free JSON metadata (the data spec, the command) kept in the manifest.
        """
        self._check_fitted()
        content, info = self._content(), dict(info or {})
        if split is not None:
            content.tensors[SPLIT_TENSORS] = _split_tensors(split)
            info["split"] = split.config
        return self._write(path, content, info)

    def _content(self) -> Content:
        tensors = {**_csr_tensors("train", self.train_matrix_)}
        tensors.update(_csr_tensors("user_attr", self.user_attributes_))
        tensors.update(_csr_tensors("item_attr", self.item_attributes_))
        if self.item_values_.nnz != self.item_attributes_.nnz:  # stored once where they are the same
            tensors.update(_csr_tensors("item_values", self.item_values_))
        if self.train_times_ is not None:
            tensors.update(_csr_tensors("train_times", self.train_times_))
            tensors["train_times.data"] = self.train_times_.data.astype(np.int64)
        tensors.update({f"model.{k}": np.ascontiguousarray(v) for k, v in self._tensors().items()})
        return Content({TENSORS: tensors}, {FEATURES: self.feature_space_.to_dict()}, self._state())

    def _restore(self, artifact: Artifact) -> None:
        if FEATURES not in artifact.documents or TENSORS not in artifact.tensors:
            raise KeyError(f"{FEATURES} or {TENSORS}")
        self.feature_space_ = fs = FeatureSpace.from_dict(artifact.documents[FEATURES])
        tensors = artifact.tensors[TENSORS]
        self.train_matrix_ = _csr_from("train", tensors, (fs.n_users, fs.n_items))
        self.user_attributes_ = _csr_from("user_attr", tensors, (fs.n_users, fs.n_tokens))
        self.item_attributes_ = _csr_from("item_attr", tensors, (fs.n_items, fs.n_tokens))
        stored = "item_values" if "item_values.indptr" in tensors else "item_attr"  # earlier models: the same
        self.item_values_ = _csr_from(stored, tensors, (fs.n_items, fs.n_tokens))
        self.train_times_ = None
        if "train_times.data" in tensors:
            self.train_times_ = _csr_from("train_times", tensors, (fs.n_users, fs.n_items))
            self.train_times_.data = tensors["train_times.data"].astype(np.int64)
        own = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
        self._restore_model(own, artifact.state)

    def _tensors(self) -> dict[str, np.ndarray]:
        """Model-specific learned tensors (numpy) to save."""
        return {}

    def _state(self) -> dict[str, Any]:
        """Model-specific JSON state (training history, ...)."""
        return {}

    def _restore_model(self, tensors: Mapping[str, np.ndarray], state: Mapping[str, Any]) -> None:
        """Rebuild model-specific state from saved tensors and JSON state."""


def load_split(path: str | os.PathLike) -> Split:
    """The split saved with a model (raises ModelFormatError when none was saved)."""
    manifest = read_manifest(path)
    if SPLIT_TENSORS not in manifest["files"]:
        raise ModelFormatError(f"{path} was saved without its split; retrain with `whyrec train`")
    artifact = read_artifact(path)
    fs = FeatureSpace.from_dict(artifact.documents[FEATURES])
    tensors, split_tensors = artifact.tensors[TENSORS], artifact.tensors[SPLIT_TENSORS]
    try:
        parts = [(split_tensors[f"{p}.users"], split_tensors[f"{p}.items"]) for p in ("train", "validation", "test")]
        cold = split_tensors["cold_users"]
        user_attr = _csr_from("user_attr", tensors, (fs.n_users, fs.n_tokens))
        item_attr = _csr_from("item_attr", tensors, (fs.n_items, fs.n_tokens))
    except (KeyError, ValueError) as exc:
        raise ModelFormatError(f"{path}: split file lacks {exc}") from None
    users = np.concatenate([p[0] for p in parts]).astype(np.int32)
    items = np.concatenate([p[1] for p in parts]).astype(np.int32)
    bounds = np.cumsum([0] + [len(p[0]) for p in parts])
    info = artifact.manifest.get("info", {})
    dataset = Dataset(fs, users, items, user_attr, item_attr, None, info.get("data", "saved"))
    index = [np.arange(bounds[n], bounds[n + 1]) for n in range(3)]
    config = info.get("split") or artifact.manifest.get("split") or {}  # version 1 kept it at the top
    return Split(dataset, index[0], index[1], index[2], cold.astype(np.int64), config)


def check_k(k: Any, n_items: int) -> int:
    """Validate a list length: a positive integer no larger than the catalogue."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ParameterError(f"k must be an integer, not {k!r}")
    if k <= 0:
        raise ParameterError(f"k must be positive, got {k}")
    if k > n_items:
        raise ParameterError(f"k={k} is larger than the catalogue ({n_items} items)")
    return int(k)


def check_positive(model: Estimator, **values: float) -> None:
    """Raise ParameterError naming every hyper-parameter that is not positive."""
    bad = [f"{name}={value!r}" for name, value in values.items() if not value > 0]
    if bad:
        raise ParameterError(f"invalid {type(model).__name__} parameter(s): {', '.join(bad)} (must be positive)")


# -- tensor helpers -------------------------------------------------------------------------------
def _latest_times(train: Dataset) -> sp.csr_matrix | None:
    """Users x items: the latest time of each training pair (None without timestamps)."""
    if train.timestamps is None or not len(train.users):
        return None
    frame = pd.DataFrame({"u": train.users, "i": train.items, "t": np.asarray(train.timestamps, dtype=np.int64)})
    latest = frame.groupby(["u", "i"], sort=True)["t"].max()
    users, items = (latest.index.get_level_values(n).to_numpy() for n in ("u", "i"))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(users, minlength=train.n_users))])
    # built from its parts, so that a time of 0 stays a stored value
    return sp.csr_matrix((latest.to_numpy(), items, indptr), shape=(train.n_users, train.n_items))


def _csr_tensors(prefix: str, matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    matrix = sp.csr_matrix(matrix)
    return {
        f"{prefix}.indptr": matrix.indptr.astype(np.int64),
        f"{prefix}.indices": matrix.indices.astype(np.int32),
    }


def _csr_from(prefix: str, tensors: Mapping[str, np.ndarray], shape: tuple[int, int]) -> sp.csr_matrix:
    indptr, indices = tensors[f"{prefix}.indptr"], tensors[f"{prefix}.indices"]
    if len(indptr) != shape[0] + 1 or (len(indices) and indices.max() >= shape[1]):
        raise ValueError(f"{prefix} does not match the feature space")
    return sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=shape)


def _split_tensors(split: Split) -> dict[str, np.ndarray]:
    d = split.dataset
    out = {"cold_users": split.cold_users.astype(np.int64)}
    for name, index in (
        ("train", split.train_index),
        ("validation", split.validation_index),
        ("test", split.test_index),
    ):
        out[f"{name}.users"] = d.users[index].astype(np.int32)
        out[f"{name}.items"] = d.items[index].astype(np.int32)
    return out
