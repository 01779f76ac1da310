"""Recommender: the estimator shape every whyrec model shares.

Hyper-parameters are constructor arguments; ``fit(train, validation=None)`` learns state into
attributes ending in ``_``. Every model answers ``score(profiles)``, ``score_users(users)``,
``recommend(user_ids, k)``, ``recommend_profile(items, user_attributes)``, ``save(dir)`` and
``load(dir)``. The base class owns the parts that do not depend on the model: input validation,
profiles of known and new users, top-k selection, and the safetensors + JSON artifact format.
"""

from __future__ import annotations

import inspect
import json
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

import whyrec
from whyrec._io import atomic_directory, sha256_file, write_json_atomic
from whyrec.data.dataset import Dataset, interaction_matrix
from whyrec.data.features import FeatureSpace
from whyrec.data.profiles import build_profiles, check_nonempty
from whyrec.data.splits import Split
from whyrec.errors import DataError, ModelFormatError, NotFittedError, ParameterError

MODEL_FORMAT = "whyrec.model"
MODEL_FORMAT_VERSION = 1
MANIFEST = "whyrec.json"
TENSORS = "model.safetensors"
SPLIT_TENSORS = "split.safetensors"
FEATURES = "feature_space.json"

_REGISTRY: dict[str, type[Recommender]] = {}
PROFILE_CACHE_MAX_NNZ = 20_000_000  # above this, known users' bags are built on demand


@dataclass(frozen=True)
class Recommendations:
    """Top-k items per profile: external item IDs, dense item indices and scores (n x k)."""

    item_ids: np.ndarray
    items: np.ndarray
    scores: np.ndarray


