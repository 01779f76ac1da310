"""RecoNet settings by data size, chosen on validation splits of data sets of each size."""

from __future__ import annotations

from typing import Any

from whyrec.data.dataset import Dataset

# Up to ~150k training interactions small steps converge well (MovieLens 100K, the synthetic shop);
# above that, large batches with a decaying learning rate reach the best epoch in a few epochs.
SMALL = {"batch_size": 512, "lr": 5e-3}
LARGE = {"batch_size": 2048, "lr": 5e-2, "lr_decay": 0.4}
LARGE_FROM = 150_000


def preset_for(train: Dataset) -> dict[str, Any]:
    """RecoNet hyper-parameters suited to the size of `train`."""
    return dict(LARGE if train.n_interactions >= LARGE_FROM else SMALL)
