"""A synthetic catalogue of any size, generated straight to Parquet shards (issue: scale).

Items fall into categories with a Zipf popularity inside each; every user prefers one category and
takes 80% of their interactions from it (the rest from the whole catalogue, by popularity). A
user's country follows the preferred category; the price band follows the item's position in its
category. Users are generated shard by shard, vectorised, so 2,000,000 users never sit in memory
at once. The shards feed :func:`whyrec.data.stream.stream_dataset`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from whyrec.data.stream import write_shards
from whyrec.errors import ParameterError

N_COUNTRIES = 20
N_PRICE_BANDS = 5


def write_synthetic_catalogue(
    folder: str | os.PathLike,
    *,
    n_users: int = 2_000_000,
    n_items: int = 1_000_000,
    n_categories: int = 1000,
    mean_interactions: float = 10.0,
    users_per_shard: int = 250_000,
    in_category: float = 0.8,
    seed: int = 0,
) -> dict[str, int]:
    """Write interactions/ (shards + shards.json), users.parquet and items.parquet to `folder`."""
    if n_users < 1 or n_items < n_categories or n_categories < 1 or mean_interactions < 1:
        raise ParameterError("need n_users >= 1, n_items >= n_categories >= 1 and mean_interactions >= 1")
    folder = Path(folder)
    rng = np.random.default_rng([seed, 0])
    spread = rng.integers(0, n_categories, n_items - n_categories)
    category = np.sort(np.concatenate([np.arange(n_categories), spread]))  # grouped; none empty
    starts = np.searchsorted(category, np.arange(n_categories + 1))
    rank_in_category = np.arange(n_items) - starts[category]
    weight = 1.0 / (rank_in_category + 1.0)  # Zipf inside each category
    cdf = np.cumsum(weight)
    edge = np.concatenate([[0.0], cdf])[starts]  # cumulative weight where each category starts
    item_ids = rng.permutation(n_items) + 1  # ids carry no order
    price = np.minimum(rank_in_category * N_PRICE_BANDS // np.maximum(np.diff(starts)[category], 1), N_PRICE_BANDS - 1)
    names = np.char.add("c", category.astype(str))  # a label, not a number to bin
    pd.DataFrame({"item": item_ids, "category": names, "price": price}).to_parquet(folder / "items.parquet")
    preferred = rng.integers(0, n_categories, n_users)
    country = np.where(rng.random(n_users) < 0.7, preferred % N_COUNTRIES, rng.integers(0, N_COUNTRIES, n_users))
    pd.DataFrame({"user": np.arange(1, n_users + 1), "country": country.astype(str)}).to_parquet(
        folder / "users.parquet"
    )

    def shards() -> Iterator[pd.DataFrame]:
        for shard, first in enumerate(range(0, n_users, users_per_shard)):
            r = np.random.default_rng([seed, 1, shard])
            users = np.arange(first, min(first + users_per_shard, n_users))
            lengths = np.clip(r.geometric(1.0 / mean_interactions, len(users)), 2, 200)
            owner = np.repeat(users, lengths)
            local = r.random(len(owner)) < in_category
            c = preferred[owner]
            lo = np.where(local, edge[c], 0.0)
            hi = np.where(local, edge[c + 1], cdf[-1])
            items = np.searchsorted(cdf, lo + r.random(len(owner)) * (hi - lo)).clip(0, n_items - 1)
            yield pd.DataFrame({"user": (owner + 1).astype(np.int64), "item": item_ids[items].astype(np.int64)})

    listed = write_shards(shards(), folder / "interactions")
    return {"n_users": n_users, "n_items": n_items, "rows": sum(s["rows"] for s in listed), "shards": len(listed)}
