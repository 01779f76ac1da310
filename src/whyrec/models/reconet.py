"""RecoNet (Fusco et al., "RecoNet: An Interpretable Neural Architecture for Recommender Systems").

A user is the mean of the embeddings of the tokens in their profile (section 4.1,
x_u = Q I_u / |FS_u|); optional ReLU hidden layers ("RecoNet + Layer"); a linear layer over items
and a softmax, trained with categorical cross-entropy on examples made by the removal sampler
(section 4.2). Explanations are ε-LRP relevances (section 4.3), see :mod:`whyrec.explain.lrp`.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from whyrec.data.dataset import Dataset
from whyrec.data.profiles import check_nonempty
from whyrec.errors import DataError, ParameterError
from whyrec.evaluate.metrics import evaluate
from whyrec.explain.bags import bag_tensors, target_logits
from whyrec.explain.base import explain_pairs
from whyrec.explain.explanation import Explanations
from whyrec.models.base import Recommender
from whyrec.models.checkpoint import TrainingState, load_checkpoint, save_checkpoint
from whyrec.models.distributed import World, local_device, world
from whyrec.models.sampled_softmax import PROPOSALS, NegativeSampler, proposal
from whyrec.models.sampler import RemovalSampler, prefetched_batches


class RecoNetModule(nn.Module):
    """Embedding bag (mean) -> [Linear + ReLU]* -> Linear over items."""

    def __init__(self, n_tokens: int, n_items: int, dim: int, hidden: Sequence[int], bias: bool) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(n_tokens, dim, mode="mean")
        widths = [dim, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        self.output = nn.Linear(widths[-1], n_items, bias=bias)
        nn.init.xavier_uniform_(self.embedding.weight)
        for layer in [*self.hidden, self.output]:
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def pooled(self, indices: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.embedding(indices, offsets)

    def pooled_csr(self, indptr: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """The same mean as :meth:`pooled`, as a sparse (bags x tokens) @ Q product.

        On CPU its backward is about twice as fast as EmbeddingBag's, which sorts the indices.
        """
        lengths = (indptr[1:] - indptr[:-1]).clamp_min(1)
        weights = torch.repeat_interleave(1.0 / lengths.to(self.embedding.weight.dtype), indptr[1:] - indptr[:-1])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            pool = torch.sparse_csr_tensor(
                indptr, indices, weights, size=(len(indptr) - 1, self.embedding.num_embeddings), check_invariants=False
            )
        return pool @ self.embedding.weight

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled vector through the hidden ReLU layers: the output layer's input."""
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return x

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.features(x))

    def forward(self, indices: torch.Tensor, offsets: torch.Tensor, csr: bool = False) -> torch.Tensor:
        """Logits of bags given in EmbeddingBag form; `csr` pools through :meth:`pooled_csr` (training)."""
        if csr:
            indptr = torch.cat([offsets, offsets.new_tensor([len(indices)])])
            return self.head(self.pooled_csr(indptr, indices))
        return self.head(self.pooled(indices, offsets))


