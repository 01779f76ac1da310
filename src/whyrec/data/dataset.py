"""Dataset: implicit-feedback interactions plus user and item attributes in one FeatureSpace."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from whyrec.data.features import Entity, FeatureSpace, Field, id_key
from whyrec.data.sparse import ones_matrix
from whyrec.errors import DataError

OnDuplicate = Literal["error", "drop"]


@dataclass(frozen=True)
class Dataset:
    """Positive (user, item) interactions and the attribute tokens of every user and item.

    ``users`` and ``items`` are dense indices into ``feature_space``; the attribute matrices are
    binary CSR matrices over the whole token space (``n_users x n_tokens``, ``n_items x n_tokens``).
    """

    feature_space: FeatureSpace
    users: np.ndarray
    items: np.ndarray
    user_attributes: sp.csr_matrix
    item_attributes: sp.csr_matrix
    timestamps: np.ndarray | None = None
    name: str = "custom"

    @property
    def n_users(self) -> int:
        return self.feature_space.n_users

    @property
    def n_items(self) -> int:
        return self.feature_space.n_items

    @property
    def n_interactions(self) -> int:
        return len(self.users)

    def matrix(self) -> sp.csr_matrix:
        """Binary user x item interaction matrix (CSR)."""
        return interaction_matrix(self.users, self.items, self.n_users, self.n_items)

    def subset(self, index: np.ndarray) -> Dataset:
        """The same dataset restricted to the interactions at `index` (positions or a mask)."""
        ts = self.timestamps[index] if self.timestamps is not None else None
        return replace(self, users=self.users[index], items=self.items[index], timestamps=ts)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_users": self.n_users,
            "n_items": self.n_items,
            "n_interactions": self.n_interactions,
            "n_tokens": self.feature_space.n_tokens,
            "density": self.n_interactions / max(1, self.n_users * self.n_items),
        }

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_frames(
        cls,
        interactions: pd.DataFrame,
        users: pd.DataFrame | None = None,
        items: pd.DataFrame | None = None,
        *,
        user_col: str = "user",
        item_col: str = "item",
        rating_col: str | None = "rating",
        timestamp_col: str | None = "timestamp",
        title_col: str | None = "title",
        min_rating: float | None = None,
        user_fields: Sequence[str] | None = None,
        item_fields: Sequence[str] | None = None,
        multi_valued: Mapping[str, str] | None = None,
        n_bins: int = 5,
        on_duplicate: OnDuplicate = "error",
        name: str = "custom",
    ) -> Dataset:
        """Build a dataset from pandas frames.

        `interactions` needs `user_col` and `item_col`; a rating column (kept where
        ``rating >= min_rating``) and a timestamp column are used when present. `users` and `items`
        hold one row per entity keyed by `user_col` / `item_col`; every other column is an
        attribute (or only those named in `user_fields` / `item_fields`). Columns named in
        `multi_valued` are split on the given separator; list-valued columns are multi-valued too.
        """
        if not isinstance(interactions, pd.DataFrame):
            raise DataError("interactions must be a pandas DataFrame")
        _require_columns(interactions, [user_col, item_col], "interactions")
        if interactions.empty:
            raise DataError("the interactions table is empty")
        for col in (user_col, item_col):
            if interactions[col].isna().any():
                row = int(np.flatnonzero(interactions[col].isna().to_numpy())[0])
                raise DataError(f"interactions column '{col}' has a missing value (row {row})")
        frame = interactions
        has_rating = rating_col is not None and rating_col in frame.columns
        if min_rating is not None and not has_rating:
            raise DataError(
                f"min_rating={min_rating} needs a rating column '{rating_col}'; "
                f"interactions has columns {list(frame.columns)}"
            )
        if has_rating:
            ratings = pd.to_numeric(frame[rating_col], errors="coerce")
            if ratings.isna().any():
                row = int(np.flatnonzero(ratings.isna().to_numpy())[0])
                raw = frame[rating_col].iloc[row]
                raise DataError(f"rating column '{rating_col}' has a missing or non-numeric value {raw!r} (row {row})")
        multi_valued = dict(multi_valued or {})

        users_frame = entity_frame(users, user_col, "users")
        items_frame = entity_frame(items, item_col, "items")
        user_ids = _universe(frame[user_col], users_frame, user_col, "user")
        item_ids = _universe(frame[item_col], items_frame, item_col, "item")

        if items_frame is not None and title_col and title_col in items_frame.columns:
            titles = dict(zip(items_frame[item_col].map(id_key), items_frame[title_col].astype(str), strict=True))
            item_names = [titles.get(id_key(i), str(i)) for i in item_ids]
        else:
            item_names = [str(i) for i in item_ids]

        fields = [
            *entity_fields("user", users_frame, user_col, user_fields, n_bins=n_bins, multi_valued=multi_valued),
            *entity_fields(
                "item", items_frame, item_col, item_fields, n_bins=n_bins, multi_valued=multi_valued, skip=title_col
            ),
        ]
        fs = FeatureSpace(item_ids=item_ids, item_names=item_names, user_ids=user_ids, fields=fields)

        if has_rating and min_rating is not None:
            frame = frame[pd.to_numeric(frame[rating_col]) >= min_rating]
        u = fs.user_index(frame[user_col])
        i = fs.item_index(frame[item_col])
        ts = None
        if timestamp_col is not None and timestamp_col in frame.columns:
            ts = _timestamps(frame[timestamp_col])
        u, i, ts = _deduplicate(u, i, ts, on_duplicate, fs)

        user_attr = attribute_matrix(fs, "user", users_frame, user_col, fs.n_users)
        item_attr = attribute_matrix(fs, "item", items_frame, item_col, fs.n_items)
        return cls(fs, u.astype(np.int32), i.astype(np.int32), user_attr, item_attr, ts, name)

    @classmethod
    def from_files(
        cls,
        interactions: str | os.PathLike,
        users: str | os.PathLike | None = None,
        items: str | os.PathLike | None = None,
        **options: Any,
    ) -> Dataset:
        """Read interactions (and optional users/items tables) from CSV or Parquet files."""
        return cls.from_frames(
            read_table(interactions),
            read_table(users) if users else None,
            read_table(items) if items else None,
            name=options.pop("name", Path(interactions).stem),
            **options,
        )


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame, with a clear error when it cannot."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"file not found: {path}")
    suffixes = "".join(path.suffixes).lower()
    try:
        if suffixes.endswith(".parquet") or suffixes.endswith(".pq"):
            return pd.read_parquet(path)
        if suffixes.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt")):
            sep = "\t" if ".tsv" in suffixes else ","
            return pd.read_csv(path, sep=sep)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read {path}: {first}") from None
    raise DataError(f"unsupported file type {path.name!r}: use .csv, .tsv or .parquet")


def interaction_matrix(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary CSR matrix with a one at every (user, item) pair."""
    return ones_matrix(users, items, (n_users, n_items))


