"""Helpers shared by the benchmark scripts: locating real data and each question's results folder.

Run every script from the repository root as a module (``python -m benchmarks.accuracy.run``), so
that they import ``benchmarks`` and ``whyrec`` as any user's code would.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
# the MovieLens folders the benchmarks take (--data) and the name their results carry
MOVIELENS_NAMES = {"ml-100k": "ml-100k", "ml-1m": "ml-1m-half"}
# RecoNet as the recorded results trained it: the paper's objective at RecoNet's earlier default
# width (the default became the faster masked objective after they were measured)
EARLIER_RECONET = {"sampling": "removal", "dim": 64}


def results_dir(question: str) -> Path:
    """The results folder of one question (``benchmarks/<question>/results``)."""
    return BENCHMARKS / question / "results"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (for a benchmark's own server)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def data_dir(name: str) -> Path:
    """A real data set's folder (WHYREC_DATA or ../shared/datasets); exits with a message if absent."""
    roots = [Path(os.environ["WHYREC_DATA"])] if os.environ.get("WHYREC_DATA") else []
    roots.append(ROOT.parent / "shared" / "datasets")
    for root in roots:
        if (root / name).is_dir():
            return root / name
    sys.exit(f"data set {name!r} not found: set WHYREC_DATA or place it at ../shared/datasets/{name}")


def served_model(seed: int) -> tuple[Any, list[dict[str, str]]]:
    """The service benchmarks' model (RecoNet, one epoch on ml-1m-half) and its (user, top-10 item)
    pairs of 500 training users, as request bodies."""
    import numpy as np

    from whyrec.data import load_movielens, split
    from whyrec.models import RecoNet

    parts = split(load_movielens(data_dir("ml-1m")), seed=seed)
    model = RecoNet(**EARLIER_RECONET, batch_size=2048, lr=5e-2, epochs=1, seed=seed).fit(parts.train)
    fs = model.feature_space_
    users = np.random.default_rng(seed).choice(np.unique(parts.train.users), 500, replace=False)
    recs = model.top_k(model.score_users(users), 10, model.train_matrix_[users])
    pairs = [
        {"user_id": fs.user_ids[u], "item_id": fs.item_ids[i]}
        for u, row in zip(users, recs.items, strict=True)
        for i in row
    ]
    return model, pairs
