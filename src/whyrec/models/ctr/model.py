"""CTRModel: the estimator every click-through-rate architecture is trained and served through.

A CTR row is a bag of ``field=value`` tokens in a :class:`~whyrec.data.FeatureSpace` with one
context field per column, so CTR models score bags like recommenders do: :meth:`CTRModel.score`
takes a CSR batch of bags (a field whose token is absent is switched off) and returns the click
logit as the one "item". Every removal-based explainer therefore works on CTR models unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.metrics import log_loss, roc_auc_score

from whyrec._artifact import TENSORS, Artifact
from whyrec.data.ctr import ABSENT, CTRData, encode
from whyrec.data.features import FeatureSpace
from whyrec.errors import DataError, ParameterError
from whyrec.models.base import Content, Estimator
from whyrec.models.ctr.modules import ARCHITECTURES, CTRNet
from whyrec.models.training import Monitor, Objective, Trainer, TrainingOptions, adam

FEATURES = "feature_space.json"
TARGETS = ("click",)  # what a CTR model scores: one logit per row


class CTRModel(Estimator):
    """A CTR model (``architecture`` one of lr, fm, wide_deep, deepfm, dcn, autoint).

    Trained with Adam on binary cross-entropy, early-stopped on validation log loss (the best
    epoch's weights are kept). Rows are :class:`~whyrec.data.ctr.CTRData`; raw frames are encoded
    with the training vocabulary, so values never seen in training go to their field's 'other'.

    Parameters
    ----------
    architecture : {"lr", "fm", "wide_deep", "deepfm", "dcn", "autoint"}
        Which model (see :mod:`whyrec.models.ctr.modules`).
    dim : int
        Embedding size of every field token.
    hidden : tuple of int
        Widths of the deep part's layers (Wide & Deep, DeepFM, DCN).
    dropout : float
        Dropout after each deep layer.
    cross_layers : int
        DCN's cross layers.
    attention_layers : int
        AutoInt's self-attention layers.
    heads : int
        AutoInt's attention heads (must divide `dim`).
    lr : float
        Adam's learning rate.
    weight_decay : float
        Adam's weight decay.
    batch_size : int
        Rows per step.
    epochs : int
        Maximum number of epochs.
    patience : int
        Epochs without a lower validation log loss before training stops.
    seed : int
        Seed of the initial weights, the shuffling and dropout.
    """

    family = "ctr"

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
        self.hidden = hidden
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
            self.architecture,
            space.n_tokens,
            len(space.context_fields),
            int(self.dim),
            tuple(int(h) for h in self.hidden),
            float(self.dropout),
            int(self.cross_layers),
            int(self.attention_layers),
            int(self.heads),
        )

    # -- training -------------------------------------------------------------------------------
    def fit(
        self, train: CTRData, validation: CTRData | None = None, *, options: TrainingOptions | None = None
    ) -> CTRModel:
        """Learn from `train`; with `validation`, stop when its log loss stops improving."""
        self._check_params()
        if not isinstance(train, CTRData) or len(train) == 0:
            raise DataError("fit needs non-empty CTRData rows")
        if validation is not None and validation.space is not train.space and validation.fields != train.fields:
            raise DataError("validation rows must use the training rows' fields")
        torch.manual_seed(int(self.seed))
        self.feature_space_ = train.space
        self.module_ = module = self._build(self.feature_space_)
        tokens, labels = torch.from_numpy(train.tokens), torch.from_numpy(train.labels)
        size = int(self.batch_size)
        loss_fn = torch.nn.BCEWithLogitsLoss()

        def batches(epoch: int, rng: np.random.Generator) -> Iterator[torch.Tensor]:
            order = torch.from_numpy(rng.permutation(len(train)))
            for start in range(0, len(train), size):
                yield order[start : start + size]

        def loss(batch: torch.Tensor) -> tuple[torch.Tensor, int]:
            return loss_fn(module(tokens[batch]), labels[batch]), len(batch)

        def validate() -> dict[str, float]:
            assert validation is not None
            return {k: v for k, v in self.evaluate(validation).items() if k != "rows"}

        result = Trainer(
            epochs=int(self.epochs),
            seed=int(self.seed),
            options=(options or TrainingOptions()).cpu_only("CTRModel"),
            name=f"CTR {self.architecture}",
            monitor=Monitor("log_loss", "min", int(self.patience), 1e-5),
            fingerprint=self.fingerprint(rows=len(train), tokens=train.space.n_tokens, clicks=int(train.labels.sum())),
        ).fit(
            Objective(
                module=module,
                batches=batches,
                loss=loss,
                batches_per_epoch=-(-len(train) // size),
                optimizers=[adam(module.parameters(), lr=self.lr, weight_decay=self.weight_decay)],
                validate=validate if validation is not None and len(validation) else None,
            )
        )
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.best_metric_ = result.best_metric
        return self

    # -- prediction -----------------------------------------------------------------------------
    def _rows(self, data: CTRData | pd.DataFrame | np.ndarray) -> np.ndarray:
        self._check_fitted()
        if isinstance(data, pd.DataFrame):
            return encode(self.feature_space_, data.assign(label=0) if "label" not in data else data).tokens
        tokens = data.tokens if isinstance(data, CTRData) else np.asarray(data, dtype=np.int64)
        n_fields = len(self.feature_space_.context_fields)
        if tokens.ndim != 2 or tokens.shape[1] != n_fields:
            raise DataError(f"CTR rows must have {n_fields} fields, got shape {tokens.shape}")
        if tokens.size and (tokens.max() >= self.feature_space_.n_tokens or tokens.min() < -1):
            raise DataError(f"token indices must lie in -1..{self.feature_space_.n_tokens - 1}")
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

    def score(self, bags: sp.csr_matrix) -> np.ndarray:
        """Click logits (n x 1) of rows given as bags of field tokens (a field without a token is absent)."""
        return self.predict_logit(self.tokens_of(bags))[:, None].astype(np.float32)

    def score_pairs(self, bags: sp.csr_matrix, targets: np.ndarray) -> np.ndarray:
        """The click logit of each bag; every target must be 0, the only output."""
        targets = np.asarray(targets)
        if targets.size and (targets.min() != 0 or targets.max() != 0):
            raise ParameterError("a CTR model has one output (the click, target 0)")
        return self.score(bags)[:, 0]

    def bags(self, data: CTRData | pd.DataFrame | np.ndarray) -> sp.csr_matrix:
        """Rows as a CSR batch of bags over the model's tokens (absent fields leave no token)."""
        tokens = self._rows(data)
        present = tokens >= 0
        indptr = np.concatenate([[0], np.cumsum(present.sum(axis=1))])
        return sp.csr_matrix(
            (np.ones(int(present.sum()), np.float32), tokens[present], indptr),
            shape=(len(tokens), self.feature_space_.n_tokens),
        )

    def tokens_of(self, bags: sp.csr_matrix) -> np.ndarray:
        """Bags back to the ``n x fields`` token matrix (ABSENT where a field has no token)."""
        self._check_fitted()
        bags = sp.csr_matrix(bags)
        space = self.feature_space_
        if bags.shape[1] != space.n_tokens:
            raise DataError(f"bags have {bags.shape[1]} columns; this model has {space.n_tokens} tokens")
        starts = np.array([space.field_offsets[("context", f.name)] for f in space.context_fields])
        field = np.searchsorted(starts, bags.indices, side="right") - 1
        rows = np.repeat(np.arange(bags.shape[0]), np.diff(bags.indptr))
        tokens = np.full((bags.shape[0], len(starts)), ABSENT, dtype=np.int64)
        if len(np.unique(rows * len(starts) + field)) != len(rows):
            raise DataError("a CTR row holds at most one token per field")
        tokens[rows, field] = bags.indices
        return tokens

    def evaluate(self, data: CTRData) -> dict[str, float]:
        """ROC-AUC and log loss on labelled rows."""
        p = self.predict_proba(data)
        y = data.labels
        auc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")
        return {"auc": auc, "log_loss": float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1])), "rows": len(y)}

    # -- persistence ----------------------------------------------------------------------------
    def _content(self) -> Content:
        tensors = {k: v.detach().cpu().numpy() for k, v in self.module_.state_dict().items()}
        return Content({TENSORS: tensors}, {FEATURES: self.feature_space_.to_dict()})

    def _restore(self, artifact: Artifact) -> None:
        self._check_params()
        self.feature_space_ = FeatureSpace.from_dict(artifact.documents[FEATURES])
        module = self._build(self.feature_space_)
        module.load_state_dict({k: torch.from_numpy(v) for k, v in artifact.tensors[TENSORS].items()})
        module.eval()
        self.module_ = module