# -- helpers ------------------------------------------------------------------------------------
def _require_columns(frame: pd.DataFrame, columns: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{table} table has no column {', '.join(repr(c) for c in missing)}; "
            f"its columns are {list(map(str, frame.columns))}"
        )


def entity_fields(
    entity: Entity,
    table: pd.DataFrame | None,
    key: str,
    chosen: Sequence[str] | None,
    *,
    n_bins: int = 5,
    multi_valued: Mapping[str, str] | None = None,
    skip: str | None = None,
) -> list[Field]:
    """The attribute fields of a users or items table: every column but the key (or `chosen`)."""
    if table is None:
        if chosen:
            raise DataError(f"{entity}_fields given but no {entity}s table")
        return []
    columns = list(chosen) if chosen is not None else [c for c in table.columns if c not in {key, skip}]
    _require_columns(table, columns, f"{entity}s")
    separators = dict(multi_valued or {})
    return [
        Field.fit(col, entity, table[col], n_bins=n_bins, separator=separators.get(col))
        for col in columns
        if table[col].notna().any()
    ]


def entity_frame(frame: pd.DataFrame | None, key: str, table: str) -> pd.DataFrame | None:
    if frame is None:
        return None
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{table} must be a pandas DataFrame")
    _require_columns(frame, [key], table)
    keys = frame[key].map(id_key)
    if keys.duplicated().any():
        dup = frame[key][keys.duplicated()].iloc[0]
        raise DataError(f"{table} table lists {key} {dup!r} more than once")
    return frame.reset_index(drop=True)


def _universe(ids: pd.Series, table: pd.DataFrame | None, key: str, what: str) -> list[Any]:
    """All entity IDs: the table's (in its order) or, without a table, those seen in interactions."""
    seen = pd.unique(ids)
    if table is None:
        return _sorted_ids(np.asarray(seen))
    known = set(table[key].map(id_key))
    missing = [v for v in seen if id_key(v) not in known]
    if missing:
        raise DataError(
            f"{len(missing)} {what} ID(s) in the interactions are not in the {what}s table, e.g. {_plain(missing[0])!r}"
        )
    return [_plain(v) for v in table[key]]


def _sorted_ids(values: np.ndarray) -> list[Any]:
    plain = [_plain(v) for v in values]
    try:
        return sorted(plain)
    except TypeError:
        return sorted(plain, key=str)


def _plain(value: Any) -> Any:
    # JSON-friendly external IDs: numpy ints become ints, everything else its string form
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    return str(value)


def _timestamps(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.astype("int64").to_numpy() // 10**9
    numbers = pd.to_numeric(column, errors="coerce")
    if numbers.isna().any():
        row = int(np.flatnonzero(numbers.isna().to_numpy())[0])
        raise DataError(f"timestamp column has a missing or non-numeric value (row {row})")
    return numbers.to_numpy(dtype=np.int64)


def _deduplicate(
    u: np.ndarray, i: np.ndarray, ts: np.ndarray | None, policy: OnDuplicate, fs: FeatureSpace
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    key = u.astype(np.int64) * fs.n_items + i
    _, first = np.unique(key, return_index=True)
    if len(first) == len(key):
        return u, i, ts
    if policy == "error":
        dup_mask = np.ones(len(key), bool)
        dup_mask[first] = False
        row = int(np.flatnonzero(dup_mask)[0])
        raise DataError(
            f"{len(key) - len(first)} duplicate (user, item) interaction(s), e.g. user "
            f"{fs.user_ids[u[row]]!r} and item {fs.item_ids[i[row]]!r}; "
            "pass on_duplicate='drop' to keep the first of each"
        )
    if policy != "drop":
        raise DataError(f"on_duplicate must be 'error' or 'drop', not {policy!r}")
    first.sort()
    return u[first], i[first], ts[first] if ts is not None else None


def attribute_matrix(
    fs: FeatureSpace,
    entity: Entity,
    table: pd.DataFrame | None,
    key: str,
    n_rows: int,
) -> sp.csr_matrix:
    if table is None:
        return sp.csr_matrix((n_rows, fs.n_tokens), dtype=np.float32)
    rows, tokens = fs.encode_frame(entity, table)  # rows index the table
    table_to_dense = fs.user_index(table[key]) if entity == "user" else fs.item_index(table[key])
    return ones_matrix(table_to_dense[rows], tokens, (n_rows, fs.n_tokens))
