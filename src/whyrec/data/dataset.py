"""Dataset: implicit-feedback interactions plus user and item attributes in one FeatureSpace."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from whyrec.data.features import Entity, FeatureSpace, Field, id_key
from whyrec.data.options import ON_DUPLICATE, DataOptions, OnDuplicate
from whyrec.data.sparse import ones_matrix
from whyrec.data.tables import read_table
from whyrec.errors import DataError, shown


class TableError(DataError):
    """A problem in one table (and row) of the input; :meth:`Dataset.from_files` names the file."""

    def __init__(self, message: str, table: str, row: int | None = None) -> None:
        super().__init__(message)
        self.message, self.table, self.row = message, table, row

    def __str__(self) -> str:
        where = f" row {self.row}" if self.row is not None else ""
        return f"{self.table} table{where}: {self.message}"


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
    weights: np.ndarray | None = None  # events per (user, item) pair when repeated events are counted
    stats: Mapping[str, Any] = field(default_factory=dict)  # rows read, filtered and merged on loading

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

    def weighted_matrix(self) -> sp.csr_matrix:
        """User x item matrix of event counts (ones when repeated events were not counted)."""
        if self.weights is None:
            return self.matrix()
        values = np.asarray(self.weights, dtype=np.float32)
        return sp.csr_matrix((values, (self.users, self.items)), shape=(self.n_users, self.n_items))

    def subset(self, index: np.ndarray) -> Dataset:
        """The same dataset restricted to the interactions at `index` (positions or a mask)."""
        ts = self.timestamps[index] if self.timestamps is not None else None
        weights = self.weights[index] if self.weights is not None else None
        return replace(self, users=self.users[index], items=self.items[index], timestamps=ts, weights=weights, stats={})

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
        phrases: Mapping[str, str] | None = None,
    ) -> Dataset:
        """Build a dataset from pandas frames.

        `interactions` needs `user_col` and `item_col`; a rating column (kept where
        ``rating >= min_rating``) and a timestamp column are used when present. `users` and `items`
        hold one row per entity keyed by `user_col` / `item_col`; every other column is an
        attribute (or only those named in `user_fields` / `item_fields`). Columns named in
        `multi_valued` are split on the given separator; list-valued columns are multi-valued too.

        A repeated (user, item) pair is an error (`on_duplicate="error"`), keeps its first row
        (``"drop"``), or becomes one interaction whose count is kept in :attr:`weights`
        (``"count"``: iALS reads it as confidence; the other models see one interaction).
        `phrases` say how reasons read (:attr:`FeatureSpace.phrases`).
        """
        has_rating = _check_interactions(interactions, user_col, item_col, rating_col, min_rating, on_duplicate)
        frame = interactions
        multi_valued = dict(multi_valued or {})

        users_frame = entity_frame(users, user_col, "users")
        items_frame = entity_frame(items, item_col, "items")
        user_ids = _universe(frame[user_col], users_frame, user_col, "user")
        item_ids = _universe(frame[item_col], items_frame, item_col, "item")

        item_names = _item_names(item_ids, items_frame, item_col, title_col)

        fields = [
            *entity_fields("user", users_frame, user_col, user_fields, n_bins=n_bins, multi_valued=multi_valued),
            *entity_fields(
                "item", items_frame, item_col, item_fields, n_bins=n_bins, multi_valued=multi_valued, skip=title_col
            ),
        ]
        fs = FeatureSpace(item_ids, item_names, user_ids, fields, dict(phrases or {}))

        stats: dict[str, Any] = {"rows": len(frame), "on_duplicate": on_duplicate}
        if has_rating and min_rating is not None:
            frame = frame[pd.to_numeric(frame[rating_col]) >= min_rating]
            stats["below_min_rating"] = stats["rows"] - len(frame)
            stats["min_rating"] = min_rating
        u = fs.user_index(frame[user_col])
        i = fs.item_index(frame[item_col])
        ts = None
        if timestamp_col is not None and timestamp_col in frame.columns:
            ts = _timestamps(frame[timestamp_col])
        u, i, ts, weights = _deduplicate(u, i, ts, on_duplicate, fs)
        stats["repeated_rows"] = len(frame) - len(u)

        user_attr = attribute_matrix(fs, "user", users_frame, user_col, fs.n_users)
        item_attr = attribute_matrix(fs, "item", items_frame, item_col, fs.n_items)
        return cls(fs, u.astype(np.int32), i.astype(np.int32), user_attr, item_attr, ts, name, weights, stats)

    @classmethod
    def from_files(
        cls,
        interactions: str | os.PathLike,
        users: str | os.PathLike | None = None,
        items: str | os.PathLike | None = None,
        *,
        options: DataOptions | None = None,
        **frame_options: Any,
    ) -> Dataset:
        """Read interactions (and optional users/items tables) from CSV or Parquet files.

        `options` names the columns, the rating threshold, multi-valued columns, the separator
        and the duplicate policy (see :class:`~whyrec.data.DataOptions`); other keyword
        arguments go to :meth:`from_frames`. Errors name the file and, where there is one, the line.
        """
        options = options or DataOptions()
        paths = {"interactions": Path(interactions), "users": users, "items": items}
        frames = {k: read_table(p, sep=options.sep, encoding=options.encoding) if p else None for k, p in paths.items()}
        assert frames["interactions"] is not None
        kwargs = {**frame_options_of(options), **frame_options}
        try:
            return cls.from_frames(
                frames["interactions"],
                frames["users"],
                frames["items"],
                name=kwargs.pop("name", Path(interactions).stem),
                **kwargs,
            )
        except TableError as exc:
            path = Path(paths[exc.table] or exc.table)
            csv = not "".join(path.suffixes).lower().endswith((".parquet", ".pq"))
            where = "" if exc.row is None else (f" line {exc.row + 2}" if csv else f" row {exc.row}")
            raise DataError(f"{path.name}{where}: {exc.message}") from None


def _check_interactions(
    interactions: Any,
    user_col: str,
    item_col: str,
    rating_col: str | None,
    min_rating: float | None,
    on_duplicate: str,
) -> bool:
    """Refuse an interactions table whyrec cannot read, naming the column and row; whether it has ratings."""
    if not isinstance(interactions, pd.DataFrame):
        raise DataError("interactions must be a pandas DataFrame")
    if on_duplicate not in ON_DUPLICATE:
        raise DataError(f"on_duplicate must be one of {', '.join(ON_DUPLICATE)}, not {on_duplicate!r}")
    _require_columns(interactions, [user_col, item_col], "interactions")
    if interactions.empty:
        raise TableError("it is empty", "interactions")
    for col in (user_col, item_col):
        if interactions[col].isna().any():
            row = int(np.flatnonzero(interactions[col].isna().to_numpy())[0])
            raise TableError(f"column '{col}' has a missing value", "interactions", row)
    has_rating = rating_col is not None and rating_col in interactions.columns
    if min_rating is not None and not has_rating:
        raise TableError(
            f"min_rating={min_rating:g} needs a rating column '{rating_col}', and there is none; its columns "
            f"are {list(map(str, interactions.columns))} (name the ratings with --rating-col, or drop --min-rating)",
            "interactions",
        )
    if has_rating:
        ratings = pd.to_numeric(interactions[rating_col], errors="coerce")
        if ratings.isna().any():
            row = int(np.flatnonzero(ratings.isna().to_numpy())[0])
            raw = interactions[rating_col].iloc[row]
            what = "a missing value" if pd.isna(raw) else f"the non-numeric value {shown(raw)}"
            raise TableError(f"rating column '{rating_col}' has {what}", "interactions", row)
    return has_rating


def _item_names(item_ids: Any, items_frame: pd.DataFrame | None, item_col: str, title_col: str | None) -> list[str]:
    """Each item's title from the items table's `title_col`, else its ID."""
    if items_frame is not None and title_col and title_col in items_frame.columns:
        titles = dict(zip(items_frame[item_col].map(id_key), items_frame[title_col].astype(str), strict=True))
        return [titles.get(id_key(i), str(i)) for i in item_ids]
    return [str(i) for i in item_ids]


def frame_options_of(options: DataOptions) -> dict[str, Any]:
    """The :meth:`Dataset.from_frames` keyword arguments that `options` set."""
    return {
        "user_col": options.user_col,
        "item_col": options.item_col,
        "rating_col": options.rating_col,
        "timestamp_col": options.timestamp_col,
        "title_col": options.title_col,
        "min_rating": options.min_rating,
        "multi_valued": dict(options.multi_valued),
        "on_duplicate": options.on_duplicate,
    }


def interaction_matrix(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary CSR matrix with a one at every (user, item) pair."""
    return ones_matrix(users, items, (n_users, n_items))


