"""Synthetic implicit feedback with planted, known drivers.

Each interaction is drawn from a mixture of mechanisms, and the generator records which one:

* ``popularity``: an item drawn by (Zipf) popularity alone, no driver;
* ``country x category``: the user's country has a favourite category; driver ``user.country=..``;
* ``device x price``: the user's device prefers a price band; driver ``user.device=..``;
* ``co-interaction``: items come in bundles; having one makes its bundle mates likely; driver
  the bundle mate already in the history (``item:..``).

Age band and gender carry no signal, and brands only follow categories, so a faithful explainer
should not rank them high. :meth:`SyntheticData.planted_drivers` gives, for any (user, item) pair
and history, the mechanism's posterior and the planted driver tokens when one mechanism is clear.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from whyrec.data.dataset import Dataset
from whyrec.errors import ParameterError

MECHANISMS = ("popularity", "country x category", "device x price", "co-interaction")
COUNTRIES = ("BR", "DE", "FR", "IN", "JP", "US", "NG", "MX")
DEVICES = ("mobile", "desktop", "tablet")
CATEGORIES = ("books", "music", "games", "garden", "kitchen", "sports", "toys", "beauty", "tools", "fashion")
PRICE_BANDS = ((1, 15), (15, 40), (40, 120))  # budget, mid, premium price ranges
# how a shopper's reasons read (whyrec.explain.words)
PHRASES = {
    "item": "you bought {name}",
    "items": "products",
    "user.age": "you are {value}",
    "user.country": "you live in {value}",
    "user.device": "you shop on {value}",
    "item.category": "you like {value}",
    "item.brand": "you like {value}",
    "item.price": "you often pay {value}",
}
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")


@dataclass(frozen=True)
class SyntheticData:
    """A generated dataset, the mechanism behind every interaction, and the planted structure."""

    dataset: Dataset
    interactions: pd.DataFrame  # user, item (external IDs), mechanism, driver (token name or None)
    mixture: np.ndarray  # prior of each mechanism
    country_category: np.ndarray  # P(category | country)
    device_band: np.ndarray  # P(price band | device)
    popularity: np.ndarray  # P(item) under the popularity mechanism
    item_category: np.ndarray
    item_band: np.ndarray
    item_bundle: np.ndarray
    user_country: np.ndarray
    user_device: np.ndarray
    user_mixture: np.ndarray  # per-user prior of each mechanism (differs by region with segment drivers)

    def mechanism_likelihoods(self, users: np.ndarray, items: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        """P(item | user, mechanism) for each pair (rows) and mechanism (columns)."""
        users, items = np.asarray(users), np.asarray(items)
        cat, band = self.item_category, self.item_band
        in_cat = self.popularity / np.bincount(cat, weights=self.popularity)[cat]
        in_band = self.popularity / np.bincount(band, weights=self.popularity)[band]
        like = np.zeros((len(users), len(MECHANISMS)))
        like[:, 0] = self.popularity[items]
        like[:, 1] = self.country_category[self.user_country[users], cat[items]] * in_cat[items]
        like[:, 2] = self.device_band[self.user_device[users], band[items]] * in_band[items]
        mates = self._bundle_mates(users, items, history)
        sizes = np.bincount(self.item_bundle)[self.item_bundle[items]]
        lengths = np.maximum(np.diff(history.indptr)[users], 1)
        like[:, 3] = np.array([len(m) for m in mates]) / lengths / np.maximum(sizes - 1, 1)
        return like

    def planted_drivers(
        self, users: np.ndarray, items: np.ndarray, history: sp.csr_matrix, *, clarity: float = 0.6
    ) -> list[list[str]]:
        """Planted driver token names of each (user, item) pair; empty where no mechanism is clear.

        A pair has a driver when one non-popularity mechanism has posterior >= `clarity`.
        """
        like = self.mechanism_likelihoods(users, items, history) * self.user_mixture[np.asarray(users)]
        posterior = like / like.sum(axis=1, keepdims=True)
        best = posterior.argmax(axis=1)
        mates = self._bundle_mates(users, items, history)
        names = self.dataset.feature_space.item_names
        out: list[list[str]] = []
        for n, (u, m) in enumerate(zip(users, best, strict=True)):
            if m == 0 or posterior[n, m] < clarity:
                out.append([])
            elif m == 1:
                out.append([f"user.country={COUNTRIES[self.user_country[u]]}"])
            elif m == 2:
                out.append([f"user.device={DEVICES[self.user_device[u]]}"])
            else:
                out.append([f"item:{names[a]}" for a in mates[n]])
        return out

    def _bundle_mates(self, users: np.ndarray, items: np.ndarray, history: sp.csr_matrix) -> list[np.ndarray]:
        mates = []
        for u, j in zip(users, items, strict=True):
            seen = history.indices[history.indptr[u] : history.indptr[u + 1]]
            mates.append(seen[(self.item_bundle[seen] == self.item_bundle[j]) & (seen != j)])
        return mates


def synthetic(
    n_users: int = 3000,
    n_items: int = 600,
    seed: int = 0,
    *,
    mean_interactions: float = 30.0,
    mixture: tuple[float, float, float, float] = (0.1, 0.4, 0.2, 0.3),
    affinity: float = 0.85,
    bundle_size: int = 3,
    popularity_exponent: float = 0.6,
    segment_drivers: bool = False,
) -> SyntheticData:
    """Generate users, items and interactions with planted drivers (see the module docstring).

    `affinity` is the probability mass a country puts on its favourite category (and a device on
    its favourite price band); the rest is spread evenly. With `segment_drivers`, users also get a
    `region` (north: BR DE FR IN, south: JP US NG MX): in the north recommendations are driven by
    country x category (no device effect), in the south by device x price (no country effect);
    popularity, bundles and the noise attributes are planted equal in both regions.
    """
    weights = _mixture_weights(n_users, n_items, affinity, mixture)
    rng = np.random.default_rng(seed)
    items = _draw_items(rng, n_items, bundle_size, popularity_exponent)
    users = _draw_users(rng, n_users)
    favourite = rng.permutation(np.arange(len(COUNTRIES)) % len(CATEGORIES))
    country_category = _peaked(len(COUNTRIES), len(CATEGORIES), favourite, affinity)
    device_band = _peaked(len(DEVICES), len(PRICE_BANDS), np.arange(len(DEVICES)) % len(PRICE_BANDS), affinity)
    user_mixture = np.tile(weights, (n_users, 1))
    north = users.country < len(COUNTRIES) // 2
    if segment_drivers:
        attribute_mass = weights[1] + weights[2]
        user_mixture[north, 1], user_mixture[north, 2] = attribute_mass, 0.0
        user_mixture[~north, 1], user_mixture[~north, 2] = 0.0, attribute_mass
    lengths = np.clip(rng.lognormal(np.log(mean_interactions) - 0.32, 0.8, n_users).astype(int), 5, n_items // 3)
    table = _draw_interactions(rng, items, users, lengths, user_mixture, country_category, device_band)
    interactions, user_frame, item_frame = _frames(rng, table, items, users, north if segment_drivers else None)
    dataset = Dataset.from_frames(
        interactions, user_frame, item_frame, n_bins=len(PRICE_BANDS), name="synthetic", phrases=PHRASES
    )
    interactions["mechanism"] = np.array(MECHANISMS, dtype=object)[table[:, 2]]
    interactions["driver"] = _drivers(table, users, list(item_frame["title"]))
    return SyntheticData(
        dataset=dataset,
        interactions=interactions.drop(columns="timestamp"),
        mixture=weights,
        country_category=country_category,
        device_band=device_band,
        popularity=items.popularity,
        item_category=items.category,
        item_band=items.band,
        item_bundle=items.bundle,
        user_country=users.country,
        user_device=users.device,
        user_mixture=user_mixture,
    )


@dataclass(frozen=True)
class _Items:
    """The drawn catalogue: category, price band and price, brand (nested in category), bundle, popularity."""

    category: np.ndarray
    band: np.ndarray
    price: np.ndarray
    brand: np.ndarray
    bundle: np.ndarray
    popularity: np.ndarray


@dataclass(frozen=True)
class _Users:
    """The drawn users: country and device matter; age band and gender are noise."""

    country: np.ndarray
    device: np.ndarray
    age: np.ndarray
    gender: np.ndarray


def _mixture_weights(n_users: int, n_items: int, affinity: float, mixture: tuple[float, ...]) -> np.ndarray:
    """The mechanisms' weights, normalised, once the sizes and the affinity are checked."""
    if n_users < 10 or n_items < 2 * len(CATEGORIES):
        raise ParameterError(f"synthetic data needs n_users >= 10 and n_items >= {2 * len(CATEGORIES)}")
    if not 0 < affinity < 1:
        raise ParameterError("affinity must lie strictly between 0 and 1")
    weights = np.asarray(mixture, dtype=float)
    if weights.shape != (4,) or (weights < 0).any() or weights.sum() <= 0:
        raise ParameterError("mixture needs four non-negative weights")
    return weights / weights.sum()