class Recommender:
    """Base class of whyrec models (see the module docstring)."""

    supports_attributes: ClassVar[bool] = False
    # can score a user from a new profile (attributes, or a history it was not trained on)?
    supports_profiles: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    # -- hyper-parameters ---------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        return constructor_params(self)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, train: Dataset, validation: Dataset | None = None) -> Recommender:
        raise NotImplementedError

    def _remember(self, train: Dataset, use_attributes: bool) -> None:
        """Keep what inference needs from the training data: vocabulary, histories, attributes."""
        if not isinstance(train, Dataset):
            raise DataError(f"fit expects a whyrec Dataset, not {type(train).__name__}")
        if train.n_interactions == 0:
            raise DataError("the training set has no interactions")
        self.feature_space_ = train.feature_space
        self.train_matrix_ = train.matrix()
        fs = train.feature_space
        if use_attributes:
            self.user_attributes_ = train.user_attributes
            self.item_attributes_ = train.item_attributes
        else:
            self.user_attributes_ = sp.csr_matrix((fs.n_users, fs.n_tokens), dtype=np.float32)
            self.item_attributes_ = sp.csr_matrix((fs.n_items, fs.n_tokens), dtype=np.float32)

    def _check_fitted(self) -> None:
        if not hasattr(self, "feature_space_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or load() first")

    # -- scoring ------------------------------------------------------------------------------
    def score(self, profiles: sp.csr_matrix) -> np.ndarray:
        """Scores (n_profiles x n_items) of bags of tokens given as a binary CSR matrix."""
        raise NotImplementedError

    def score_pairs(self, profiles: sp.csr_matrix, targets: np.ndarray, batch_size: int = 2048) -> np.ndarray:
        """Score of one target item per profile (explainers and deletion tests need only these)."""
        targets = np.asarray(targets, dtype=np.int64)
        out = np.empty(len(targets), dtype=np.float32)
        for start in range(0, len(targets), batch_size):
            block = self.score(profiles[start : start + batch_size])
            out[start : start + len(block)] = block[np.arange(len(block)), targets[start : start + batch_size]]
        return out

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
        return sp.csr_matrix(profiles.multiply(keep[None, :]), dtype=np.float32)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Scores (n_users x n_items) of known users given by dense index."""
        return self.score(self.user_profiles(users))

    def profile(
        self,
        items: Sequence[Any] = (),
        user_attributes: Mapping[str, Any] | None = None,
    ) -> sp.csr_matrix:
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
            attrs = sp.csr_matrix((np.ones(len(tokens), np.float32), tokens, [0, len(tokens)]), shape=(1, fs.n_tokens))
            if not self.uses_attributes:
                attrs = sp.csr_matrix((1, fs.n_tokens), dtype=np.float32)
        bag = build_profiles(history, attrs, self.item_attributes_)
        check_nonempty(bag)
        return bag

    @property
    def uses_attributes(self) -> bool:
        return bool(getattr(self, "use_attributes", False)) and self.supports_attributes

    # -- recommending -------------------------------------------------------------------------
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

    # -- persistence --------------------------------------------------------------------------
    def _tensors(self) -> dict[str, np.ndarray]:
        """Model-specific learned tensors (numpy) to save."""
        return {}

    def _restore(self, tensors: Mapping[str, np.ndarray], extra: Mapping[str, Any]) -> None:
        """Rebuild model-specific state from saved tensors and the manifest's `extra`."""

    def _extra(self) -> dict[str, Any]:
        """Model-specific JSON metadata (training history, ...)."""
        return {}

    def save(
        self, path: str | os.PathLike, *, split: Split | None = None, info: Mapping[str, Any] | None = None
    ) -> Path:
        """Write the model to directory `path` atomically; tensors in safetensors, the rest JSON.

        `split` (optional) is stored with the model so that ``whyrec evaluate`` can reuse it;
        `info` is free JSON metadata (the data spec, the command) kept in the manifest.
        """
        self._check_fitted()
        path = Path(path)
        if path.exists() and not (path / MANIFEST).exists() and any(path.iterdir()):
            raise ModelFormatError(f"{path} exists and is not a whyrec model directory; refusing to overwrite")
        tensors = {**_csr_tensors("train", self.train_matrix_)}
        tensors.update(_csr_tensors("user_attr", self.user_attributes_))
        tensors.update(_csr_tensors("item_attr", self.item_attributes_))
        tensors.update({f"model.{k}": np.ascontiguousarray(v) for k, v in self._tensors().items()})
        with atomic_directory(path) as staging:
            save_file(tensors, staging / TENSORS)
            self.feature_space_.save(staging / FEATURES)
            files = {TENSORS: sha256_file(staging / TENSORS), FEATURES: sha256_file(staging / FEATURES)}
            split_info = None
            if split is not None:
                save_file(_split_tensors(split), staging / SPLIT_TENSORS)
                files[SPLIT_TENSORS] = sha256_file(staging / SPLIT_TENSORS)
                split_info = split.config
            write_json_atomic(
                staging / MANIFEST,
                {
                    "format": MODEL_FORMAT,
                    "format_version": MODEL_FORMAT_VERSION,
                    "whyrec_version": whyrec.__version__,
                    "model": type(self).__name__,
                    "params": self.get_params(),
                    "extra": self._extra(),
                    "split": split_info,
                    "info": dict(info or {}),
                    "files": files,
                    "environment": {"python": platform.python_version(), "torch": torch.__version__},
                },
            )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Recommender:
        """Load a model directory written by :meth:`save`; never unpickles anything."""
        manifest = read_manifest(path)
        name = manifest["model"]
        target = _REGISTRY.get(name)
        if target is None:
            raise ModelFormatError(f"{path} holds a {name!r} model, which this whyrec does not know")
        if cls is not Recommender and not issubclass(target, cls):
            raise ModelFormatError(f"{path} holds a {name} model, not a {cls.__name__}")
        path = Path(path)
        verify_files(path, manifest, [TENSORS, FEATURES])
        tensors = load_tensors(path / TENSORS)
        try:
            model = target(**manifest["params"])
        except TypeError as exc:
            raise ModelFormatError(f"{path}: saved parameters do not fit {name}: {exc}") from None
        model.feature_space_ = FeatureSpace.load(path / FEATURES)
        fs = model.feature_space_
        try:
            model.train_matrix_ = _csr_from("train", tensors, (fs.n_users, fs.n_items))
            model.user_attributes_ = _csr_from("user_attr", tensors, (fs.n_users, fs.n_tokens))
            model.item_attributes_ = _csr_from("item_attr", tensors, (fs.n_items, fs.n_tokens))
            own = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
            model._restore(own, manifest.get("extra", {}))
        except (KeyError, ValueError, RuntimeError) as exc:
            raise ModelFormatError(f"{path}: model tensors are incomplete or inconsistent ({exc})") from None
        model.manifest_ = manifest
        return model


def constructor_params(estimator: Any) -> dict[str, Any]:
    """Constructor arguments of an estimator, read back from the attributes of the same names."""
    names = [p for p in inspect.signature(type(estimator).__init__).parameters if p != "self"]
    return {name: getattr(estimator, name) for name in names}