class RecoNet(Recommender):
    """RecoNet recommender; see the module docstring for the model and the paper.

    Parameters
    ----------
    dim: embedding size d. hidden: widths of ReLU hidden layers (() is the paper's linear model).
    lr, lr_decay: Adam's learning rate and its per-epoch factor. batch_size: examples per step.
    beta: removal exponent β of the sampler. remove_attributes: the sampler also removes
    attribute tokens. use_attributes: put user and item attributes into profiles.
    cold_rate: share of training examples reduced to the user's attribute tokens (whyrec's
    cold-start recipe; 0, the default, is the paper's recipe).
    loss: "softmax" (full, the paper's) or "sampled" (sampled softmax with the logQ correction,
    for large catalogues; `negatives` shared per batch from `proposal`, "log_uniform" or
    "popularity"; see :mod:`whyrec.models.sampled_softmax`). Evaluation always uses all items.
    checkpoint_dir: write a checkpoint after every epoch and resume from it when restarted.
    epochs, patience, min_delta: training length and early stopping on validation
    recall@`eval_k` (a new best must gain more than `min_delta`). max_eval_users: validation
    users sampled for early stopping. lrp_epsilon: ε of the ε-LRP rule.
    device: "cpu", "cuda" or "auto".
    """

    supports_attributes = True

    def __init__(
        self,
        dim: int = 64,
        hidden: Sequence[int] = (),
        lr: float = 5e-3,
        lr_decay: float = 1.0,
        batch_size: int = 512,
        epochs: int = 30,
        beta: float = 1.0,
        weight_decay: float = 0.0,
        patience: int = 3,
        min_delta: float = 1e-3,
        eval_k: int = 50,
        use_attributes: bool = True,
        remove_attributes: bool = True,
        cold_rate: float = 0.0,
        loss: str = "softmax",
        negatives: int = 1000,
        proposal: str = "log_uniform",
        checkpoint_dir: str | None = None,
        output_bias: bool = True,
        max_eval_users: int = 3000,
        lrp_epsilon: float = 1e-6,
        seed: int = 0,
        device: str = "cpu",
        progress: bool = False,
    ) -> None:
        self.dim = dim
        self.hidden = hidden
        self.lr = lr
        self.lr_decay = lr_decay
        self.batch_size = batch_size
        self.epochs = epochs
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
        self.checkpoint_dir = checkpoint_dir
        self.output_bias = output_bias
        self.max_eval_users = max_eval_users
        self.lrp_epsilon = lrp_epsilon
        self.seed = seed
        self.device = device
        self.progress = progress

    # -- training -----------------------------------------------------------------------------
    def _check_params(self) -> None:
        checks = {
            "dim": self.dim >= 1,
            "lr": self.lr > 0,
            "lr_decay": 0 < self.lr_decay <= 1,
            "batch_size": self.batch_size >= 1,
            "epochs": self.epochs >= 1,
            "beta": self.beta >= 0,
            "weight_decay": self.weight_decay >= 0,
            "patience": self.patience >= 1,
            "min_delta": self.min_delta >= 0,
            "eval_k": self.eval_k >= 1,
            "hidden": all(int(h) >= 1 for h in self.hidden),
            "cold_rate": 0 <= self.cold_rate < 1,
            "loss": self.loss in ("softmax", "sampled"),
            "negatives": self.negatives >= 1,
            "proposal": self.proposal in PROPOSALS,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ParameterError("invalid RecoNet parameter(s): " + ", ".join(f"{n}={getattr(self, n)!r}" for n in bad))

    def fit(self, train: Dataset, validation: Dataset | None = None) -> RecoNet:
        """Train on `train`; early-stop on recall@eval_k over `validation` when given.

        Under `torchrun` this is data-parallel (DistributedDataParallel): each rank trains on the
        examples of its users (user index mod world size) in batches of batch_size / world size
        (so the global batch is unchanged), draws its own removals (seeded by seed and rank),
        and all ranks run as many steps per epoch. Validation and the
        early-stopping decision happen on rank 0 and are broadcast. With `checkpoint_dir`,
        rank 0 writes a checkpoint after every epoch and a restarted run resumes from it.
        """
        self._check_params()
        self.hidden = tuple(int(h) for h in self.hidden)
        self._remember(train, self.use_attributes)
        if validation is not None and validation.feature_space is not train.feature_space:
            raise DataError("train and validation must share one FeatureSpace (use whyrec.data.split)")
        device = local_device(self._torch_device())
        team = world(device)
        sparse = self.loss == "sampled" and not team.distributed  # DDP cannot reduce sparse gradients
        if sparse and self.weight_decay > 0:
            raise ParameterError("loss='sampled' trains with sparse gradients, which take no weight_decay; set it to 0")
        torch.manual_seed(self.seed)  # the same initial weights on every rank
        fs = self.feature_space_
        sampler = RemovalSampler(
            self.train_matrix_,
            self.user_attributes_,
            self.item_attributes_,
            beta=self.beta,
            remove_attributes=self.remove_attributes,
            cold_rate=self.cold_rate if self.use_attributes else 0.0,
        )
        self.module_ = RecoNetModule(fs.n_tokens, fs.n_items, self.dim, self.hidden, self.output_bias).to(device)
        network = self.module_
        if team.distributed:
            network = nn.parallel.DistributedDataParallel(self.module_)  # broadcasts rank 0's weights
        optimizers = self._optimizers(sparse)
        schedulers = [torch.optim.lr_scheduler.ExponentialLR(o, gamma=self.lr_decay) for o in optimizers]
        negatives = None
        if self.loss == "sampled":
            counts = np.bincount(self.train_matrix_.indices, minlength=fs.n_items)
            negatives = NegativeSampler(proposal(counts, self.proposal), min(self.negatives, fs.n_items))
        eval_users = self._eval_users(validation, np.random.default_rng([self.seed, 0]))
        positions = team.shard(sampler.row_of)
        per_rank = team.max(len(positions))  # ranks with fewer examples top up, so all run as many steps
        batch_size = math.ceil(self.batch_size / team.size)  # the global batch stays batch_size
        n_batches = math.ceil(per_rank / batch_size)
        fingerprint = self._fingerprint(team)
        state = TrainingState()
        if self.checkpoint_dir is not None:
            state = load_checkpoint(self.checkpoint_dir, fingerprint, self.module_, optimizers, schedulers) or state
        started = time.perf_counter() - (state.history[-1]["seconds"] if state.history else 0.0)
        with _progress(self.progress and team.is_main, (self.epochs - state.epoch) * n_batches) as bar:
            for epoch in range(state.epoch + 1, self.epochs + 1):
                network.train()
                rng = np.random.default_rng([self.seed, team.rank, epoch])
                generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
                order = _epoch_order(rng, positions, per_rank)
                total, seen = 0.0, 0
                for batch in prefetched_batches(sampler, rng, order, batch_size):
                    loss = self._step(network, batch, device, negatives, generator, sparse)
                    for optimizer in optimizers:
                        optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    for optimizer in optimizers:
                        optimizer.step()
                    total += float(loss.detach()) * len(batch.labels)
                    seen += len(batch.labels)
                    bar.advance(f"epoch {epoch} loss {total / max(seen, 1):.4f}")
                for scheduler in schedulers:
                    scheduler.step()
                record = {"epoch": epoch, "loss": total / max(seen, 1), "seconds": time.perf_counter() - started}
                if team.distributed:
                    record["examples_per_rank"] = seen
                if eval_users is not None:
                    metric = self._validation_recall(validation, eval_users) if team.is_main else 0.0
                    metric = team.broadcast(metric)
                    record[f"val_recall@{self.eval_k}"] = metric
                    bar.note(f"epoch {epoch}: loss {record['loss']:.4f}, val recall@{self.eval_k} {metric:.4f}")
                    if metric > state.best_metric + self.min_delta or state.best_state is None:
                        state.best_metric, state.best_epoch, state.waited = metric, epoch, 0
                        state.best_state = copy.deepcopy(self.module_.state_dict())
                        record["best"] = True
                    else:
                        state.waited += 1
                state.history.append(record)
                state.epoch = epoch
                if self.checkpoint_dir is not None and team.is_main:
                    save_checkpoint(self.checkpoint_dir, fingerprint, self.module_, optimizers, schedulers, state)
                team.barrier()  # no rank runs ahead of rank 0's checkpoint
                if eval_users is not None and state.waited >= self.patience:
                    break
        if state.best_state is not None:
            self.module_.load_state_dict(state.best_state)
            best_epoch = state.best_epoch
        else:
            best_epoch = len(state.history)
        self.module_.eval()
        self.history_ = state.history
        self.best_epoch_ = best_epoch
        self.best_metric_ = None if state.best_metric == -math.inf else state.best_metric
        self.time_to_best_ = state.history[best_epoch - 1]["seconds"] if state.history and best_epoch else 0.0
        self.world_size_ = team.size
        return self

    def _optimizers(self, sparse: bool) -> list[torch.optim.Optimizer]:
        m = self.module_
        if not sparse:
            return [torch.optim.Adam(m.parameters(), lr=self.lr, weight_decay=self.weight_decay)]
        tables = [m.embedding.weight, m.output.weight]  # sparse gradients: only touched rows move
        rest = [p for p in m.parameters() if all(p is not t for t in tables)]
        return [torch.optim.SparseAdam(tables, lr=self.lr), torch.optim.Adam(rest, lr=self.lr)]

    def _step(
        self,
        network: nn.Module,
        batch: Any,
        device: torch.device,
        negatives: NegativeSampler | None,
        generator: torch.Generator,
        sparse: bool,
    ) -> torch.Tensor:
        pin = device.type == "cuda"
        indices, offsets, labels = (
            _to_device(torch.from_numpy(a), device, pin) for a in (batch.indices, batch.offsets, batch.labels)
        )
        if negatives is None:  # through the wrapper, so DDP sees the forward pass
            return nn.functional.cross_entropy(network(indices, offsets, csr=True), labels)
        m = self.module_
        pooled = nn.functional.embedding_bag(indices, m.embedding.weight, offsets, mode="mean", sparse=sparse)
        features = m.features(pooled)
        return negatives.loss(features, m.output.weight, m.output.bias, labels, negatives.draw(generator), sparse)

    def _fingerprint(self, team: World) -> dict[str, Any]:
        params = {
            k: v for k, v in self.get_params().items() if k not in ("progress", "checkpoint_dir", "device", "epochs")
        }
        data = {"n_tokens": self.feature_space_.n_tokens, "nnz": int(self.train_matrix_.nnz)}
        return {"params": json.loads(json.dumps(params, default=str)), "data": data, "world_size": team.size}

    def _eval_users(self, validation: Dataset | None, rng: np.random.Generator) -> np.ndarray | None:
        if validation is None or validation.n_interactions == 0:
            return None
        users = np.unique(validation.users)
        if len(users) > self.max_eval_users:
            users = np.sort(rng.choice(users, self.max_eval_users, replace=False))
        return users

    def _validation_recall(self, validation: Dataset, users: np.ndarray) -> float:
        self.module_.eval()
        result = evaluate(self, validation, exclude=self.train_matrix_, k=self.eval_k, users=users)
        return result[f"recall@{self.eval_k}"]

    def _torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            return torch.device(self.device)
        except RuntimeError:
            raise ParameterError(f"unknown device {self.device!r}; use cpu, cuda or auto") from None

    # -- inference ----------------------------------------------------------------------------
    @torch.no_grad()
    def score(self, profiles: sp.csr_matrix, batch_size: int = 4096) -> np.ndarray:
        """Logits (n_profiles x n_items) of bags of tokens; an empty bag scores the bias alone."""
        self._check_fitted()
        profiles = self._check_profiles(profiles)
        device = next(self.module_.parameters()).device
        out = np.empty((profiles.shape[0], self.feature_space_.n_items), dtype=np.float32)
        for start in range(0, profiles.shape[0], batch_size):
            block = profiles[start : start + batch_size]
            out[start : start + block.shape[0]] = self.module_(*bag_tensors(block, device)).cpu().numpy()
        return out

    @torch.no_grad()
    def score_pairs(self, profiles: sp.csr_matrix, targets: np.ndarray, batch_size: int = 65536) -> np.ndarray:
        """Target logits only: the pooled vector times one output row per profile."""
        self._check_fitted()
        profiles = self._check_profiles(profiles)
        targets = torch.as_tensor(np.asarray(targets, dtype=np.int64))
        device = next(self.module_.parameters()).device
        out = np.empty(profiles.shape[0], dtype=np.float32)
        for start in range(0, profiles.shape[0], batch_size):
            block = profiles[start : start + batch_size]
            pooled = self.module_.pooled(*bag_tensors(block, device))
            logits = target_logits(self.module_, pooled, targets[start : start + block.shape[0]].to(device))
            out[start : start + block.shape[0]] = logits.cpu().numpy()
        return out

    def _check_profiles(self, profiles: sp.csr_matrix) -> sp.csr_matrix:
        if not sp.issparse(profiles):
            raise DataError("profiles must be a scipy CSR matrix of shape (n_profiles, n_tokens)")
        profiles = sp.csr_matrix(profiles)
        if profiles.shape[1] != self.feature_space_.n_tokens:
            raise DataError(
                f"profiles have {profiles.shape[1]} columns; this model's feature space has "
                f"{self.feature_space_.n_tokens} tokens"
            )
        return profiles

    def explain(
        self,
        user_ids: Any = None,
        item_ids: Any = None,
        *,
        profile: sp.csr_matrix | None = None,
        items: Sequence[Any] = (),
        user_attributes: Mapping[str, Any] | None = None,
        method: str = "lrp",
    ) -> Explanations:
        """Explanations of (user, item) pairs: for known users by ID, or for one new profile.

        `user_ids` and `item_ids` are paired element by element (a single user may be paired
        with several items). Without `user_ids`, `items` / `user_attributes` (or a prepared
        `profile`) describe a user never seen in training.
        """
        self._check_fitted()
        fs = self.feature_space_
        targets = np.atleast_1d(fs.item_index(item_ids))
        if user_ids is not None:
            users = np.atleast_1d(fs.user_index(user_ids))
            if len(users) == 1 and len(targets) > 1:
                users = np.repeat(users, len(targets))
            if len(users) != len(targets):
                raise ParameterError(f"{len(users)} users but {len(targets)} items; pass one item per user")
            unique, inverse = np.unique(users, return_inverse=True)
            bags = self.user_profiles(unique)[inverse]
            check_nonempty(bags, list(np.asarray(fs.user_ids, dtype=object)[users]))
        else:
            bags = profile if profile is not None else self.profile(items, user_attributes)
            bags = self._check_profiles(bags)
            if bags.shape[0] == 1 and len(targets) > 1:
                bags = bags[np.zeros(len(targets), np.int64)]
        return explain_pairs(self, bags, targets, method=method)

    # -- persistence --------------------------------------------------------------------------
    def _tensors(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.module_.state_dict().items()}

    def _restore(self, tensors: Mapping[str, np.ndarray], extra: Mapping[str, Any]) -> None:
        fs = self.feature_space_
        self.hidden = tuple(int(h) for h in self.hidden)
        module = RecoNetModule(fs.n_tokens, fs.n_items, self.dim, self.hidden, self.output_bias)
        state = {k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}
        module.load_state_dict(state, strict=True)
        module.eval()
        self.module_ = module.to(self._torch_device())
        self.history_ = list(extra.get("history", []))
        self.best_epoch_ = extra.get("best_epoch")
        self.best_metric_ = extra.get("best_metric")
        self.time_to_best_ = extra.get("time_to_best")

    def _extra(self) -> dict[str, Any]:
        return {
            "history": self.history_,
            "best_epoch": self.best_epoch_,
            "best_metric": self.best_metric_,
            "time_to_best": self.time_to_best_,
        }

    # -- weights used by explainers ---------------------------------------------------------------
    @property
    def token_embeddings(self) -> torch.Tensor:
        """Q^T: one row per token (n_tokens x d)."""
        return self.module_.embedding.weight


class _progress:
    """A rich progress bar with the running loss, or nothing when disabled."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.total = total

    def __enter__(self) -> _progress:
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("[bold]RecoNet[/bold] {task.description}"), BarColumn(), TimeElapsedColumn()
            )
            self._bar.start()
            self._task = self._bar.add_task("", total=self.total)
        return self

    def advance(self, description: str) -> None:
        if self.enabled:
            self._bar.update(self._task, advance=1, description=description)

    def note(self, text: str) -> None:
        if self.enabled:
            self._bar.console.print(text)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.update(self._task, completed=self.total)
            self._bar.stop()


def _epoch_order(rng: np.random.Generator, positions: np.ndarray, length: int) -> np.ndarray:
    """This rank's examples in random order, topped up with random repeats to `length` examples."""
    order = rng.permutation(positions)
    if len(order) < length and len(positions):
        order = np.concatenate([order, rng.choice(positions, length - len(order))])
    return order


def _to_device(tensor: torch.Tensor, device: torch.device, pin: bool) -> torch.Tensor:
    if pin:
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)
