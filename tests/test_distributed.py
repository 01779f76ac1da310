"""Scale: data-parallel training under torchrun (gloo), checkpoints and resumption, sampled softmax."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import run_cli
from whyrec.data.splits import split
from whyrec.data.synthetic import synthetic
from whyrec.errors import ParameterError
from whyrec.explain import explain
from whyrec.models import training as training_module
from whyrec.models.baselines import Popularity
from whyrec.models.reconet import RecoNet
from whyrec.models.sampled_softmax import NegativeSampler, proposal
from whyrec.models.training import TrainingOptions

HERE = Path(__file__).parent
SEEDS = [0, 1, 2]


def _torchrun(args: list[str], tmp_path: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def parts():
    return split(synthetic(n_users=800, n_items=120, seed=3).dataset, seed=1)


def test_two_gloo_processes_reach_the_single_process_validation_recall(tmp_path, parts):
    sys.path.insert(0, str(HERE))
    from distributed_worker import SETTINGS

    args = [str(HERE / "distributed_worker.py"), str(tmp_path / "out.json"), *map(str, SEEDS)]
    done = _torchrun(args, tmp_path)
    if done.returncode != 0:
        # seen twice in many runs, only on a machine under heavy concurrent load: rank 0 aborted
        # (SIGABRT) inside torch; one fresh launch tells a flaky start from a real failure
        done = _torchrun(args, tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    ranks = json.loads((tmp_path / "out.json").read_text())
    assert [r[str(SEEDS[0])]["world_size"] for r in ranks] == [2, 2]
    for seed in map(str, SEEDS):  # DDP keeps the replicas identical
        assert ranks[0][seed]["weights"] == pytest.approx(ranks[1][seed]["weights"], rel=1e-5)
    two = np.array([ranks[0][str(s)]["best"] for s in SEEDS])
    with torch.inference_mode(False):
        one = np.array([RecoNet(seed=s, **SETTINGS).fit(parts.train, parts.validation).best_metric_ for s in SEEDS])
    noise = max(one.std(), two.std(), 0.01)
    assert abs(two.mean() - one.mean()) <= 3 * noise, (one, two)


def test_distributed_flag_without_torchrun_explains_how_to_launch(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    code, _, err = run_cli(monkeypatch, capsys, "train", "--distributed", "--out", tmp_path / "m")
    assert code == 2 and "torchrun" in err and len(err.strip().splitlines()) == 1


def test_a_killed_run_resumes_from_its_checkpoint_to_the_same_weights(parts, tmp_path, monkeypatch):
    settings = {"dim": 16, "epochs": 5, "batch_size": 256, "lr": 1e-2, "patience": 5, "seed": 0}
    whole = RecoNet(**settings).fit(parts.train, parts.validation)
    real_save = training_module.save_checkpoint
    checkpoints = TrainingOptions(checkpoint_dir=tmp_path / "ckpt")

    def save_then_die(path, fingerprint, module, optimizers, schedulers, state):
        real_save(path, fingerprint, module, optimizers, schedulers, state)
        if state.epoch == 2:
            raise KeyboardInterrupt  # the process dies right after epoch 2's checkpoint

    monkeypatch.setattr("whyrec.models.training.save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        RecoNet(**settings).fit(parts.train, parts.validation, options=checkpoints)
    monkeypatch.setattr("whyrec.models.training.save_checkpoint", real_save)
    resumed = RecoNet(**settings).fit(parts.train, parts.validation, options=checkpoints)
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3, 4, 5]
    for name, value in whole.module_.state_dict().items():
        assert torch.equal(value, resumed.module_.state_dict()[name]), name
    with pytest.raises(ParameterError, match="different run"):
        RecoNet(**{**settings, "dim": 8}).fit(parts.train, parts.validation, options=checkpoints)


def test_sampled_softmax_learns_close_to_the_full_softmax(parts):
    from whyrec.metrics import evaluate

    known = parts.train.matrix() + parts.validation.matrix()
    settings = {"dim": 16, "epochs": 8, "batch_size": 256, "lr": 1e-2, "seed": 0, "sampling": "removal"}
    full = RecoNet(**settings).fit(parts.train, parts.validation)
    sampled = RecoNet(loss="sampled", negatives=40, **{**settings, "lr": 2e-2}).fit(parts.train, parts.validation)
    recall = [evaluate(m, parts.test, exclude=known, k=20)["recall@20"] for m in (full, sampled)]
    popularity = evaluate(Popularity().fit(parts.train), parts.test, exclude=known, k=20)["recall@20"]
    assert recall[1] >= recall[0] - 0.03 and recall[1] > popularity + 0.05, (recall, popularity)
    explained = explain(sampled, parts.dataset.feature_space.user_ids[:3], parts.dataset.feature_space.item_ids[1:4])
    assert np.allclose([e.relevance.sum() + e.baseline for e in explained], [e.score for e in explained], atol=1e-4)
    with pytest.raises(ParameterError, match="weight_decay; set it to 0 or sparse_gradients=False"):
        RecoNet(loss="sampled", weight_decay=1e-4).fit(parts.train)
    # dense gradients (faster an epoch on a small catalogue) take weight decay and learn as well
    dense = RecoNet(
        loss="sampled", negatives=40, sparse_gradients=False, **{**settings, "lr": 2e-2, "weight_decay": 1e-6}
    )
    dense.fit(parts.train, parts.validation)
    with pytest.raises(ParameterError, match="sparse_gradients='no'"):
        RecoNet(loss="sampled", sparse_gradients="no").fit(parts.train)  # type: ignore[arg-type]
    # the last step's gradients of the two tables: dense here, sparse in the default sampled run above
    tables = [
        (m.module_.embedding.weight.grad, m.module_.output.weight.grad, m.module_.attribute_rows.grad)
        for m in (dense, sampled)
    ]
    assert all(g is not None and not g.is_sparse for g in tables[0])
    assert all(g is not None and g.is_sparse for g in tables[1])
    dense_recall = evaluate(dense, parts.test, exclude=known, k=20)["recall@20"]
    assert dense_recall >= recall[0] - 0.03 and dense_recall > popularity + 0.05, (dense_recall, recall, popularity)


def _sampled_gradient_cosine(corrected: bool) -> float:
    torch.manual_seed(0)
    n_items, d = 50, 8
    weight, bias = torch.randn(n_items, d, requires_grad=True), torch.zeros(n_items)
    features, labels = torch.randn(256, d), torch.randint(0, n_items, (256,))
    torch.nn.functional.cross_entropy(features @ weight.T + bias, labels).backward()
    full, weight.grad = weight.grad.clone(), None
    counts = np.random.default_rng(0).permutation(np.round(1e4 / np.arange(1, n_items + 1) ** 1.5))
    sampler = NegativeSampler(proposal(counts, "log_uniform"), 100)
    if not corrected:
        sampler.log_q = torch.zeros_like(sampler.log_q)
    generator = torch.Generator().manual_seed(0)
    for _ in range(100):
        negatives = sampler.draw(generator)
        candidates = torch.cat([labels, negatives])
        sampler.loss(features, weight[candidates], bias[candidates], labels, negatives).backward()
    return float(torch.nn.functional.cosine_similarity(full.ravel(), weight.grad.ravel(), dim=0))


def test_log_q_correction_makes_sampled_gradients_point_like_the_full_ones():
    corrected, uncorrected = _sampled_gradient_cosine(True), _sampled_gradient_cosine(False)
    assert corrected > 0.97 and corrected > uncorrected + 0.03, (corrected, uncorrected)
    q = proposal(np.array([5, 50, 1, 20]), "log_uniform")
    assert q.sum() == pytest.approx(1.0) and q.argmax() == 1 and q.argmin() == 2
