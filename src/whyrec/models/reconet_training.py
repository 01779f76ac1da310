"""What RecoNet optimises, as named steps that the one epoch loop runs and a test can call one by one.

As lenskit's per-model ``ModelTrainer``: :class:`RecoNetTrainer` prepares the data (the removal or
masking sampler and this rank's share of the examples, section 4.2 of Fusco et al.), builds the
module and its optimizers, draws one epoch's batches, and computes one batch's loss: the full
softmax's cross-entropy (the paper's), one softmax per bag read at each of its masked labels, or
the sampled softmax for large catalogues. :class:`~whyrec.models.training.Trainer` owns the rest
(epochs, early stopping, checkpoints, progress).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from whyrec.errors import ParameterError
from whyrec.models.distributed import World, local_device, world
from whyrec.models.sampled_softmax import NegativeSampler, proposal
from whyrec.models.sampler import Batch, MaskingSampler, RemovalSampler, prefetched_batches
from whyrec.models.training import Objective, TrainingOptions, adam, to_device

if TYPE_CHECKING:
    from whyrec.models.reconet import RecoNet

Item = tuple[Batch, torch.Generator]


class RecoNetTrainer:
    """One fit of `model` (a RecoNet that has remembered its training data), step by step.

    Under `torchrun` each rank trains on the examples of its users (user index mod world size) in
    batches of ``batch_size / world size``, so that the global batch is unchanged, and every rank
    runs as many steps an epoch (ranks with fewer examples top up with repeats).
    """

    def __init__(self, model: RecoNet, options: TrainingOptions) -> None:
        self.model = model
        self.device = local_device(options.torch_device())
        self.team: World = world(self.device)
        # DDP cannot reduce sparse gradients
        self.sparse = model.loss == "sampled" and model.sparse_gradients and not self.team.distributed
        if self.sparse and model.decay > 0:
            raise ParameterError(
                "loss='sampled' with sparse gradients takes no weight_decay; set it to 0 or sparse_gradients=False"
            )
        self.sampler, self.positions = self.prepare_data()
        self.per_rank = self.team.max(len(self.positions))
        self.batch_size = math.ceil(model.setting("batch_size") / self.team.size)
        self.network = self.build()
        self.optimizers = self.make_optimizers()
        self.negatives = self.negative_sampler()

    def prepare_data(self) -> tuple[RemovalSampler | MaskingSampler, np.ndarray]:
        """The sampler of training examples and this rank's positions in it (users or interactions)."""
        m = self.model
        cold_rate = m.cold_rate if m.use_attributes else 0.0
        if m.sampling == "masked":
            masking = MaskingSampler(
                m.train_matrix_, m.user_attributes_, m.item_attributes_, rate=m.mask_rate, cold_rate=cold_rate
            )
            return masking, masking.users[self.team.shard(masking.users)]  # this rank's users
        removal = RemovalSampler(
            m.train_matrix_,
            m.user_attributes_,
            m.item_attributes_,
            beta=m.beta,
            remove_attributes=m.remove_attributes,
            cold_rate=cold_rate,
        )
        return removal, self.team.shard(removal.row_of)  # this rank's users' interactions

    def build(self) -> nn.Module:
        """The model's module on the device, with the same initial weights on every rank; returns
        what runs the forward pass (the DistributedDataParallel wrapper when distributed)."""
        torch.manual_seed(self.model.seed)
        self.model.module_ = self.model._build().to(self.device)
        if self.team.distributed:
            return nn.parallel.DistributedDataParallel(self.model.module_)  # broadcasts rank 0's weights
        return self.model.module_

    def make_optimizers(self) -> list[torch.optim.Optimizer]:
        """Adam over every weight; with sparse gradients, SparseAdam over the tables a batch touches."""
        m = self.model.module_
        lr = self.model.setting("lr")
        if not self.sparse:
            return [adam(m.parameters(), lr=lr, weight_decay=self.model.decay)]
        tables = [m.embedding.weight, m.output.weight]  # sparse gradients: only touched rows move
        if m.attribute_rows is not None:
            tables.append(m.attribute_rows)
        rest = [p for p in m.parameters() if all(p is not t for t in tables)]
        return [torch.optim.SparseAdam(tables, lr=lr), adam(rest, lr=lr)]

    def negative_sampler(self) -> NegativeSampler | None:
        """The sampled softmax's shared negatives (None for the full softmax)."""
        m = self.model
        if m.loss != "sampled":
            return None
        counts = np.bincount(m.train_matrix_.indices, minlength=m.feature_space_.n_items)
        return NegativeSampler(proposal(counts, m.proposal), min(m.negatives, counts.size))

    def batches(self, epoch: int, rng: np.random.Generator) -> Iterator[Item]:
        """One epoch's batches, drawn from `rng`, each with the generator its negatives draw from."""
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        order = rng.permutation(self.positions)
        if len(order) < self.per_rank and len(self.positions):  # top up to as many steps as every rank
            order = np.concatenate([order, rng.choice(self.positions, self.per_rank - len(order))])
        for batch in prefetched_batches(self.sampler, rng, order, self.batch_size):
            yield batch, generator

    def loss(self, item: Item) -> tuple[torch.Tensor, int]:
        """One batch's mean loss and its number of examples (see the module docstring)."""
        batch, generator = item
        indices, offsets, labels = (to_device(torch.from_numpy(a), self.device) for a in batch.arrays())
        bag_of = None if batch.rows is None else to_device(torch.from_numpy(batch.rows), self.device)
        if self.negatives is None:  # through the wrapper, so DDP sees the forward pass
            logits = self.network(indices, offsets, csr=True)
            if bag_of is None:
                return nn.functional.cross_entropy(logits, labels), len(batch.labels)
            # one softmax per bag, read at each of its labels
            return -torch.log_softmax(logits, dim=-1)[bag_of, labels].mean(), len(batch.labels)
        module = self.model.module_
        pooled = module.pooled(indices, offsets, self.sparse)
        pooled = pooled if bag_of is None else pooled[bag_of]
        drawn = self.negatives.draw(generator).to(labels.device)
        candidates = torch.cat([labels, drawn])  # only these output rows are computed, and learn
        rows, bias = module.output_layer(candidates, self.sparse)
        return self.negatives.loss(module.features(pooled), rows, bias, labels, drawn), len(batch.labels)

    def objective(self, validate: Callable[[], Mapping[str, float]] | None) -> Objective:
        """What the epoch loop runs: these steps, a learning rate decaying by ``lr_decay`` an epoch,
        and `validate` for early stopping."""
        decay: Any = torch.optim.lr_scheduler.ExponentialLR
        return Objective(
            module=self.model.module_,
            network=self.network,
            optimizers=self.optimizers,
            schedulers=[decay(o, gamma=self.model.setting("lr_decay")) for o in self.optimizers],
            batches=self.batches,
            loss=self.loss,
            validate=validate,
            batches_per_epoch=math.ceil(self.per_rank / self.batch_size),
        )
