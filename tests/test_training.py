"""The one Trainer: early stopping keeps the best epoch, callbacks see every epoch, runs resume exactly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from whyrec.errors import ParameterError
from whyrec.models import RecoNet
from whyrec.models import training as training_module
from whyrec.models.baselines import MultVAE
from whyrec.models.training import EpochRecord, Monitor, Objective, Trainer, TrainingOptions


def _objective(scores: list[float]) -> tuple[Objective, torch.nn.Linear, list[torch.Tensor]]:
    """A one-weight model whose validation metric follows `scores`, epoch by epoch."""
    module = torch.nn.Linear(1, 1, bias=False)
    snapshots: list[torch.Tensor] = []
    x = torch.ones(4, 1)

    def loss(_: None) -> tuple[torch.Tensor, int]:
        return (module(x) - 3.0).pow(2).mean(), 4

    def validate() -> dict[str, float]:
        snapshots.append(module.weight.detach().clone())
        return {"score": scores[len(snapshots) - 1]}

    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    return Objective(module, [optimizer], lambda e, r: (None,), loss, validate=validate), module, snapshots


def test_early_stopping_keeps_the_best_epoch_and_waits_patience_epochs():
    objective, module, snapshots = _objective([0.1, 0.5, 0.4, 0.3, 0.9])
    result = Trainer(epochs=5, seed=0, monitor=Monitor("score", "max", patience=2)).fit(objective)
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]  # epochs 3 and 4 did not beat epoch 2
    assert result.best_epoch == 2 and result.best_metric == pytest.approx(0.5)
    assert torch.equal(module.weight, snapshots[1])
    assert [r.get("best", False) for r in result.history] == [True, True, False, False]


def test_a_minimised_metric_and_min_delta():
    objective, _, _ = _objective([1.0, 0.95, 0.5, 0.49])
    result = Trainer(epochs=4, seed=0, monitor=Monitor("score", "min", patience=5, min_delta=0.05)).fit(objective)
    assert result.best_epoch == 3  # 0.95 and 0.49 are within min_delta of the best before them


def test_callbacks_see_every_epoch_and_can_stop_training():
    seen: list[EpochRecord] = []

    def prune(record: EpochRecord) -> None:
        seen.append(record)
        if record.epoch == 2:
            raise KeyboardInterrupt("pruned")

    objective, _, _ = _objective([0.2, 0.3, 0.4])
    with pytest.raises(KeyboardInterrupt, match="pruned"):
        Trainer(epochs=3, seed=0, monitor=Monitor("score"), options=TrainingOptions(callbacks=(prune,))).fit(objective)
    assert [r.epoch for r in seen] == [1, 2] and seen[1].best_metric == pytest.approx(0.3)
    assert seen[1].record["val_score"] == pytest.approx(0.3)


def test_an_unknown_device_is_a_parameter_error(small_split):
    with pytest.raises(ParameterError, match="unknown device 'toaster'"):
        TrainingOptions(device="toaster").torch_device()
    with pytest.raises(ParameterError, match="MultVAE trains on the CPU"):
        MultVAE(epochs=1).fit(small_split.train, options=TrainingOptions(device="cuda"))


def test_bfloat16_training_runs_the_passes_in_bfloat16_and_keeps_float32_weights(small_split, monkeypatch):
    products: list[torch.dtype] = []
    linear = torch.nn.functional.linear

    def recorded(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        out = linear(x, weight, bias)
        products.append(out.dtype)
        return out

    monkeypatch.setattr(torch.nn.functional, "linear", recorded)
    params = dict(dim=16, epochs=3, batch_size=256, lr=1e-2, seed=0)
    full = RecoNet(**params).fit(small_split.train, small_split.validation)
    assert products and set(products) == {torch.float32}
    products.clear()
    options = TrainingOptions(precision="bfloat16")
    half = RecoNet(**params).fit(small_split.train, small_split.validation, options=options)
    assert torch.bfloat16 in products  # the training passes ...
    assert products[-1] == torch.float32  # ... but not validation, which scores in float32
    assert all(v.dtype == torch.float32 for v in half.module_.state_dict().values())
    assert not torch.equal(half.module_.embedding.weight, full.module_.embedding.weight)  # rounding differs
    assert half.best_metric_ == pytest.approx(full.best_metric_, abs=0.05)
    again = RecoNet(**params).fit(small_split.train, small_split.validation, options=options)
    assert torch.equal(again.module_.embedding.weight, half.module_.embedding.weight)  # still seeded
    with pytest.raises(ParameterError, match="unknown precision 'float16'; use float32 or bfloat16"):
        TrainingOptions(precision="float16")  # type: ignore[arg-type]


def test_any_model_resumes_a_killed_run_exactly(small_split, tmp_path, monkeypatch):
    """Mult-VAE draws dropout and noise from torch's generator: the trainer reseeds it every epoch."""
    settings = {"hidden": 32, "latent": 8, "epochs": 4, "patience": 4, "seed": 1}
    whole = MultVAE(**settings).fit(small_split.train, small_split.validation)
    real_save = training_module.save_checkpoint

    def save_then_die(path, fingerprint, module, optimizers, schedulers, state):
        real_save(path, fingerprint, module, optimizers, schedulers, state)
        if state.epoch == 2:
            raise KeyboardInterrupt

    options = TrainingOptions(checkpoint_dir=tmp_path / "ckpt")
    monkeypatch.setattr(training_module, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        MultVAE(**settings).fit(small_split.train, small_split.validation, options=options)
    monkeypatch.setattr(training_module, "save_checkpoint", real_save)
    resumed = MultVAE(**settings).fit(small_split.train, small_split.validation, options=options)
    assert [h["epoch"] for h in resumed.history_] == [h["epoch"] for h in whole.history_]
    users = np.arange(20)
    np.testing.assert_array_equal(resumed.score_users(users), whole.score_users(users))
    with pytest.raises(ParameterError, match="different run"):
        MultVAE(**{**settings, "latent": 4}).fit(small_split.train, small_split.validation, options=options)
    half = replace(options, precision="bfloat16")
    with pytest.raises(ParameterError, match=r"different run \(differs in precision\)"):
        MultVAE(**settings).fit(small_split.train, small_split.validation, options=half)


def _steps(small_split, **params):
    """RecoNet's trainer for `params`, on the model as fit leaves it before the epoch loop."""
    from whyrec.models.reconet_training import RecoNetTrainer

    model = RecoNet(dim=8, seed=0, **params)
    model._check_params()
    model._remember(small_split.train, model.use_attributes)
    return model, RecoNetTrainer(model, TrainingOptions())


@pytest.mark.parametrize("params", [{"sampling": "removal"}, {"sampling": "masked", "batch_size": 16}])
def test_reconet_batches_and_loss_are_steps_a_test_can_call(small_split, params):
    model, steps = _steps(small_split, **params)
    epoch = list(steps.batches(0, np.random.default_rng(0)))
    labels = np.concatenate([batch.labels for batch, _ in epoch])
    if params["sampling"] == "masked":  # one example per masked item of every training user
        assert len(epoch[0][0].rows) == len(epoch[0][0].labels) > len(epoch[0][0].offsets)
    else:  # one example per training interaction, each labelled by its item
        assert sorted(labels) == sorted(small_split.train.items)
    batch, generator = epoch[0]
    value, count = steps.loss(epoch[0])
    assert count == len(batch.labels) and value.requires_grad
    # the loss is the cross-entropy of the module's own logits at the batch's labels
    indices, offsets = torch.from_numpy(batch.indices), torch.from_numpy(batch.offsets)
    logits = model.module_(indices, offsets, csr=True)
    rows = np.arange(len(batch.labels)) if batch.rows is None else batch.rows
    expected = -torch.log_softmax(logits, dim=-1)[torch.from_numpy(rows), torch.from_numpy(batch.labels)].mean()
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    # one optimizer step on that batch lowers its loss
    value.backward()
    for optimizer in steps.optimizers:
        optimizer.step()
    assert steps.loss((batch, generator))[0].item() < value.item()


def test_reconet_sampled_softmax_steps_refuse_weight_decay_with_sparse_gradients(small_split):
    _, steps = _steps(small_split, loss="sampled", negatives=10)
    assert steps.sparse and steps.negatives is not None and len(steps.optimizers) == 2
    value, _ = steps.loss(next(steps.batches(0, np.random.default_rng(0))))
    assert torch.isfinite(value)
    with pytest.raises(ParameterError, match="takes no weight_decay"):
        _steps(small_split, loss="sampled", weight_decay=1e-4)


def test_a_callback_can_end_training_and_keep_the_best_epoch(small_split):
    from whyrec.models.training import StopTraining

    def stop_after_three(record):
        if record.epoch == 3:
            raise StopTraining

    model = RecoNet(dim=8, epochs=20, patience=50, seed=0)
    model.fit(small_split.train, small_split.validation, options=TrainingOptions(callbacks=(stop_after_three,)))
    assert len(model.history_) == 3 and 1 <= model.best_epoch_ <= 3
    assert model.best_metric_ == max(r["val_recall@50"] for r in model.history_)
