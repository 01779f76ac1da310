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


def run_benchmark(monkeypatch, capsys, module: str, *args) -> tuple[int, str, str]:
    """Run ``python -m benchmarks.MODULE ARGS`` in this process: (exit status, stdout, stderr)."""
    import importlib

    from benchmarks.provenance import run_main

    script = importlib.import_module(f"benchmarks.{module}")
    monkeypatch.setattr(sys, "argv", [script.__file__, *map(str, args)])
    code = 0
    try:
        run_main(script.main)
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
    """RecoNet as it comes: the attribute-aware output layer."""
    return RecoNet(dim=16, sampling="removal", epochs=8, batch_size=256, lr=1e-2, seed=0).fit(
        small_split.train, small_split.validation
    )


@pytest.fixture(scope="session")
def small_paper_model(small_split):
    """RecoNet with the paper's output layer, one argument away."""
    return RecoNet(dim=16, sampling="removal", epochs=8, batch_size=256, lr=1e-2, attribute_output=False, seed=0).fit(
        small_split.train, small_split.validation
    )


@pytest.fixture(scope="session")
def small_by_kind_model(small_split):
    """RecoNet with a mean per token group (history side, user attributes)."""
    return RecoNet(dim=16, sampling="removal", epochs=8, batch_size=256, lr=1e-2, pooling="by_kind", seed=0).fit(
        small_split.train, small_split.validation
    )


@pytest.fixture(scope="session")
def small_deep_model(small_split):
    return RecoNet(dim=16, sampling="removal", hidden=(24,), epochs=3, batch_size=256, lr=1e-2, seed=0).fit(
        small_split.train, small_split.validation
    )


def _postgres_binary(name: str) -> str | None:
    import glob
    import shutil

    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the store tests: WHYREC_TEST_POSTGRES, or a throwaway local cluster
    (Debian's postgresql, which .ci/run installs); skipped with the reason when neither works."""
    import shutil
    import socket
    import subprocess
    import tempfile

    url = os.environ.get("WHYREC_TEST_POSTGRES")
    if url:
        yield url
        return
    initdb, pg_ctl = _postgres_binary("initdb"), _postgres_binary("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL is not installed (set WHYREC_TEST_POSTGRES or install Debian's postgresql)")
    root = Path(tempfile.mkdtemp(prefix="whyrec-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: run the cluster as the postgres user
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser: cannot start a PostgreSQL cluster")
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    made = subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], capture_output=True)
    if made.returncode:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"initdb failed: {made.stderr.decode().strip()[-200:]}")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=on"
    started = subprocess.run(
        [*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"], capture_output=True
    )
    if started.returncode:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL did not start: {started.stderr.decode().strip()[-200:]}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on the test server for one test."""
    import uuid

    from sqlalchemy import create_engine, text

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        postgres_server.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    yield postgres_server.rsplit("/", 1)[0] + "/" + name