# -- helpers ------------------------------------------------------------------------------------
def _require_columns(frame: pd.DataFrame, columns: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        present = list(map(str, frame.columns))
        hints = [f"{c!r} -> {_likely_column(c, present)!r}" for c in missing if _likely_column(c, present)]
        hint = f"; perhaps {', '.join(hints)} (map it with --{missing[0]}-col or the data spec)" if hints else ""
        raise TableError(f"has no column {', '.join(repr(c) for c in missing)}; its columns are {present}{hint}", table)


def _likely_column(wanted: str, present: Sequence[str]) -> str | None:
    """The column a user probably meant by `wanted` (``userId`` for ``user``), or None."""
    lowered = {c.lower().replace("_", "").replace("-", ""): c for c in present}
    for key, column in lowered.items():
        if key in (wanted, f"{wanted}id", f"{wanted}s") or (wanted in key and key.endswith("id")):
            return column
    close = difflib.get_close_matches(wanted, present, n=1, cutoff=0.6)
    return close[0] if close else None


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
    for column, separator in separators.items():
        if column in table.columns:
            _check_splits(table[column], column, separator, f"{entity}s")
    return [
        Field.fit(col, entity, table[col], n_bins=n_bins, separator=separators.get(col))
        for col in columns
        if table[col].notna().any()
    ]


def _check_splits(column: pd.Series, name: str, separator: str, table: str) -> None:
    """A multi-valued column whose separator splits none of its values, while another separator
    would, was given the wrong one (a column of single values is left alone)."""
    values = column.dropna()
    if values.empty or _is_list(values.iloc[0]):
        return
    text = values.astype(str)
    if text.str.contains(separator, regex=False).any():
        return
    for other in ("|", ";", ",", "/"):
        holding = text[text.str.contains(other, regex=False)]
        if other != separator and len(holding):
            raise TableError(
                f"the separator {separator!r} of multi-valued column '{name}' splits none of its values, but "
                f"{other!r} would, e.g. {shown(holding.iloc[0])}: pass {name}={other} "
                f"(multi={name}:{other} in the spec)",
                table,
            )


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple | set | np.ndarray)


