"""Attribution networks: interpretable by design (Afchar and Hennequin, RecSys 2020).

Inputs are split into disjoint groups X_1..X_N. The analyst lists attribution subsets S_h (sets of
groups, closed under intersection so that "smaller subsets answer first" is well defined). Each
subset has an expert F_h that sees only the groups in S_h and outputs F_h in [-1, 1]; its
prediction is f_h = (F_h + 1) / 2 and its confidence g_h = |F_h| (or F_h², or a smooth |x|).
Boosting: α_h = g_h · Π_{t ⊊ S_h} (1 - g_t) and y = Σ_h α_h f_h / Σ_h α_h. Training is a
generalised EM: each expert minimises its cross-entropy weighted by Π_{t ⊊ S_h} (1 - g_t), held
constant (stop-gradient). For every prediction the α distribution says which subset explains it.

Two implementations: ``tower`` (an MLP per subset) and ``masked`` (one wide network whose hidden
units are split into blocks; a block sees only its subset's inputs and, in deeper layers, the
hidden features of the blocks of its sub-subsets, reused without updating them).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple, cast

import numpy as np
import torch
from torch import nn

from whyrec._artifact import TENSORS, Artifact
from whyrec.errors import DataError, ParameterError
from whyrec.models.base import Content, Estimator
from whyrec.models.training import Monitor, Objective, Trainer, TrainingOptions, adam


def check_design(groups: Mapping[str, Sequence[int]], subsets: Sequence[Sequence[str]]) -> list[frozenset[str]]:
    """Validate groups (disjoint column sets) and subsets (known groups, closed under intersection)."""
    if not groups:
        raise ParameterError("an attribution network needs at least one input group")
    owner: dict[int, str] = {}
    for name, columns in groups.items():
        if len(columns) == 0:
            raise ParameterError(f"group {name!r} has no input columns")
        for column in columns:
            if column in owner:
                raise ParameterError(f"groups {owner[column]!r} and {name!r} overlap (both use input column {column})")
            owner[column] = name
    parsed: list[frozenset[str]] = []
    for subset in subsets:
        members = frozenset(subset)
        if not members:
            raise ParameterError("an attribution subset cannot be empty")
        unknown = sorted(members - set(groups))
        if unknown:
            raise ParameterError(f"subset {sorted(members)} names unknown group(s) {unknown}; groups: {sorted(groups)}")
        if members in parsed:
            raise ParameterError(f"subset {sorted(members)} is listed twice")
        parsed.append(members)
    for a in parsed:
        for b in parsed:
            meet = a & b
            if meet and meet not in parsed:
                raise ParameterError(
                    f"subsets {sorted(a)} and {sorted(b)} share {sorted(meet)}, which is not a listed subset: "
                    "the subsets must be closed under intersection"
                )
    return parsed


def _confidence(f: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "abs":
        return f.abs()
    if kind == "square":
        return f * f
    return torch.sqrt(f * f + 1e-4) - 1e-2  # smooth |x|, 0 at 0


class _Towers(nn.Module):
    def __init__(self, columns: list[torch.Tensor], hidden: Sequence[int]) -> None:
        super().__init__()
        self.columns = [c for c in columns]
        self.towers = nn.ModuleList()
        for cols in columns:
            widths = [len(cols), *hidden, 1]
            layers: list[nn.Module] = []
            for a, b in itertools.pairwise(widths):
                layers += [nn.Linear(a, b), nn.ReLU()]
            self.towers.append(nn.Sequential(*layers[:-1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.tanh(t(x[:, c])) for t, c in zip(self.towers, self.columns, strict=True)], dim=1)


class _Masked(nn.Module):
    """One wide MLP with block masks; parents read children's hidden features detached."""

    def __init__(
        self, columns: list[torch.Tensor], contains: torch.Tensor, width_in: int, hidden: Sequence[int]
    ) -> None:
        super().__init__()
        n = len(columns)
        self.layers = nn.ModuleList()
        self.own_masks: list[torch.Tensor] = []
        self.child_masks: list[torch.Tensor] = []
        previous, previous_block = width_in, 0
        for width in hidden:
            layer = nn.Linear(previous, n * width)
            own = torch.zeros(n * width, previous)
            child = torch.zeros(n * width, previous)
            for h in range(n):
                rows = slice(h * width, (h + 1) * width)
                if not previous_block:
                    own[rows, columns[h]] = 1.0
                else:
                    for t in range(n):
                        cols = slice(t * previous_block, (t + 1) * previous_block)
                        if t == h:
                            own[rows, cols] = 1.0
                        elif contains[h, t]:
                            child[rows, cols] = 1.0
            self.layers.append(layer)
            self.own_masks.append(own)
            self.child_masks.append(child)
            previous, previous_block = n * width, width
        self.out = nn.Linear(previous, n)
        out_mask = torch.zeros(n, previous)
        for h in range(n):
            out_mask[h, h * previous_block : (h + 1) * previous_block] = 1.0
        self.out_mask = out_mask
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = x
        for layer, own, child in zip(self.layers, self.own_masks, self.child_masks, strict=True):
            weight, bias = cast(nn.Linear, layer).weight, cast(nn.Linear, layer).bias
            z = nn.functional.linear(a, weight * own, bias)
            if child.any():
                z = z + nn.functional.linear(a.detach(), weight * child)
            a = torch.relu(z)
        return torch.tanh(nn.functional.linear(a, self.out.weight * self.out_mask, self.out.bias))


