"""RecoNet settings by data size, chosen on validation splits (see benchmarks/results)."""

from __future__ import annotations

from typing import Any

from whyrec.data.dataset import Dataset

# Up to ~150k training interactions small steps converge well (ML-100K, synthetic); above that,
# large batches with a decaying learning rate reach the best epoch in a few epochs (ml-1m-half).
SMALL = {"batch_size": 512, "lr": 5e-3}
LARGE = {"batch_size": 2048, "lr": 5e-2, "lr_decay": 0.4}
LARGE_FROM = 150_000


def preset_for(train: Dataset) -> dict[str, Any]:
    """RecoNet hyper-parameters suited to the size of `train`."""
    return dict(LARGE if train.n_interactions >= LARGE_FROM else SMALL)