def entity_frame(frame: pd.DataFrame | None, key: str, table: str) -> pd.DataFrame | None:
    if frame is None:
        return None
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{table} must be a pandas DataFrame")
    _require_columns(frame, [key], table)
    keys = frame[key].map(id_key)
    if keys.duplicated().any():
        row = int(np.flatnonzero(keys.duplicated().to_numpy())[0])
        raise TableError(f"lists {key} {shown(frame[key].iloc[row])} more than once", table, row)
    return frame.reset_index(drop=True)


def _universe(ids: pd.Series, table: pd.DataFrame | None, key: str, what: str) -> list[Any]:
    """All entity IDs: the table's (in its order) or, without a table, those seen in interactions."""
    seen = pd.unique(ids)
    if table is None:
        return _sorted_ids(np.asarray(seen))
    known = set(table[key].map(id_key))
    missing = [v for v in seen if id_key(v) not in known]
    if missing:
        raise TableError(
            f"{len(missing)} {what} ID(s) in the interactions are not in the {what}s table, "
            f"e.g. {_plain(missing[0])!r}",
            f"{what}s",
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
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """One row per (user, item): refuse repeats, keep the first, or count them (the fourth value)."""
    key = u.astype(np.int64) * fs.n_items + i
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    if len(first) == len(key):
        return u, i, ts, (np.ones(len(u), np.float32) if policy == "count" else None)
    if policy == "error":
        dup_mask = np.ones(len(key), bool)
        dup_mask[first] = False
        row = int(np.flatnonzero(dup_mask)[0])
        raise TableError(
            f"{len(key) - len(first)} duplicate (user, item) interaction(s), e.g. user "
            f"{shown(fs.user_ids[u[row]])} and item {shown(fs.item_ids[i[row]])}; keep one with "
            "on_duplicate='drop' or count them with 'count' "
            "(--on-duplicate drop|count on the command line)",
            "interactions",
            row,
        )
    order = np.argsort(first)  # keep the pairs in the order of their first row
    first, counts = first[order], counts[order]
    weights = counts.astype(np.float32) if policy == "count" else None
    return u[first], i[first], ts[first] if ts is not None else None, weights


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