class GroupEncoder(nn.Module):
    """Every group's representation side by side: dense columns as they are, ids embedded."""

    def __init__(self, dense_widths: Mapping[str, int], id_vocab: Mapping[str, int], embedding_dim: int) -> None:
        super().__init__()
        self.group_order = list(dense_widths) + list(id_vocab)
        self.embeddings = nn.ModuleDict({g: nn.Embedding(v, embedding_dim) for g, v in id_vocab.items()})
        self.widths = {g: dense_widths.get(g, embedding_dim) for g in self.group_order}

    def forward(self, dense: Mapping[str, torch.Tensor], ids: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([dense[g] if g in dense else self.embeddings[g](ids[g]) for g in self.group_order], dim=1)


class AttributionModule(nn.Module):
    """Group inputs (dense columns or ids with embeddings) -> experts -> boosted mixture."""

    contains: torch.Tensor

    def __init__(
        self,
        dense_widths: Mapping[str, int],
        id_vocab: Mapping[str, int],
        embedding_dim: int,
        subsets: list[frozenset[str]],
        hidden: Sequence[int],
        implementation: str,
        confidence: str,
    ) -> None:
        super().__init__()
        self.inputs = GroupEncoder(dense_widths, id_vocab, embedding_dim)
        spans, cursor = {}, 0
        for g, width in self.inputs.widths.items():
            spans[g] = list(range(cursor, cursor + width))
            cursor += width
        columns = [torch.tensor(sorted(c for g in s for c in spans[g])) for s in subsets]
        contains = torch.tensor([[t < h for t in subsets] for h in subsets])  # t strictly inside h
        self.register_buffer("contains", contains.float())
        self.confidence = confidence
        self.experts = (
            _Towers(columns, hidden) if implementation == "tower" else _Masked(columns, contains, cursor, hidden)
        )

    def forward(self, dense: Mapping[str, torch.Tensor], ids: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        F = self.experts(self.inputs(dense, ids))  # n x H in [-1, 1]
        f = (F + 1) / 2
        g = _confidence(F, self.confidence).clamp(0, 1)
        # log Π_{t ⊊ S_h} (1 - g_t), via the containment matrix
        doubt = torch.exp(torch.log1p(-g.clamp(max=1 - 1e-6)) @ self.contains.T)
        alpha = g * doubt
        y = (alpha * f).sum(dim=1) / (alpha.sum(dim=1) + 1e-8)
        return y.clamp(1e-6, 1 - 1e-6), f, alpha, doubt


class GroupBatch(NamedTuple):
    """Inputs of a group model: dense columns `X` and, for id groups, their ids by group name."""

    X: np.ndarray | None
    ids: Mapping[str, np.ndarray] | None = None


class _GroupModel(Estimator):
    """Shared input handling, training and persistence of group-input binary classifiers.

    Its constructor is the black-box :class:`MLPClassifier`'s; :class:`AttributionNetwork` adds
    the attribution design.
    """

    family = "group"

    def __init__(
        self,
        groups: Mapping[str, Any],
        hidden: Sequence[int] = (32, 16),
        embedding_dim: int = 16,
        lr: float = 3e-3,
        batch_size: int = 512,
        epochs: int = 30,
        weight_decay: float = 0.0,
        patience: int = 4,
        seed: int = 0,
    ) -> None:
        self.groups = groups
        self.hidden = hidden
        self.embedding_dim = embedding_dim
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.weight_decay = weight_decay
        self.patience = patience
        self.seed = seed

    @property
    def _specs(self) -> dict[str, Any]:
        """Groups parsed: a list of dense columns, or ("ids", vocabulary size)."""
        return {k: _group_spec(k, v) for k, v in self.groups.items()}

    def _split_inputs(
        self, X: np.ndarray | None, ids: Mapping[str, np.ndarray] | None
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        dense, id_tensors = {}, {}
        for name, spec in self._specs.items():
            if isinstance(spec, tuple):
                if ids is None or name not in ids:
                    raise DataError(f"id group {name!r} needs ids[{name!r}]")
                values = np.asarray(ids[name], dtype=np.int64)
                if len(values) and (values.min() < 0 or values.max() >= spec[1]):
                    raise DataError(f"ids of group {name!r} must lie in 0..{spec[1] - 1}")
                id_tensors[name] = torch.as_tensor(values)
            else:
                if X is None:
                    raise DataError(f"group {name!r} needs the dense input matrix X")
                if max(spec) >= X.shape[1]:
                    raise DataError(f"group {name!r} uses column {max(spec)} but X has {X.shape[1]} columns")
                dense[name] = torch.as_tensor(np.asarray(X[:, spec], dtype=np.float32))
        return dense, id_tensors

    def _module(self) -> nn.Module:
        specs = self._specs
        widths = {k: len(v) for k, v in specs.items() if not isinstance(v, tuple)}
        vocab = {k: v[1] for k, v in specs.items() if isinstance(v, tuple)}
        return self._build(widths, vocab)

    def _build(self, widths: Mapping[str, int], vocab: Mapping[str, int]) -> nn.Module:
        raise NotImplementedError

    def _loss(self, outputs: tuple[torch.Tensor, ...], target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def fit(
        self,
        X: np.ndarray | None,
        y: np.ndarray,
        *,
        ids: Mapping[str, np.ndarray] | None = None,
        validation: tuple[np.ndarray | None, np.ndarray, Mapping[str, np.ndarray] | None] | None = None,
        options: TrainingOptions | None = None,
    ) -> _GroupModel:
        """Train with Adam; early stopping on validation log loss when given.

        `validation` is ``(X, y, ids)``. Training stops on log loss, not accuracy: accuracy
        saturates long before the experts become confident, and the read-out needs them confident.
        """
        y = np.asarray(y, dtype=np.float32)
        dense, id_t = self._split_inputs(X, ids)
        if len(y) == 0 or len(y) != len(next(iter({**dense, **id_t}.values()))):
            raise DataError(f"fit needs one label per input row; got {len(y)} labels")
        torch.manual_seed(int(self.seed))
        self.module_ = module = self._module()
        target = torch.from_numpy(y)
        size = int(self.batch_size)

        def batches(epoch: int, rng: np.random.Generator) -> Iterator[torch.Tensor]:
            order = torch.from_numpy(rng.permutation(len(y)))
            for start in range(0, len(y), size):
                yield order[start : start + size]

        def loss(b: torch.Tensor) -> tuple[torch.Tensor, int]:
            outputs = module({k: v[b] for k, v in dense.items()}, {k: v[b] for k, v in id_t.items()})
            return self._loss(outputs, target[b]), len(b)

        def validate() -> dict[str, float]:
            assert validation is not None
            Xv, yv, idv = validation
            p = self.predict_proba(Xv, ids=idv)
            truth = np.asarray(yv, dtype=np.float64)
            return {
                "accuracy": float(((p > 0.5) == (truth > 0.5)).mean()),
                "log_loss": float(-np.mean(truth * np.log(p) + (1 - truth) * np.log(1 - p))),
            }

        name = type(self).__name__
        result = Trainer(
            epochs=int(self.epochs),
            seed=int(self.seed),
            name=name,
            options=(options or TrainingOptions()).cpu_only(name),
            monitor=Monitor("log_loss", "min", int(self.patience)),
            fingerprint=self.fingerprint(rows=len(y), positives=float(y.sum())),
        ).fit(
            Objective(
                module=module,
                batches=batches,
                loss=loss,
                batches_per_epoch=-(-len(y) // size),
                optimizers=[adam(module.parameters(), lr=self.lr, weight_decay=self.weight_decay)],
                validate=validate if validation is not None else None,
            )
        )
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.best_metric_ = result.best_metric
        return self

    @torch.no_grad()
    def _run(self, X: np.ndarray | None, ids: Mapping[str, np.ndarray] | None) -> list[tuple[torch.Tensor, ...]]:
        self._check_fitted()
        self.module_.eval()
        dense, id_t = self._split_inputs(X, ids)
        n = len(next(iter({**dense, **id_t}.values())))
        return [
            self.module_({k: v[s : s + 8192] for k, v in dense.items()}, {k: v[s : s + 8192] for k, v in id_t.items()})
            for s in range(0, n, 8192)
        ]

    def predict_proba(self, X: np.ndarray | None, *, ids: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """P(y = 1) of each row."""
        return torch.cat([out[0] for out in self._run(X, ids)]).numpy()

    def _content(self) -> Content:
        return Content({TENSORS: {k: v.detach().cpu().numpy() for k, v in self.module_.state_dict().items()}})

    def _restore(self, artifact: Artifact) -> None:
        module = self._module()
        module.load_state_dict({k: torch.from_numpy(v) for k, v in artifact.tensors[TENSORS].items()})
        module.eval()
        self.module_ = module


def _group_spec(name: str, spec: Any) -> Any:
    if isinstance(spec, list | tuple) and len(spec) == 2 and spec[0] == "ids":
        if int(spec[1]) <= 0:
            raise ParameterError(f"id group {name!r} needs a positive vocabulary size")
        return ("ids", int(spec[1]))
    return [int(c) for c in spec]


class AttributionNetwork(_GroupModel):
    """Binary classifier whose every prediction is attributed to one subset of input groups.

    Verbs: ``fit(X, y, ids=..., validation=...)``, ``predict_proba``, ``subset_weights``
    (normalised α per subset), ``read_out`` (the explaining subset), ``group_relevance``,
    ``save``/``load``. The read-out reaches explanations through the ``read_out`` explainer of
    :mod:`whyrec.explain`.

    Parameters
    ----------
    groups : mapping
        Group name -> its dense input columns (indices into X) or, for id groups,
        ``("ids", vocabulary_size)`` (learned embeddings).
    subsets : sequence of sequences of str
        The attribution subsets; closed under intersection.
    hidden : tuple of int
        Each expert's hidden widths.
    implementation : {"tower", "masked"}
        An MLP per subset, or one wide masked network.
    confidence : {"abs", "square", "smooth"}
        g = |F|, F² or a smooth |F|.
    embedding_dim : int
        Size of the id groups' embeddings.
    lr : float
        Adam's learning rate.
    batch_size : int
        Rows per step.
    epochs : int
        Maximum number of epochs.
    weight_decay : float
        Adam's weight decay.
    patience : int
        Epochs without a lower validation log loss before training stops.
    seed : int
        Seed of the initial weights and the shuffling.
    """

    def __init__(
        self,
        groups: Mapping[str, Any],
        subsets: Sequence[Sequence[str]],
        hidden: Sequence[int] = (32, 16),
        implementation: str = "tower",
        confidence: str = "abs",
        embedding_dim: int = 16,
        lr: float = 3e-3,
        batch_size: int = 512,
        epochs: int = 30,
        weight_decay: float = 0.0,
        patience: int = 4,
        seed: int = 0,
    ) -> None:
        super().__init__(groups, hidden, embedding_dim, lr, batch_size, epochs, weight_decay, patience, seed)
        self.subsets = subsets
        self.implementation = implementation
        self.confidence = confidence
        self._design()  # a bad design fails here, at construction, with the reason

    def _design(self) -> list[frozenset[str]]:
        """The subsets, validated against the groups (see :func:`check_design`)."""
        specs = self._specs
        placeholders = {k: (v if not isinstance(v, tuple) else [-1 - n]) for n, (k, v) in enumerate(specs.items())}
        if self.implementation not in ("tower", "masked"):
            raise ParameterError(f"implementation must be 'tower' or 'masked', not {self.implementation!r}")
        if self.confidence not in ("abs", "square", "smooth"):
            raise ParameterError(f"confidence must be 'abs', 'square' or 'smooth', not {self.confidence!r}")
        if self.implementation == "masked" and not len(self.hidden):
            raise ParameterError("the masked implementation needs at least one hidden layer")
        return check_design(placeholders, self.subsets)

    @property
    def subset_names(self) -> list[tuple[str, ...]]:
        """Each subset as a sorted tuple of group names, in the order of `subsets`."""
        return [tuple(sorted(s)) for s in self._design()]

    def _build(self, widths: Mapping[str, int], vocab: Mapping[str, int]) -> nn.Module:
        return AttributionModule(
            widths,
            vocab,
            int(self.embedding_dim),
            self._design(),
            tuple(int(h) for h in self.hidden),
            self.implementation,
            self.confidence,
        )

    def _loss(self, outputs: tuple[torch.Tensor, ...], target: torch.Tensor) -> torch.Tensor:
        _, f, _, doubt = outputs
        weight = doubt.detach()  # E-step: each expert's responsibility, held constant (stop-gradient)
        fb = f.clamp(1e-6, 1 - 1e-6)
        t = target[:, None]
        return -(weight * (t * torch.log(fb) + (1 - t) * torch.log(1 - fb))).sum(dim=1).mean()

    def subset_weights(self, X: np.ndarray | None, *, ids: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """Normalised α (rows sum to 1): how much each subset answers each prediction."""
        alpha = torch.cat([out[2] for out in self._run(X, ids)]).numpy()
        return alpha / np.maximum(alpha.sum(axis=1, keepdims=True), 1e-12)

    def read_out(self, X: np.ndarray | None, *, ids: Mapping[str, np.ndarray] | None = None) -> list[tuple[str, ...]]:
        """The subset that explains each prediction (largest α)."""
        names = self.subset_names
        return [names[h] for h in self.subset_weights(X, ids=ids).argmax(axis=1)]

    def group_relevance(self, X: np.ndarray | None, *, ids: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """Relevance per group (rows x groups): each subset's α share split evenly over its groups."""
        alpha = self.subset_weights(X, ids=ids)
        names = list(self.groups)
        spread = np.zeros((len(self.subsets), len(names)))
        for h, subset in enumerate(self.subset_names):
            for g in subset:
                spread[h, names.index(g)] = 1.0 / len(subset)
        return alpha @ spread


class MLPClassifier(_GroupModel):
    """The non-interpretable counterpart: one MLP over all groups' inputs, plain cross-entropy.

    Parameters are those of :class:`AttributionNetwork` without the design (`subsets`,
    `implementation`, `confidence`); `hidden` is the MLP's widths.
    """

    def _build(self, widths: Mapping[str, int], vocab: Mapping[str, int]) -> nn.Module:
        return _BlackBox(widths, vocab, int(self.embedding_dim), tuple(int(h) for h in self.hidden))

    def _loss(self, outputs: tuple[torch.Tensor, ...], target: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy(outputs[0], target)


class _BlackBox(nn.Module):
    def __init__(
        self, widths: Mapping[str, int], vocab: Mapping[str, int], embedding_dim: int, hidden: Sequence[int]
    ) -> None:
        super().__init__()
        self.inputs = GroupEncoder(widths, vocab, embedding_dim)
        self.body = MLPBaseline(sum(self.inputs.widths.values()), hidden)

    def forward(self, dense: Mapping[str, torch.Tensor], ids: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor]:
        return (torch.sigmoid(self.body(self.inputs(dense, ids))).clamp(1e-6, 1 - 1e-6),)


class MLPBaseline(nn.Module):
    """The non-interpretable counterpart: one MLP over all groups' inputs."""

    def __init__(self, width_in: int, hidden: Sequence[int]) -> None:
        super().__init__()
        widths = [width_in, *hidden]
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(widths):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.Linear(widths[-1], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(1)
