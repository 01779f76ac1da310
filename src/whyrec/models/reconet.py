"""RecoNet (Fusco et al., "RecoNet: An Interpretable Neural Architecture for Recommender Systems").

A user is the mean of the embeddings of the tokens in their profile (section 4.1,
x_u = Q I_u / |FS_u|); optional ReLU hidden layers ("RecoNet + Layer"); a linear layer over items
and a softmax, trained with categorical cross-entropy on examples made by the removal sampler
(section 4.2). Explanations are ε-LRP relevances (section 4.3), see :mod:`whyrec.explain.lrp`.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from whyrec.data.dataset import Dataset
from whyrec.errors import DataError, ParameterError
from whyrec.models.distributed import World
from whyrec.models.recommender import Recommender
from whyrec.models.reconet_training import RecoNetTrainer
from whyrec.models.sampled_softmax import PROPOSALS
from whyrec.models.training import Monitor, Trainer, TrainingOptions

POOLINGS = ("mean", "by_kind")
SAMPLINGS = ("removal", "masked")
# the settings whose good values depend on the objective, used where a parameter is None: the masked
# objective's start from the accuracy/fit-time front of whyrec's cost-frontier benchmark and were
# refined on the validation split of one seed (benchmarks/reconet_default); the paper's objective's
# are those of earlier releases
OBJECTIVE_DEFAULTS: dict[str, dict[str, Any]] = {
    "masked": {
        "dim": 256,
        "lr": 0.02,
        "lr_decay": 0.935,
        "batch_size": 128,
        "epochs": 60,
        "patience": 5,
        "min_delta": 0.0,
        "weight_decay": 3e-6,
    },
    "removal": {
        "dim": 64,
        "lr": 5e-3,
        "lr_decay": 1.0,
        "batch_size": 512,
        "epochs": 30,
        "patience": 3,
        "min_delta": 1e-3,
        "weight_decay": 0.0,
    },
}


# the most cells (items x attribute rows) the dense copy of the attribute shares may hold (64 MB)
DENSE_SPREAD_LIMIT = 2**24


class RecoNetModule(nn.Module):
    """Embedding bag (mean, or a mean per token group) -> [Linear + ReLU]* -> Linear over items.

    With `item_attributes` (items x tokens), an item's output vector is its own row plus the mean
    of its attribute values' output rows (and likewise its bias): the attribute-aware output layer.
    Items that share attributes share part of their output vector, and an item with few training
    interactions borrows from its attributes. Every logit stays linear in the pooled vector, so LRP
    and the closed-form Shapley values stay exact.
    """

    attribute_index: torch.Tensor  # items x slots: each item's attribute values (buffers, rebuilt on load)
    attribute_share: torch.Tensor  # items x slots: 1 / the item's count of values, 0 in padding
    token_group: torch.Tensor | None  # n_tokens: the pooling group of each token (None: one mean)
    attribute_spread: torch.Tensor | None  # items x attribute rows: the shares as one dense matrix (when small)

    def __init__(
        self,
        n_tokens: int,
        n_items: int,
        dim: int,
        hidden: Sequence[int],
        bias: bool,
        item_attributes: sp.csr_matrix | None = None,
        token_group: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        group = None if token_group is None else torch.as_tensor(token_group, dtype=torch.long)
        self.register_buffer("token_group", group, persistent=False)  # None registers no tensor
        self.n_groups = 1 if group is None or not len(group) else int(group.max()) + 1  # once, not per batch
        self.embedding = nn.EmbeddingBag(n_tokens, dim, mode="mean")
        widths = [dim, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        self.output = nn.Linear(widths[-1], n_items, bias=bias)
        nn.init.xavier_uniform_(self.embedding.weight)
        for layer in [*self.hidden, self.output]:
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        self.attribute_rows: nn.Parameter | None = None
        self.attribute_bias: nn.Parameter | None = None
        self.attribute_tokens = np.zeros(0, dtype=np.int64)  # the token of each attribute row, in row order
        self.register_buffer("attribute_spread", None, persistent=False)
        if item_attributes is not None and item_attributes.nnz:
            self.attribute_tokens = np.unique(item_attributes.indices)
            index, share = self.attribute_slots(item_attributes)
            # zeros: training starts from the plain model, and the attribute rows learn from there
            self.attribute_rows = nn.Parameter(torch.zeros(len(self.attribute_tokens), widths[-1]))
            if bias:
                self.attribute_bias = nn.Parameter(torch.zeros(len(self.attribute_tokens)))
            self.register_buffer("attribute_index", index, persistent=False)
            self.register_buffer("attribute_share", share, persistent=False)
            # the same shares as a dense (items x attribute rows) matrix, for small-batch logits (see head)
            if index.shape[0] * len(self.attribute_tokens) <= DENSE_SPREAD_LIMIT:
                spread = torch.zeros(index.shape[0], len(self.attribute_tokens)).scatter_add_(1, index, share)
                self.register_buffer("attribute_spread", spread, persistent=False)

    def attribute_slots(self, attributes: sp.csr_matrix) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's attribute tokens (all of them with an attribute row) as padded (rows x slots)
        indices into the attribute rows, with weights 1/count (0 in padding): the row's mean."""
        matrix = sp.csr_matrix(attributes)
        counts = np.diff(matrix.indptr)
        index = np.zeros((matrix.shape[0], max(1, int(counts.max(initial=0)))), dtype=np.int64)
        share = np.zeros(index.shape, dtype=np.float32)
        rows = np.repeat(np.arange(matrix.shape[0]), counts)
        within = np.arange(matrix.nnz) - np.repeat(matrix.indptr[:-1], counts)
        index[rows, within] = np.searchsorted(self.attribute_tokens, matrix.indices)
        share[rows, within] = (1.0 / np.maximum(counts, 1))[rows]
        return torch.from_numpy(index), torch.from_numpy(share)

    def attribute_means(
        self, index: torch.Tensor, share: torch.Tensor, sparse: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The mean attribute row and attribute bias (None without a bias) of each row of slots."""
        assert self.attribute_rows is not None
        rows = nn.functional.embedding_bag(
            index, self.attribute_rows, mode="sum", per_sample_weights=share, sparse=sparse
        )
        bias = None if self.attribute_bias is None else (self.attribute_bias[index] * share).sum(dim=-1)
        return rows, bias

    def output_layer(
        self, targets: torch.Tensor | None = None, sparse: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The output vectors and biases (None without a bias) of `targets` (of every item when
        None), each gathered once; `sparse` gathers the rows with sparse gradients, so that only
        the rows a sampled softmax touches learn."""
        rows: torch.Tensor
        bias: torch.Tensor | None
        if targets is None:
            rows, bias = self.output.weight, self.output.bias
        else:
            rows = nn.functional.embedding(targets, self.output.weight, sparse=sparse)
            bias = None if self.output.bias is None else self.output.bias[targets]
        if self.attribute_rows is None:
            return rows, bias
        shared_rows, shared_bias = self.attribute_means(*self._slots(targets), sparse=sparse)
        return rows + shared_rows, None if bias is None or shared_bias is None else bias + shared_bias

    def _slots(self, targets: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if targets is None:
            return self.attribute_index, self.attribute_share
        return self.attribute_index[targets], self.attribute_share[targets]

    def pool_groups(self, indptr: torch.Tensor, indices: torch.Tensor) -> tuple[torch.Tensor, int]:
        """The (bag, group) key of each stored token and the number of keys: a bag's pooled vector
        is the sum over its groups of the mean of the group's tokens (one group per bag without
        ``token_group``: the paper's mean)."""
        counts = indptr[1:] - indptr[:-1]
        bag = torch.repeat_interleave(torch.arange(len(counts), device=indices.device), counts)
        if self.token_group is None:
            return bag, len(counts)
        return bag * self.n_groups + self.token_group[indices], len(counts) * self.n_groups

    def pool_weights(self, indptr: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """The weight of each stored token in its bag's pooled vector: 1 / the size of its group."""
        key, n_keys = self.pool_groups(indptr, indices)
        return 1.0 / torch.bincount(key, minlength=n_keys)[key].to(self.embedding.weight.dtype)

    def pooled(self, indices: torch.Tensor, offsets: torch.Tensor, sparse: bool = False) -> torch.Tensor:
        """The pooled vector of each bag (EmbeddingBag form); `sparse` gives sparse gradients."""
        if self.token_group is None:
            return nn.functional.embedding_bag(indices, self.embedding.weight, offsets, mode="mean", sparse=sparse)
        indptr = torch.cat([offsets, offsets.new_tensor([len(indices)])])
        return nn.functional.embedding_bag(
            indices,
            self.embedding.weight,
            offsets,
            mode="sum",
            sparse=sparse,
            per_sample_weights=self.pool_weights(indptr, indices),
        )

    def presence_pooled(
        self, tokens: torch.Tensor, presence: torch.Tensor, valid: torch.Tensor, removal: bool
    ) -> torch.Tensor:
        """The pooled vector of padded bags (pairs x L) whose tokens are switched by `presence`:
        removal pools the tokens still present; weighting keeps every group's full size, so it is
        linear in `presence` (see :mod:`whyrec.explain.bags`)."""
        weights = presence * valid
        embedded = self.embedding.weight[tokens]  # pairs x L x d
        groups = torch.zeros_like(tokens) if self.token_group is None else self.token_group[tokens]
        pooled = torch.zeros(tokens.shape[0], embedded.shape[-1], dtype=embedded.dtype, device=embedded.device)
        for group in range(self.n_groups):
            member = (groups == group).to(weights.dtype)
            size = ((weights if removal else valid) * member).sum(dim=1, keepdim=True)
            total = torch.einsum("pl,pld->pd", weights * member, embedded)  # one pass over the embeddings
            pooled = pooled + total / torch.where(size > 0, size, torch.ones_like(size))
        return pooled

    def pooled_csr(self, indptr: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """The same vector as :meth:`pooled`, as a sparse (bags x tokens) @ Q product.

        On CPU its backward is about twice as fast as EmbeddingBag's, which sorts the indices.
        """
        weights = self.pool_weights(indptr, indices)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            pool = torch.sparse_csr_tensor(
                indptr, indices, weights, size=(len(indptr) - 1, self.embedding.num_embeddings), check_invariants=False
            )
        # the sparse product has no bfloat16 kernel; under autocast it stays float32 (it is cheap)
        with torch.autocast(indices.device.type, enabled=False):
            return pool @ self.embedding.weight

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled vector through the hidden ReLU layers: the output layer's input."""
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return x

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Every item's logit: ``h · (q_i + mean_a r_a) + b_i + mean_a b_a`` for the features ``h``.

        For a small batch the attribute part is the mean of the attribute rows' logits, the same
        sum in another order. That order costs bags x attribute rows x (dim + items) products;
        building the (items x dim) matrix of :meth:`output_layer` costs items x attribute rows x
        dim, with its gradient, so the head takes the first while bags x (dim + items) < items x dim:
        small training batches on large catalogues.
        """
        h = self.features(x)
        spread = self.attribute_spread
        n_items, dim = self.output.weight.shape
        if spread is None or len(h) * (dim + n_items) >= n_items * dim:
            return nn.functional.linear(h, *self.output_layer())
        assert self.attribute_rows is not None
        per_attribute = nn.functional.linear(h, self.attribute_rows, self.attribute_bias)  # bags x attribute rows
        return nn.functional.linear(h, self.output.weight, self.output.bias) + per_attribute @ spread.T

    def target_logits(self, pooled: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The logit of each row's target item only (no full output layer needed)."""
        rows, bias = self.output_layer(targets)
        out = (self.features(pooled) * rows).sum(dim=-1)
        return out if bias is None else out + bias

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor, csr: bool = False) -> torch.Tensor:
        """Logits of bags given in EmbeddingBag form; `csr` pools through :meth:`pooled_csr` (training)."""
        if csr:
            indptr = torch.cat([offsets, offsets.new_tensor([len(indices)])])
            return self.head(self.pooled_csr(indptr, indices))
        return self.head(self.pooled(indices, offsets))


class RecoNet(Recommender):
    """RecoNet: items and attribute values in one embedding space, a user as the mean of their tokens.

    The pooled vector goes through optional ReLU layers to a softmax over items (Fusco et al.,
    section 4.1); training examples come from whyrec's masking sampler, or with
    ``sampling="removal"`` the paper's removal sampler (section 4.2); explanations are
    ε-LRP relevances (section 4.3, :class:`whyrec.explain.LRP`). Users never seen in training are
    scored from their bag of tokens, with no retraining.

    Parameters
    ----------
    dim : int, optional
        Embedding size d of items and attribute values.
    hidden : tuple of int
        Widths of ReLU hidden layers; ``()`` is the paper's linear model.
    lr : float, optional
        Adam's learning rate. This and the other settings marked optional default (None) to the
        objective's own values, :data:`OBJECTIVE_DEFAULTS`, so that ``sampling="removal"`` alone
        gives the paper's objective with settings that suit it.
    lr_decay : float, optional
        Factor applied to the learning rate after every epoch (1: constant).
    batch_size : int, optional
        Training examples per step (the global batch under data parallelism); users per step
        with ``sampling="masked"``.
    epochs : int, optional
        Maximum number of epochs.
    sampling : {"masked", "removal"}
        How training examples are drawn. ``"removal"`` is the paper's (section 4.2): one bag per
        training interaction and epoch, its item the label, with further tokens removed at rate
        β. ``"masked"``, the default, is whyrec's faster objective: once an epoch, each user's history items are
        masked with probability ``mask_rate`` (at least one), and the user's one bag without them
        predicts every masked item, so one softmax row serves several labels
        (:class:`whyrec.models.sampler.MaskingSampler`). An epoch then costs one softmax row per
        user instead of one per interaction (the training-speed benchmark measures both).
    mask_rate : float
        ``sampling="masked"``: the probability that a history item is masked in an epoch.
    beta : float
        Removal exponent β of the sampler (section 4.2); ``sampling="removal"`` only.
    weight_decay : float, optional
        Adam's (L2) weight decay; None takes the objective's default. Every row of the embedding
        and output tables is held towards zero in every batch, while its data term grows with how
        often its token or item occurs: a frequency-aware prior, as iALS's regularisation is (Hu
        et al., 2008). Without it the softmax learns PMI-like input-output associations, in which
        an item seen a few times beside the target weighs as much as a well-attested neighbour,
        and those rare items become the model's exact reasons. The masked objective's default is
        small enough to cost no measured accuracy (benchmarks/plausibility measures reasons,
        fidelity and recall together); the paper's objective keeps 0. ``loss="sampled"`` with
        sparse gradients takes none.
    patience : int, optional
        Epochs without a new best validation recall before training stops.
    min_delta : float, optional
        Gain in validation recall that counts as a new best.
    eval_k : int
        Cut-off of the validation recall that early stopping follows.
    use_attributes : bool
        Put user and item attributes into profiles.
    remove_attributes : bool
        The removal sampler also removes attribute tokens, not only history items (masking
        masks history items only; their attributes leave with them).
    cold_rate : float
        Share of training examples reduced to the user's attribute tokens (whyrec's cold-start
        recipe; 0, the default, is the paper's recipe).
    loss : {"softmax", "sampled"}
        The paper's full softmax, or a sampled softmax with the logQ correction for large
        catalogues (see :mod:`whyrec.models.sampled_softmax`); evaluation always ranks all items.
    negatives : int
        Sampled softmax: negatives shared per batch.
    proposal : {"log_uniform", "popularity"}
        Sampled softmax: the distribution negatives are drawn from.
    sparse_gradients : bool
        Sampled softmax: update only the embedding and output rows a batch touches (SparseAdam).
        That is what makes catalogues of millions of items trainable; on a catalogue of thousands,
        dense gradients are faster an epoch (the training-speed benchmark measures both) and take
        weight decay.
    output_bias : bool
        Give the output layer a bias (the explanation's baseline).
    attribute_output : bool
        The attribute-aware output layer (the default): an item's output vector (and bias) is its
        own plus the mean of its attribute values' (:class:`RecoNetModule`), so that items that
        share attributes share evidence (the accuracy benchmark compares it with the paper's).
        ``False`` is the paper's output layer. Without ``use_attributes`` (or item attributes) there is nothing to
        add, and the layer is the paper's.
    pooling : {"mean", "by_kind"}
        How a bag becomes the user vector. ``"mean"`` is the paper's: one mean over every token.
        ``"by_kind"`` adds two means: one over the history side (items and their attributes) and
        one over the user's attribute values, so that who the user is weighs the same whatever
        the length of their history. Both are linear in the tokens, and every explainer stays
        exact (LRP, the closed-form Shapley values and occlusion work per group).
    max_eval_users : int
        Validation users sampled for early stopping.
    lrp_epsilon : float
        ε of the ε-LRP rule.
    seed : int
        Seed of the initial weights and of every epoch's sampling.
    """

    supports_attributes = True
    # models saved before the attribute-aware layer existed were trained with the paper's
    former_defaults: ClassVar[dict[str, Any]] = {"attribute_output": False}

    def __init__(
        self,
        dim: int | None = None,
        hidden: Sequence[int] = (),
        lr: float | None = None,
        lr_decay: float | None = None,
        batch_size: int | None = None,
        epochs: int | None = None,
        sampling: str = "masked",
        mask_rate: float = 0.2,
        beta: float = 1.0,
        weight_decay: float | None = None,
        patience: int | None = None,
        min_delta: float | None = None,
        eval_k: int = 50,
        use_attributes: bool = True,
        remove_attributes: bool = True,
        cold_rate: float = 0.0,
        loss: str = "softmax",
        negatives: int = 1000,
        proposal: str = "log_uniform",
        sparse_gradients: bool = True,
        output_bias: bool = True,
        attribute_output: bool = True,
        pooling: str = "mean",
        max_eval_users: int = 3000,
        lrp_epsilon: float = 1e-6,
        seed: int = 0,
    ) -> None:
        self.dim = dim
        self.hidden = hidden
        self.lr = lr
        self.lr_decay = lr_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.sampling = sampling
        self.mask_rate = mask_rate
        self.beta = beta
        self.weight_decay = weight_decay
        self.patience = patience
        self.min_delta = min_delta
        self.eval_k = eval_k
        self.use_attributes = use_attributes
        self.remove_attributes = remove_attributes
        self.cold_rate = cold_rate
        self.loss = loss
        self.negatives = negatives
        self.proposal = proposal
        self.sparse_gradients = sparse_gradients
        self.output_bias = output_bias
        self.attribute_output = attribute_output
        self.pooling = pooling
        self.max_eval_users = max_eval_users
        self.lrp_epsilon = lrp_epsilon
        self.seed = seed

    # -- training -------------------------------------------------------------------------------
    def _check_params(self) -> None:
        checks = {
            "dim": self.setting("dim") >= 1,
            "sampling": self.sampling in SAMPLINGS,
            "lr": self.setting("lr") > 0,
            "lr_decay": 0 < self.setting("lr_decay") <= 1,
            "batch_size": self.setting("batch_size") >= 1,
            "epochs": self.setting("epochs") >= 1,
            "mask_rate": 0 < self.mask_rate <= 1,
            "beta": self.beta >= 0,
            "weight_decay": self.weight_decay is None or self.weight_decay >= 0,
            "patience": self.setting("patience") >= 1,
            "min_delta": self.setting("min_delta") >= 0,
            "eval_k": self.eval_k >= 1,
            "hidden": all(int(h) >= 1 for h in self.hidden),
            "cold_rate": 0 <= self.cold_rate < 1,
            "loss": self.loss in ("softmax", "sampled"),
            "negatives": self.negatives >= 1,
            "proposal": self.proposal in PROPOSALS,
            "sparse_gradients": isinstance(self.sparse_gradients, bool),
            "attribute_output": isinstance(self.attribute_output, bool),
            "pooling": self.pooling in POOLINGS,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ParameterError("invalid RecoNet parameter(s): " + ", ".join(f"{n}={getattr(self, n)!r}" for n in bad))

    def setting(self, name: str) -> Any:
        """Parameter `name`, or its objective's default where it is None (:data:`OBJECTIVE_DEFAULTS`)."""
        value = getattr(self, name)
        if value is not None:
            return value
        return OBJECTIVE_DEFAULTS.get(self.sampling, OBJECTIVE_DEFAULTS["removal"])[name]

    @property
    def decay(self) -> float:
        """The weight decay training uses: `weight_decay`, else its objective's default (none for
        the sampled softmax's sparse gradients, which take none)."""
        if self.weight_decay is None and self.loss == "sampled" and self.sparse_gradients:
            return 0.0
        return float(self.setting("weight_decay"))

    @property
    def _widths(self) -> tuple[int, ...]:
        return tuple(int(h) for h in self.hidden)

    def _build(self) -> RecoNetModule:
        fs = self.feature_space_
        attributes = self.item_attributes_ if self.attribute_output and self.use_attributes else None
        groups = (fs.token_kinds == "user_attribute").astype(np.int64) if self.pooling == "by_kind" else None
        return RecoNetModule(
            fs.n_tokens, fs.n_items, int(self.setting("dim")), self._widths, self.output_bias, attributes, groups
        )

    def fit(
        self, train: Dataset, validation: Dataset | None = None, *, options: TrainingOptions | None = None
    ) -> RecoNet:
        """Train on `train`; early-stop on recall@eval_k over `validation` when given.

        The steps of a fit (data, module, batches, loss) are those of
        :class:`~whyrec.models.reconet_training.RecoNetTrainer`; the epoch loop is the one
        :class:`~whyrec.models.training.Trainer`. Under `torchrun` this is data-parallel
        (DistributedDataParallel): each rank draws its own removals (seeded by seed and rank);
        validation and the early-stopping decision happen on rank 0 and are broadcast. With
        ``options.checkpoint_dir``, rank 0 writes a checkpoint after every epoch and a restarted
        run resumes from it.
        """
        self._check_params()
        options = options or TrainingOptions()
        self._remember(train, self.use_attributes)
        eval_k = min(int(self.eval_k), self.feature_space_.n_items)  # a tiny catalogue ranks all its items
        validate = self._validator(validation, k=eval_k, max_users=self.max_eval_users, seed=self.seed)
        steps = RecoNetTrainer(self, options)
        loop = Trainer(
            epochs=self.setting("epochs"),
            seed=self.seed,
            options=options,
            name="RecoNet",
            world=steps.team,
            monitor=Monitor(f"recall@{eval_k}", "max", self.setting("patience"), self.setting("min_delta")),
            fingerprint=self._fingerprint(steps.team),
        )
        result = loop.fit(steps.objective(validate))
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.best_metric_ = result.best_metric
        self.time_to_best_ = result.time_to_best
        self.world_size_ = steps.team.size
        return self

    def _fingerprint(self, team: World) -> dict[str, Any]:
        data = {"n_tokens": self.feature_space_.n_tokens, "nnz": int(self.train_matrix_.nnz)}
        return {**self.fingerprint(**data), "world_size": team.size}

    # -- inference ------------------------------------------------------------------------------
    @torch.no_grad()
    def _score(self, profiles: sp.csr_matrix, batch_size: int = 4096) -> np.ndarray:
        """Logits (n_profiles x n_items) of bags of tokens; an empty bag scores the bias alone."""
        device = next(self.module_.parameters()).device
        out = np.empty((profiles.shape[0], self.feature_space_.n_items), dtype=np.float32)
        for start in range(0, profiles.shape[0], batch_size):
            block = profiles[start : start + batch_size]
            out[start : start + block.shape[0]] = self.module_(*bag_tensors(block, device)).cpu().numpy()
        return out

    @torch.no_grad()
    def _score_pairs(self, profiles: sp.csr_matrix, targets: np.ndarray, batch_size: int = 65536) -> np.ndarray:
        """Target logits only: the pooled vector times one output row per profile."""
        targets_t = torch.as_tensor(np.asarray(targets, dtype=np.int64))
        device = next(self.module_.parameters()).device
        out = np.empty(profiles.shape[0], dtype=np.float32)
        for start in range(0, profiles.shape[0], batch_size):
            block = profiles[start : start + batch_size]
            pooled = self.module_.pooled(*bag_tensors(block, device))
            logits = self.module_.target_logits(pooled, targets_t[start : start + block.shape[0]].to(device))
            out[start : start + block.shape[0]] = logits.cpu().numpy()
        return out

    @torch.no_grad()
    def score_new_items(self, profiles: sp.csr_matrix, items: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Logits (profiles x len(items)) of items never trained on, each given by raw attribute values.

        With ``attribute_output=True`` a trained item's output vector is its own row plus the mean
        of its attribute values' rows; a new item has no own row yet, so it is scored from the mean
        of its values' rows (and biases) alone, e.g. ``{"category": "books", "price": 12.5}``.
        Values that no training item had have no row and are left out; an item with none left is
        refused. No retraining.
        """
        self._check_fitted()
        module = self.module_
        if module.attribute_rows is None:
            raise ParameterError(
                "scoring a new item from its attributes needs a model trained with attribute_output=True "
                "on data with item attributes"
            )
        profiles = self._check_profiles(profiles)
        fs = self.feature_space_
        bags = []
        for number, values in enumerate(items):
            tokens = fs.encode_attributes("item", values)
            tokens = tokens[np.isin(tokens, module.attribute_tokens)]  # values with an attribute row
            if not len(tokens):
                raise DataError(f"new item {number} ({dict(values)!r}) has no attribute value seen on a training item")
            bags.append(sp.csr_matrix((np.ones(len(tokens)), tokens, [0, len(tokens)]), shape=(1, fs.n_tokens)))
        if not bags:
            return np.zeros((profiles.shape[0], 0), dtype=np.float32)
        device = module.attribute_rows.device
        index, share = (t.to(device) for t in module.attribute_slots(sp.vstack(bags)))
        vectors, bias = module.attribute_means(index, share)
        features = module.features(module.pooled(*bag_tensors(profiles, device)))
        return nn.functional.linear(features, vectors, bias).cpu().numpy()

    # -- persistence ----------------------------------------------------------------------------
    def _tensors(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.module_.state_dict().items()}

    def _restore_model(self, tensors: Mapping[str, np.ndarray], state: Mapping[str, Any]) -> None:
        module = self._build()
        module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, strict=True)
        module.eval()
        self.module_ = module

    # -- weights used by explainers -------------------------------------------------------------
    @property
    def token_embeddings(self) -> torch.Tensor:
        """Q^T: one row per token (n_tokens x d)."""
        return self.module_.embedding.weight


def bag_tensors(bags: sp.csr_matrix, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """A CSR batch of bags as EmbeddingBag inputs: (token indices, bag start offsets)."""
    indices = torch.from_numpy(bags.indices.astype(np.int64)).to(device)
    offsets = torch.from_numpy(bags.indptr[:-1].astype(np.int64)).to(device)
    return indices, offsets
