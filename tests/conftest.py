"""Shared fixtures: small synthetic data, a trained tiny RecoNet, and the real-data locator."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from whyrec.data import split, synthetic
from whyrec.models import RecoNet

REPO = Path(__file__).resolve().parents[1]


def run_cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """Run `whyrec ARGS` as the console script does: (exit status, stdout, stderr)."""
    from whyrec.cli import main

    monkeypatch.setattr(sys, "argv", ["whyrec", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def data_root() -> Path | None:
    """WHYREC_DATA, or ../shared/datasets beside the checkout; None when neither exists."""
    env = os.environ.get("WHYREC_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "datasets")
    for path in candidates:
        if path.is_dir():
            return path
    return None


def dataset_dir(name: str) -> Path:
    """Path of a real data set, or skip the test saying why."""
    root = data_root()
    if root is None or not (root / name).is_dir():
        pytest.skip(f"real data '{name}' not found: set WHYREC_DATA or place it at ../shared/datasets/{name}")
    return root / name


@pytest.fixture(scope="session")
def small_data():
    return synthetic(n_users=400, n_items=80, seed=3)


@pytest.fixture(scope="session")
def small_split(small_data):
    return split(small_data.dataset, seed=1, cold_start=0.1)


@pytest.fixture(scope="session")
def small_model(small_split):
    return RecoNet(dim=16, epochs=8, batch_size=256, lr=1e-2, seed=0).fit(small_split.train, small_split.validation)


@pytest.fixture(scope="session")
def small_deep_model(small_split):
    return RecoNet(dim=16, hidden=(24,), epochs=3, batch_size=256, lr=1e-2, seed=0).fit(
        small_split.train, small_split.validation
    )