def _draw_items(rng: np.random.Generator, n_items: int, bundle_size: int, popularity_exponent: float) -> _Items:
    category = rng.integers(0, len(CATEGORIES), n_items)
    band = rng.integers(0, len(PRICE_BANDS), n_items)
    lo, hi = np.array(PRICE_BANDS).T
    price = np.round(rng.uniform(lo[band], hi[band]), 2)
    brand = category * 3 + rng.integers(0, 3, n_items)
    bundle = rng.permutation(n_items) // bundle_size
    popularity = 1.0 / np.arange(1, n_items + 1) ** popularity_exponent
    popularity = rng.permutation(popularity / popularity.sum())
    return _Items(category, band, price, brand, bundle, popularity)


def _draw_users(rng: np.random.Generator, n_users: int) -> _Users:
    country = rng.integers(0, len(COUNTRIES), n_users)
    device = rng.choice(len(DEVICES), n_users, p=[0.55, 0.35, 0.10])
    return _Users(country, device, rng.integers(0, len(AGE_BANDS), n_users), rng.integers(0, 2, n_users))


def _draw_interactions(
    rng: np.random.Generator,
    items: _Items,
    users: _Users,
    lengths: np.ndarray,
    user_mixture: np.ndarray,
    country_category: np.ndarray,
    device_band: np.ndarray,
) -> np.ndarray:
    """Each user's history, one mechanism per draw: rows of (user, item, mechanism, anchor or -1)."""
    n_items = len(items.category)
    cat_members = [np.flatnonzero(items.category == c) for c in range(len(CATEGORIES))]
    band_members = [np.flatnonzero(items.band == b) for b in range(len(PRICE_BANDS))]
    bundles = [np.flatnonzero(items.bundle == b) for b in range(items.bundle.max() + 1)]
    rows: list[tuple[int, int, int, int]] = []
    for u in range(len(lengths)):
        chosen: list[int] = []
        taken = set()
        for m in rng.choice(4, size=lengths[u] * 2, p=user_mixture[u]):
            if len(chosen) >= lengths[u]:
                break
            anchor = -1
            if m == 3 and chosen:
                anchor = chosen[rng.integers(len(chosen))]
                mates = bundles[items.bundle[anchor]]
                item = int(mates[rng.integers(len(mates))])
            elif m == 1:
                members = cat_members[rng.choice(len(CATEGORIES), p=country_category[users.country[u]])]
                item = _by_popularity(rng, members, items.popularity)
            elif m == 2:
                members = band_members[rng.choice(len(PRICE_BANDS), p=device_band[users.device[u]])]
                item = _by_popularity(rng, members, items.popularity)
            else:
                m = 0
                item = _by_popularity(rng, np.arange(n_items), items.popularity)
            if item in taken:
                continue
            taken.add(item)
            chosen.append(item)
            rows.append((u, item, int(m), anchor))
    return np.array(rows, dtype=np.int64)


