"""Estimator: the contract every whyrec model follows, whatever its family.

In the manner of scikit-learn's ``BaseEstimator``: hyper-parameters are the constructor's
arguments, stored unchanged under the same names (nothing else happens in ``__init__``);
``fit`` returns the model and puts what it learns in attributes ending in ``_``; a model used
before ``fit`` raises :class:`~whyrec.errors.NotFittedError`. ``get_params``, ``set_params`` and
:func:`clone` work on every model, and every model is saved and loaded through one artifact format
(:mod:`whyrec._artifact`), so :func:`load_model` loads any of them.

The families: recommenders (:class:`~whyrec.models.recommender.Recommender`), click-through-rate
models (:class:`~whyrec.models.ctr.CTRModel`) and attribution networks
(:class:`~whyrec.models.attribution_network.AttributionNetwork` and its black-box counterpart).
"""

from __future__ import annotations

import copy
import inspect
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from whyrec._artifact import Artifact, encode_params, read_artifact, write_artifact
from whyrec.errors import ModelFormatError, NotFittedError, ParameterError

MODELS: dict[str, type[Estimator]] = {}  # every public model class by name, for load_model
TRAINING_STATE = ("history", "best_epoch", "best_metric", "time_to_best")  # what the Trainer reports

E = TypeVar("E", bound="Estimator")


@dataclass
class Content:
    """What a model saves: tensor files, JSON documents and JSON state for the manifest."""

    tensors: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    documents: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


class Estimator:
    """Base class of every whyrec model (see the module docstring)."""

    family: ClassVar[str] = ""
    # defaults of parameters added after models were already saved: a manifest without the
    # parameter was written by a model that behaved as this value says, whatever the default now
    former_defaults: ClassVar[dict[str, Any]] = {}
    manifest_: dict[str, Any]  # set by load(): the manifest the model was read from

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not abstract and not cls.__name__.startswith("_"):
            MODELS[cls.__name__] = cls

    # -- hyper-parameters -----------------------------------------------------------------------
    @classmethod
    def param_names(cls) -> list[str]:
        """The constructor's argument names, which are the model's hyper-parameters."""
        names = []
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            if name == "self":
                continue
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must name every hyper-parameter (no *args / **kwargs)")
            names.append(name)
        return names

    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters by name, as given to the constructor (or to :meth:`set_params`)."""
        return {name: getattr(self, name) for name in self.param_names()}

    def set_params(self: E, **params: Any) -> E:
        """Change hyper-parameters; an unknown name raises :class:`~whyrec.errors.ParameterError`."""
        known = self.param_names()
        for name, value in params.items():
            if name not in known:
                raise ParameterError(f"{type(self).__name__} has no parameter {name!r}; its parameters: {known}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def fingerprint(self, **data: Any) -> dict[str, Any]:
        """What identifies a training run: the model, its parameters (but `epochs`, which a
        resumed run may extend) and a summary of the data; a checkpoint from another run is refused."""
        params = {k: v for k, v in self.get_params().items() if k != "epochs"}
        return {
            "model": type(self).__name__,
            "params": json.loads(json.dumps(encode_params(params), default=str)),
            "data": data,
        }

    # -- fitted state -----------------------------------------------------------------------------
    def is_fitted(self) -> bool:
        """Whether the model holds learned state (attributes ending in ``_``)."""
        return any(name.endswith("_") and not name.startswith("_") for name in vars(self))

    def _check_fitted(self) -> None:
        if not self.is_fitted():
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or load() first")

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, info: dict[str, Any] | None = None) -> Path:
        """Write the model to directory `path` atomically (safetensors + JSON, with checksums).

        `info` is free JSON metadata kept in the manifest (the data spec, the command, metrics).
        """
        self._check_fitted()
        return self._write(path, self._content(), info)

    def _write(self, path: str | os.PathLike, content: Content, info: dict[str, Any] | None) -> Path:
        state = {k: getattr(self, f"{k}_") for k in TRAINING_STATE if hasattr(self, f"{k}_")} | content.state
        return write_artifact(
            path,
            family=self.family,
            model=type(self).__name__,
            params=self.get_params(),
            state=state,
            info=info,
            tensors=content.tensors,
            documents=content.documents,
        )

    @classmethod
    def load(cls: type[E], path: str | os.PathLike) -> E:
        """Load a model directory written by :meth:`save`; nothing is ever unpickled."""
        artifact = read_artifact(path)
        name = artifact.manifest["model"]
        target = MODELS.get(name)
        if target is None:
            raise ModelFormatError(f"{path} holds a {name!r} model, which this whyrec does not know")
        if not issubclass(target, cls):
            raise ModelFormatError(f"{path} holds a {name} model ({target.family}), not a {cls.__name__}")
        try:
            model = target(**{**target.former_defaults, **artifact.params})
        except (TypeError, ParameterError) as exc:
            raise ModelFormatError(f"{path}: saved parameters do not fit {name}: {exc}") from None
        try:
            for key in TRAINING_STATE:
                if key in artifact.state:
                    setattr(model, f"{key}_", artifact.state[key])
            model._restore(artifact)
        except (KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise ModelFormatError(f"{path}: model tensors are incomplete or inconsistent ({exc})") from None
        model.manifest_ = artifact.manifest
        return model

    def _content(self) -> Content:
        """The learned state to save (see :class:`Content`)."""
        raise NotImplementedError

    def _restore(self, artifact: Artifact) -> None:
        """Rebuild the learned state from a read artifact."""
        raise NotImplementedError


def clone(estimator: E) -> E:
    """A new, unfitted model with the same hyper-parameters (deep-copied).

    Raises :class:`~whyrec.errors.ParameterError` when the model's constructor changes a parameter
    it was given, which would make the copy differ from the original.
    """
    if not isinstance(estimator, Estimator):
        raise ParameterError(f"clone expects a whyrec model, not {type(estimator).__name__}")
    params = {name: copy.deepcopy(value) for name, value in estimator.get_params().items()}
    new = type(estimator)(**params)
    for name, value in new.get_params().items():
        if value is not params[name]:
            raise ParameterError(f"{type(estimator).__name__}.__init__ changes its parameter {name!r}")
    return new


def load_model(path: str | os.PathLike) -> Estimator:
    """Load any whyrec model directory (a recommender, a CTR model or an attribution network)."""
    return Estimator.load(path)