def load_model(path: str | os.PathLike) -> Recommender:
    """Load any whyrec model directory."""
    return Recommender.load(path)


def read_manifest(path: str | os.PathLike, *, fmt: str = MODEL_FORMAT) -> dict[str, Any]:
    """The JSON manifest of a model directory, validated for format (`fmt`) and version."""
    path = Path(path)
    if not path.is_dir():
        raise ModelFormatError(f"model directory not found: {path}")
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        raise ModelFormatError(f"{path} is not a whyrec model directory (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{manifest_path} is corrupt: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != fmt:
        raise ModelFormatError(f"{manifest_path} is not a whyrec model manifest")
    version = manifest.get("format_version")
    if version != MODEL_FORMAT_VERSION:
        raise ModelFormatError(
            f"{path} was written in model format version {version!r}; this whyrec "
            f"({whyrec.__version__}) reads version {MODEL_FORMAT_VERSION}"
        )
    for key in ("model", "params", "files"):
        if key not in manifest:
            raise ModelFormatError(f"{manifest_path} lacks the '{key}' entry")
    return manifest


def load_split(path: str | os.PathLike) -> Split:
    """The split saved with a model (raises ModelFormatError when none was saved)."""
    manifest = read_manifest(path)
    path = Path(path)
    if SPLIT_TENSORS not in manifest["files"]:
        raise ModelFormatError(f"{path} was saved without its split; retrain with `whyrec train`")
    verify_files(path, manifest, [SPLIT_TENSORS, FEATURES, TENSORS])
    fs = FeatureSpace.load(path / FEATURES)
    tensors = load_tensors(path / TENSORS)
    split_tensors = load_tensors(path / SPLIT_TENSORS)
    try:
        parts = [(split_tensors[f"{p}.users"], split_tensors[f"{p}.items"]) for p in ("train", "validation", "test")]
        cold = split_tensors["cold_users"]
        user_attr = _csr_from("user_attr", tensors, (fs.n_users, fs.n_tokens))
        item_attr = _csr_from("item_attr", tensors, (fs.n_items, fs.n_tokens))
    except KeyError as exc:
        raise ModelFormatError(f"{path}: split file lacks {exc}") from None
    users = np.concatenate([p[0] for p in parts]).astype(np.int32)
    items = np.concatenate([p[1] for p in parts]).astype(np.int32)
    bounds = np.cumsum([0] + [len(p[0]) for p in parts])
    dataset = Dataset(fs, users, items, user_attr, item_attr, None, manifest.get("info", {}).get("data", "saved"))
    index = [np.arange(bounds[n], bounds[n + 1]) for n in range(3)]
    return Split(dataset, index[0], index[1], index[2], cold.astype(np.int64), manifest.get("split") or {})


def csr_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """Rows of a binary CSR matrix, cut straight from its arrays (scipy's fancy indexing costs
    hundreds of microseconds per call, which matters on the serving path)."""
    starts, ends = matrix.indptr[rows], matrix.indptr[np.asarray(rows) + 1]
    pieces = [matrix.indices[a:b] for a, b in zip(starts, ends, strict=True)]
    indices = np.concatenate(pieces) if pieces else np.zeros(0, matrix.indices.dtype)
    indptr = np.concatenate([[0], np.cumsum(ends - starts)])
    return sp.csr_matrix(
        (np.ones(len(indices), np.float32), indices, indptr), shape=(len(rows), matrix.shape[1]), copy=False
    )


def check_k(k: Any, n_items: int) -> int:
    """Validate a list length: a positive integer no larger than the catalogue."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ParameterError(f"k must be an integer, not {k!r}")
    if k <= 0:
        raise ParameterError(f"k must be positive, got {k}")
    if k > n_items:
        raise ParameterError(f"k={k} is larger than the catalogue ({n_items} items)")
    return int(k)


# -- tensor helpers ---------------------------------------------------------------------------------
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


def load_tensors(path: Path) -> dict[str, np.ndarray]:
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFormatError(f"{path} is not a readable safetensors file: {exc}") from None


def verify_files(path: Path, manifest: Mapping[str, Any], names: Sequence[str]) -> None:
    for name in names:
        expected = manifest["files"].get(name)
        file = path / name
        if not file.exists():
            raise ModelFormatError(f"{path} is missing {name}")
        if expected is not None and sha256_file(file) != expected:
            raise ModelFormatError(f"{file} is corrupt: its checksum does not match the manifest")