def _frames(
    rng: np.random.Generator, table: np.ndarray, items: _Items, users: _Users, north: np.ndarray | None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The interactions, users and items as the tables a user would load (``region`` with segment drivers)."""
    user_ids = np.arange(1, len(users.country) + 1)
    item_ids = np.arange(1, len(items.category) + 1)
    interactions = pd.DataFrame(
        {
            "user": user_ids[table[:, 0]],
            "item": item_ids[table[:, 1]],
            "timestamp": 1_600_000_000 + np.arange(len(table)) * 60 + rng.integers(0, 60, len(table)),
        }
    )
    user_frame = pd.DataFrame(
        {
            "user": user_ids,
            "age": np.array(AGE_BANDS)[users.age],
            "gender": np.array(["F", "M"])[users.gender],
            "country": np.array(COUNTRIES)[users.country],
            "device": np.array(DEVICES)[users.device],
        }
    )
    if north is not None:
        user_frame["region"] = np.where(north, "north", "south")
    item_frame = pd.DataFrame(
        {
            "item": item_ids,
            "title": [f"{CATEGORIES[c]}-{i:04d}" for i, c in zip(item_ids, items.category, strict=True)],
            "category": np.array(CATEGORIES)[items.category],
            "brand": [f"brand-{b:02d}" for b in items.brand],
            "price": items.price,
        }
    )
    return interactions, user_frame, item_frame


def _drivers(table: np.ndarray, users: _Users, titles: list[str]) -> np.ndarray:
    """The planted driver token of each drawn interaction (None for popularity)."""
    driver = np.full(len(table), None, dtype=object)
    mech = table[:, 2]
    driver[mech == 1] = [f"user.country={COUNTRIES[c]}" for c in users.country[table[mech == 1, 0]]]
    driver[mech == 2] = [f"user.device={DEVICES[d]}" for d in users.device[table[mech == 2, 0]]]
    driver[mech == 3] = [f"item:{titles[a]}" for a in table[mech == 3, 3]]
    return driver


def _peaked(n_rows: int, n_cols: int, favourite: np.ndarray, mass: float) -> np.ndarray:
    table = np.full((n_rows, n_cols), (1 - mass) / (n_cols - 1))
    table[np.arange(n_rows), favourite] = mass
    return table


def _by_popularity(rng: np.random.Generator, members: np.ndarray, popularity: np.ndarray) -> int:
    p = popularity[members]
    return int(members[rng.choice(len(members), p=p / p.sum())])
