"""CTRModel: the estimator every click-through-rate architecture is trained and served through."""

from __future__ import annotations

import copy
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from safetensors.torch import save_file
from sklearn.metrics import log_loss, roc_auc_score

import whyrec
from whyrec._io import atomic_directory, sha256_file, write_json_atomic
from whyrec.data.ctr import ABSENT, CTRData, encode
from whyrec.data.features import FeatureSpace
from whyrec.errors import DataError, ModelFormatError, NotFittedError, ParameterError
from whyrec.explain.explanation import Explanations, Vocabulary
from whyrec.models.base import (
    FEATURES,
    MANIFEST,
    TENSORS,
    constructor_params,
    load_tensors,
    read_manifest,
    verify_files,
)
from whyrec.models.ctr.modules import ARCHITECTURES, CTRNet

CTR_FORMAT = "whyrec.ctr_model"


class CTRModel:
    """A CTR model (``architecture`` one of lr, fm, wide_deep, deepfm, dcn, autoint).

    Trained with Adam on binary cross-entropy, early-stopped on validation log loss (the best
    epoch's weights are kept). Rows are :class:`~whyrec.data.ctr.CTRData`; raw frames are encoded
    with the training vocabulary, so values never seen in training go to their field's 'other'.
    """

    def __init__(
        self,
        architecture: str = "deepfm",
        dim: int = 16,
        hidden: tuple[int, ...] = (256, 128),
        dropout: float = 0.1,
        cross_layers: int = 3,
        attention_layers: int = 2,
        heads: int = 2,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        batch_size: int = 1024,
        epochs: int = 30,
        patience: int = 3,
        seed: int = 0,
    ) -> None:
        self.architecture = architecture
        self.dim = dim
        self.hidden = tuple(hidden)
        self.dropout = dropout
        self.cross_layers = cross_layers
        self.attention_layers = attention_layers
        self.heads = heads
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        return constructor_params(self)

    def set_params(self, **params: Any) -> CTRModel:
        for name, value in params.items():
            if name not in self.get_params():
                raise ParameterError(f"CTRModel has no parameter {name!r}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        return f"CTRModel({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    def _check_params(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ParameterError(
                f"unknown CTR architecture {self.architecture!r}; choose one of {', '.join(ARCHITECTURES)}"
            )
        if self.architecture == "autoint" and self.dim % self.heads:
            raise ParameterError(f"autoint needs dim ({self.dim}) divisible by heads ({self.heads})")
        for name in ("dim", "batch_size", "epochs", "patience"):
            if int(getattr(self, name)) < 1:
                raise ParameterError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ParameterError(f"dropout must lie in [0, 1), got {self.dropout}")

    def _build(self, space: FeatureSpace) -> CTRNet:
        return CTRNet(
            self.architecture, space.n_tokens, len(space.context_fields), self.dim, self.hidden, self.dropout,
            self.cross_layers, self.attention_layers, self.heads,
        )  # fmt: skip

    # -- training -----------------------------------------------------------------------------
    def fit(self, train: CTRData, validation: CTRData | None = None) -> CTRModel:
        """Learn from `train`; with `validation`, stop when its log loss stops improving."""
        self._check_params()
        if not isinstance(train, CTRData) or len(train) == 0:
            raise DataError("fit needs non-empty CTRData rows")
        if validation is not None and validation.space is not train.space and validation.fields != train.fields:
            raise DataError("validation rows must use the training rows' fields")
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self.space_ = train.space
        self.module_ = self._build(self.space_)
        optimizer = torch.optim.Adam(self.module_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        tokens = torch.from_numpy(train.tokens)
        labels = torch.from_numpy(train.labels)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        best, best_state, waited = np.inf, None, 0
        self.history_: list[dict[str, float]] = []
        start = time.perf_counter()
        for epoch in range(1, self.epochs + 1):
            self.module_.train()
            order = torch.from_numpy(rng.permutation(len(train)))
            total = 0.0
            for s in range(0, len(train), self.batch_size):
                batch = order[s : s + self.batch_size]
                loss = loss_fn(self.module_(tokens[batch]), labels[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(batch)
            record = {"epoch": epoch, "train_log_loss": total / len(train), "seconds": time.perf_counter() - start}
            if validation is not None and len(validation):
                record.update({f"val_{k}": v for k, v in self.evaluate(validation).items() if k != "rows"})
                if record["val_log_loss"] < best - 1e-5:
                    best, best_state, waited = record["val_log_loss"], copy.deepcopy(self.module_.state_dict()), 0
                    self.best_epoch_ = epoch
                else:
                    waited += 1
            self.history_.append(record)
            if waited >= self.patience:
                break
        if best_state is not None:
            self.module_.load_state_dict(best_state)
        else:
            self.best_epoch_ = len(self.history_)
        self.module_.eval()
        return self

    # -- prediction ---------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            raise NotFittedError("this CTRModel is not fitted; call fit() or CTRModel.load()")

    def _rows(self, data: CTRData | pd.DataFrame | np.ndarray) -> np.ndarray:
        if isinstance(data, pd.DataFrame):
            return encode(self.space_, data.assign(label=0) if "label" not in data else data).tokens
        tokens = data.tokens if isinstance(data, CTRData) else np.asarray(data, dtype=np.int64)
        n_fields = len(self.space_.context_fields)
        if tokens.ndim != 2 or tokens.shape[1] != n_fields:
            raise DataError(f"CTR rows must have {n_fields} fields, got shape {tokens.shape}")
        if tokens.size and (tokens.max() >= self.space_.n_tokens or tokens.min() < -1):
            raise DataError(f"token indices must lie in -1..{self.space_.n_tokens - 1}")
        return tokens

    @torch.no_grad()
    def predict_logit(self, data: CTRData | pd.DataFrame | np.ndarray, batch_size: int = 65536) -> np.ndarray:
        """Click logits of rows (CTRData, a raw frame, or a token matrix with -1 for absent fields)."""
        self._check_fitted()
        tokens = torch.from_numpy(self._rows(data))
        self.module_.eval()
        out = [self.module_(tokens[s : s + batch_size]) for s in range(0, len(tokens), batch_size)]
        return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)

    def predict_proba(self, data: CTRData | pd.DataFrame | np.ndarray) -> np.ndarray:
        """Click probabilities of rows."""
        return 1.0 / (1.0 + np.exp(-self.predict_logit(data)))

    def explain(self, data: CTRData | pd.DataFrame | np.ndarray) -> Explanations:
        """Why each row got its click logit: one relevance per field token, as shared `Explanations`.

        A field's relevance is the logit minus the logit with that field switched off (occlusion to
        the absent token); the baseline is the logit with every field off. For logistic regression
        this is exact (relevances + baseline = logit); for the other architectures the interaction
        terms make the sum differ, and `conservation_gap` reports by how much.
        """
        tokens = self._rows(data)
        n, p = tokens.shape
        occluded = np.repeat(tokens[:, None, :], p, axis=1)
        occluded[:, np.arange(p), np.arange(p)] = ABSENT
        logits = self.predict_logit(tokens)
        without = self.predict_logit(occluded.reshape(-1, p)).reshape(n, p)
        baseline = self.predict_logit(np.full((1, p), ABSENT))[0]
        present = tokens >= 0
        relevance = sp.csr_matrix(
            ((logits[:, None] - without)[present], tokens[present], np.r_[0, np.cumsum(present.sum(axis=1))]),
            shape=(n, self.space_.n_tokens),
        )
        vocabulary = Vocabulary(
            self.space_.token_names, self.space_.token_kinds, self.space_.token_fields, ["click"], ["click"]
        )
        return Explanations(relevance, np.zeros(n, np.int64), logits, np.full(n, baseline), "occlusion", vocabulary)

    def evaluate(self, data: CTRData) -> dict[str, float]:
        """ROC-AUC and log loss on labelled rows."""
        p = self.predict_proba(data)
        y = data.labels
        auc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")
        return {"auc": auc, "log_loss": float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1])), "rows": len(y)}

    # -- persistence --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, info: dict[str, Any] | None = None) -> Path:
        """Weights in safetensors, parameters and vocabulary in JSON, written atomically."""
        self._check_fitted()
        path = Path(path)
        if path.exists() and not (path / MANIFEST).exists() and any(path.iterdir()):
            raise ModelFormatError(f"{path} exists and is not a whyrec model directory; refusing to overwrite")
        with atomic_directory(path) as staging:
            save_file({k: v.contiguous() for k, v in self.module_.state_dict().items()}, staging / TENSORS)
            self.space_.save(staging / FEATURES)
            write_json_atomic(
                staging / MANIFEST,
                {
                    "format": CTR_FORMAT,
                    "format_version": 1,
                    "whyrec_version": whyrec.__version__,
                    "model": "CTRModel",
                    "params": {**self.get_params(), "hidden": list(self.hidden)},
                    "history": self.history_,
                    "best_epoch": self.best_epoch_,
                    "info": dict(info or {}),
                    "files": {name: sha256_file(staging / name) for name in (TENSORS, FEATURES)},
                    "environment": {"python": platform.python_version(), "torch": torch.__version__},
                },
            )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> CTRModel:
        """Load a directory written by :meth:`save` (checksums verified; nothing unpickled)."""
        manifest = read_manifest(path, fmt=CTR_FORMAT)
        path = Path(path)
        verify_files(path, manifest, [TENSORS, FEATURES])
        try:
            model = cls(**{**manifest["params"], "hidden": tuple(manifest["params"]["hidden"])})
            model._check_params()
        except (TypeError, ParameterError) as exc:
            raise ModelFormatError(f"{path}: saved parameters do not fit CTRModel: {exc}") from None
        model.space_ = FeatureSpace.load(path / FEATURES)
        model.module_ = model._build(model.space_)
        try:
            state = {k: torch.from_numpy(v) for k, v in load_tensors(path / TENSORS).items()}
            model.module_.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelFormatError(f"{path}: weights do not fit the saved architecture ({exc})") from None
        model.module_.eval()
        model.history_ = manifest.get("history", [])
        model.best_epoch_ = manifest.get("best_epoch", len(model.history_))
        model.manifest_ = manifest
        return model
