"""FeatureSpace: one vocabulary for items, user-attribute values and item-attribute values.

Token indices are laid out in three disjoint ranges (RecoNet, section 2: V, Φ^U and Φ^V are
pairwise disjoint)::

    [0, n_items)                      items            "item:Toy Story (1995)"
    [n_items, n_items + n_user_attr)  user attributes  "user.gender=F"
    [..., n_item_attr)                item attributes  "item.genre=Comedy"
    [..., n_tokens)                   context fields   "site_id=85f751fd"

Context fields carry click-through-rate rows: a CTR row is a bag with one ``field=value`` token per
field, in a FeatureSpace that has no items and no users.

Every attribute column becomes a :class:`Field` that knows how to turn raw values into tokens:
categorical values map one to one, numeric columns are cut into quantile bins with readable labels
(``user.age=25-34``) and multi-valued columns (a movie's genres) give one token per value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from whyrec._io import write_json_atomic
from whyrec.errors import DataError, ModelFormatError, UnknownIdError

FORMAT_VERSION = 1

Entity = Literal["user", "item", "context"]
ENTITIES: tuple[Entity, ...] = ("user", "item", "context")
FieldKind = Literal["categorical", "numeric", "multi"]
TOKEN_KINDS = ("item", "user_attribute", "item_attribute", "context_attribute")


@dataclass(frozen=True)
class Field:
    """One attribute column and the encoder from its raw values to token labels."""

    name: str
    entity: Entity
    kind: FieldKind
    values: tuple[str, ...]
    edges: tuple[float, ...] | None = None  # numeric fields: bin edges, len(values) + 1
    separator: str | None = None  # multi-valued fields given as delimited strings
    fallback: str | None = None  # the value unknown raw values map to ("other"); None: they raise

    @classmethod
    def fit(
        cls,
        name: str,
        entity: Entity,
        column: pd.Series,
        *,
        n_bins: int = 5,
        separator: str | None = None,
    ) -> Field:
        """Infer the field kind from a column and learn its value labels (or bin edges)."""
        non_null = column.dropna()
        if separator is not None or _is_list_column(non_null):
            values = _explode(non_null, separator)
            return cls(name, entity, "multi", tuple(sorted(set(values))), separator=separator)
        if pd.api.types.is_bool_dtype(non_null):
            non_null = non_null.astype(str)
        if pd.api.types.is_numeric_dtype(non_null):
            numbers = non_null.to_numpy(dtype=float)
            distinct = np.unique(numbers)
            if len(distinct) <= n_bins:
                labels = tuple(_number_label(v) for v in distinct)
                return cls(name, entity, "categorical", labels)
            edges = _quantile_edges(numbers, n_bins)
            return cls(name, entity, "numeric", _bin_labels(edges), edges=tuple(edges))
        return cls(name, entity, "categorical", tuple(sorted({str(v) for v in non_null})))

    @classmethod
    def fit_categorical(
        cls, name: str, entity: Entity, column: pd.Series, *, min_count: int = 1, fallback: str = "other"
    ) -> Field:
        """A categorical field whose values seen fewer than `min_count` times fold into `fallback`.

        The fallback value always exists, so values never seen in training encode to it too.
        """
        counts = column.dropna().astype(str).value_counts()
        kept = sorted(v for v in counts.index[counts.to_numpy() >= min_count] if v != fallback)
        return cls(name, entity, "categorical", (*kept, fallback), fallback=fallback)

    def encode(self, column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Map a column to (row, value-index) pairs; missing values give no pair.

        Unknown categorical values raise :class:`UnknownIdError` naming the field.
        """
        column = column.reset_index(drop=True)
        if self.kind == "multi":
            exploded = _explode_series(column, self.separator)
            rows = exploded.index.to_numpy()
            codes = self._codes(exploded.astype(str))
            return rows, codes
        present = column.notna().to_numpy()
        rows = np.flatnonzero(present)
        values = column[present]
        if self.kind == "numeric":
            numbers = pd.to_numeric(values, errors="coerce")
            if numbers.isna().any():
                bad = values[numbers.isna()].iloc[0]
                raise DataError(f"field '{self.name}' is numeric but holds {bad!r}")
            codes = self._bin(numbers.to_numpy(dtype=float))
            return rows, codes
        labels = values.map(_number_label) if pd.api.types.is_numeric_dtype(values) else values
        return rows, self._codes(labels.astype(str))

    def encode_value(self, raw: Any) -> list[int]:
        """Value indices of one raw value (a list or delimited string for multi-valued fields)."""
        if raw is None or (isinstance(raw, float) and np.isnan(raw)):
            return []
        if self.kind == "numeric":
            try:
                number = float(raw)
            except (TypeError, ValueError):
                raise DataError(f"field '{self.name}' is numeric but got {raw!r}") from None
            if np.isnan(number):
                return []
            return [int(self._bin(np.array([number]))[0])]
        if self.kind == "multi":
            parts = raw if isinstance(raw, list | tuple | set) else str(raw).split(self.separator or "|")
            return [int(c) for c in self._codes(pd.Series([str(p) for p in parts]))]
        label = _number_label(raw) if isinstance(raw, int | float | np.number) else str(raw)
        return [int(self._codes(pd.Series([label]))[0])]

    def _bin(self, numbers: np.ndarray) -> np.ndarray:
        edges = np.asarray(self.edges)
        # bins are [e_i, e_{i+1}) and the last one is closed; out-of-range values clip to the ends
        return np.clip(np.searchsorted(edges, numbers, side="right") - 1, 0, len(self.values) - 1)

    def _codes(self, labels: pd.Series) -> np.ndarray:
        codes = np.asarray(self.lookup_order.get_indexer(pd.Index(labels)))
        if self.fallback is not None:
            codes[codes < 0] = int(self.lookup_order.get_loc(self.fallback))  # type: ignore[arg-type]
        if (codes < 0).any():
            unknown = labels[codes < 0].iloc[0]
            shown = ", ".join(self.values[:8]) + (", ..." if len(self.values) > 8 else "")
            raise UnknownIdError(
                f"unknown value {unknown!r} for {self.entity} attribute '{self.name}'; known values: {shown}"
            )
        return codes.astype(np.int64)

    @cached_property
    def lookup_order(self) -> pd.Index:
        return pd.Index(self.values)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "entity": self.entity,
            "kind": self.kind,
            "values": list(self.values),
        }
        if self.edges is not None:
            out["edges"] = list(self.edges)
        if self.separator is not None:
            out["separator"] = self.separator
        if self.fallback is not None:
            out["fallback"] = self.fallback
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Field:
        edges = data.get("edges")
        return cls(
            name=data["name"],
            entity=data["entity"],
            kind=data["kind"],
            values=tuple(data["values"]),
            edges=tuple(edges) if edges is not None else None,
            separator=data.get("separator"),
            fallback=data.get("fallback"),
        )


@dataclass
class FeatureSpace:
    """The shared vocabulary of items, users' attribute values and items' attribute values."""

    item_ids: list[Any]
    item_names: list[str]
    user_ids: list[Any]
    fields: list[Field] = field(default_factory=list)
    # how reasons read, from the data: "item" and "user.age"-style keys to templates with {name},
    # {field} and {value} ("you watched {name}"); see whyrec.explain.words
    phrases: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.item_names) != len(self.item_ids):
            raise DataError("item_names and item_ids must have the same length")
        _check_unique(self.item_ids, "item")
        _check_unique(self.user_ids, "user")
        names = [(f.entity, f.name) for f in self.fields]
        if len(set(names)) != len(names):
            raise DataError("two attribute fields share the same entity and name")

    # -- sizes and ranges ---------------------------------------------------------------------
    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @cached_property
    def field_offsets(self) -> dict[tuple[str, str], int]:
        """First token index of every field: user fields, then item fields, then context fields."""
        offsets: dict[tuple[str, str], int] = {}
        cursor = self.n_items
        for entity in ENTITIES:
            for f in self.fields:
                if f.entity == entity:
                    offsets[(entity, f.name)] = cursor
                    cursor += len(f.values)
        return offsets

    @cached_property
    def n_tokens(self) -> int:
        return self.n_items + sum(len(f.values) for f in self.fields)

    @property
    def user_fields(self) -> list[Field]:
        return [f for f in self.fields if f.entity == "user"]

    @property
    def item_fields(self) -> list[Field]:
        return [f for f in self.fields if f.entity == "item"]

    @property
    def context_fields(self) -> list[Field]:
        return [f for f in self.fields if f.entity == "context"]

    @cached_property
    def token_names(self) -> np.ndarray:
        """Readable name of every token (``item:Alien (1979)``, ``user.age=25-34``)."""
        names = [f"item:{name}" for name in self.item_names]
        for entity in ENTITIES:
            for f in self.fields:
                if f.entity == entity:
                    names.extend(f"{field_label(entity, f.name)}={v}" for v in f.values)
        return np.array(names, dtype=object)

    @cached_property
    def token_kinds(self) -> np.ndarray:
        """Kind of every token: 'item', 'user_attribute', 'item_attribute' or 'context_attribute'."""
        kinds = np.empty(self.n_tokens, dtype=object)
        kinds[: self.n_items] = "item"
        for (entity, _), start in self.field_offsets.items():
            f = self.field(entity, _)
            kinds[start : start + len(f.values)] = f"{entity}_attribute"
        return kinds

    @cached_property
    def token_fields(self) -> np.ndarray:
        """Field of every token ('item' for items, 'user.age' for attribute values, 'C1' for context)."""
        out = np.empty(self.n_tokens, dtype=object)
        out[: self.n_items] = "item"
        for (entity, name), start in self.field_offsets.items():
            out[start : start + len(self.field(entity, name).values)] = field_label(entity, name)
        return out

    def field(self, entity: str, name: str) -> Field:
        for f in self.fields:
            if f.entity == entity and f.name == name:
                return f
        known = ", ".join(f.name for f in self.fields if f.entity == entity) or "none"
        raise UnknownIdError(f"unknown {entity} attribute '{name}'; known {entity} attributes: {known}")

    # -- ID maps ------------------------------------------------------------------------------
    @cached_property
    def _item_lookup(self) -> pd.Index:
        return pd.Index([id_key(v) for v in self.item_ids])

    @cached_property
    def _user_lookup(self) -> pd.Index:
        return pd.Index([id_key(v) for v in self.user_ids])

    @cached_property
    def _name_lookup(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.token_names)}

    @cached_property
    def _item_dict(self) -> dict[str, int]:
        return {key: n for n, key in enumerate(self._item_lookup)}

    @cached_property
    def _user_dict(self) -> dict[str, int]:
        return {key: n for n, key in enumerate(self._user_lookup)}

    def known_item_index(self, ids: Any) -> np.ndarray:
        """Dense indices of those of `ids` that are in the catalogue (the others are skipped)."""
        lookup = self._item_dict
        found = (lookup.get(id_key(v)) for v in ids)
        return np.array([i for i in found if i is not None], dtype=np.int64)

    def item_index(self, ids: Any) -> np.ndarray:
        """Dense indices of external item IDs (matched on their string form)."""
        return _lookup(self._item_lookup, ids, "item", self.item_ids, self._item_dict)

    def user_index(self, ids: Any) -> np.ndarray:
        """Dense indices of external user IDs (matched on their string form)."""
        return _lookup(self._user_lookup, ids, "user", self.user_ids, self._user_dict)

    def lookup(self, entity: Literal["user", "item"], ids: Any) -> np.ndarray:
        """Dense indices of external user or item IDs, -1 for the ones this space does not know."""
        table = self._user_lookup if entity == "user" else self._item_lookup
        keys = pd.Index(pd.Series(list(ids), dtype=object).map(id_key))
        return np.asarray(table.get_indexer(keys), dtype=np.int64)

    def token_index(self, names: Iterable[str]) -> np.ndarray:
        """Token indices of readable token names."""
        out = []
        for name in names:
            if name not in self._name_lookup:
                raise UnknownIdError(f"unknown token {name!r}")
            out.append(self._name_lookup[name])
        return np.asarray(out, dtype=np.int64)

    def encode_attributes(self, entity: Entity, values: Mapping[str, Any]) -> np.ndarray:
        """Token indices of raw attribute values, e.g. ``{"age": 27, "gender": "F"}``."""
        tokens: list[int] = []
        for name, raw in values.items():
            f = self.field(entity, name)
            start = self.field_offsets[(entity, name)]
            tokens.extend(start + c for c in f.encode_value(raw))
        return np.asarray(sorted(set(tokens)), dtype=np.int64)

    def encode_frame(self, entity: Entity, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(row, token) pairs of every attribute value in `frame` (one row per entity)."""
        rows, tokens = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for f in self.fields:
            if f.entity != entity or f.name not in frame.columns:
                continue
            r, codes = f.encode(frame[f.name])
            rows.append(r.astype(np.int64))
            tokens.append(codes + self.field_offsets[(entity, f.name)])
        return np.concatenate(rows), np.concatenate(tokens)

    # -- persistence --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "whyrec.FeatureSpace",
            "format_version": FORMAT_VERSION,
            "item_ids": list(self.item_ids),
            "item_names": list(self.item_names),
            "user_ids": list(self.user_ids),
            "fields": [f.to_dict() for f in self.fields],
            **({"phrases": dict(self.phrases)} if self.phrases else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpace:
        if data.get("format") != "whyrec.FeatureSpace":
            raise ModelFormatError("not a whyrec FeatureSpace (missing 'format' marker)")
        if data.get("format_version") != FORMAT_VERSION:
            raise ModelFormatError(
                f"FeatureSpace format version {data.get('format_version')!r} is not supported "
                f"(this whyrec reads version {FORMAT_VERSION})"
            )
        return cls(
            item_ids=list(data["item_ids"]),
            item_names=list(data["item_names"]),
            user_ids=list(data["user_ids"]),
            fields=[Field.from_dict(f) for f in data["fields"]],
            phrases={str(k): str(v) for k, v in dict(data.get("phrases", {})).items()},
        )

    def save(self, path: str | os.PathLike) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureSpace:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelFormatError(f"no feature space at {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelFormatError(f"corrupt feature space file {path}: {exc}") from None
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError) as exc:
            raise ModelFormatError(f"corrupt feature space file {path}: missing {exc}") from None

    def summary(self) -> dict[str, Any]:
        """Sizes of the vocabulary, for reports and the service's /model endpoint."""
        return {
            "n_items": self.n_items,
            "n_users": self.n_users,
            "n_tokens": self.n_tokens,
            "user_fields": {f.name: len(f.values) for f in self.user_fields},
            "item_fields": {f.name: len(f.values) for f in self.item_fields},
            "context_fields": {f.name: len(f.values) for f in self.context_fields},
        }


# -- helpers ------------------------------------------------------------------------------------
def field_label(entity: str, name: str) -> str:
    """How a field is named in tokens: 'user.age', 'item.genre', or a context field's bare name."""
    return name if entity == "context" else f"{entity}.{name}"


def _lookup(table: pd.Index, ids: Any, what: str, known: Sequence[Any], small: dict[str, int]) -> np.ndarray:
    if isinstance(ids, str | int | np.integer):
        ids = [ids]
    if isinstance(ids, list | tuple) and len(ids) <= 32:  # a request's few IDs: a dict beats pandas
        found = [small.get(id_key(v), -1) for v in ids]
        if -1 not in found:
            return np.asarray(found, dtype=np.int64)
    keys = pd.Series(ids, dtype=object).map(id_key)
    index = np.asarray(table.get_indexer(pd.Index(keys)))
    if (index < 0).any():
        value = pd.Series(ids, dtype=object).iloc[int(np.flatnonzero(index < 0)[0])]
        raise UnknownIdError(f"unknown {what} {value!r}; {_describe_ids(known)}")
    return index.astype(np.int64)


def id_key(value: Any) -> str:
    # IDs match on their string form; 7, "7" and 7.0 are the same ID
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def _describe_ids(known: Sequence[Any]) -> str:
    if not known:
        return "there are none"
    if all(isinstance(v, int | np.integer) for v in known[:1000]) and len(known) > 5:
        return f"known {len(known)} IDs range from {min(known)} to {max(known)}"
    shown = ", ".join(repr(v) for v in known[:5])
    return f"known IDs include {shown}" + (f" (of {len(known)})" if len(known) > 5 else "")


def _check_unique(ids: Sequence[Any], what: str) -> None:
    as_str = [id_key(v) for v in ids]
    if len(set(as_str)) != len(as_str):
        counts = pd.Series(as_str).value_counts()
        dup = counts.index[counts.to_numpy() > 1][0]
        raise DataError(f"{what} ID {dup!r} appears more than once")


def _is_list_column(column: pd.Series) -> bool:
    return len(column) > 0 and isinstance(column.iloc[0], list | tuple | set | np.ndarray)


def _explode_series(column: pd.Series, separator: str | None) -> pd.Series:
    column = column.dropna()
    if separator is not None:
        column = column.astype(str).str.split(separator, regex=False)
    exploded = column.explode()
    exploded = exploded[exploded.notna()]
    exploded = exploded[exploded.astype(str).str.len() > 0]
    return exploded


def _explode(column: pd.Series, separator: str | None) -> list[str]:
    return [str(v) for v in _explode_series(column, separator)]


def _number_label(value: Any) -> str:
    number = float(value)
    if number.is_integer():
        return str(int(number))
    return f"{number:.4g}"


def _quantile_edges(numbers: np.ndarray, n_bins: int) -> list[float]:
    edges = np.unique(np.quantile(numbers, np.linspace(0.0, 1.0, n_bins + 1)))
    if np.all(np.mod(numbers, 1) == 0):
        # integer data: integer edges, so that labels read "25-34" rather than "24.6-34.2"
        edges = np.unique(np.concatenate([np.ceil(edges[:-1]), edges[-1:]]))
    return [float(e) for e in edges]


def _bin_labels(edges: Sequence[float]) -> tuple[str, ...]:
    integer = all(float(e).is_integer() for e in edges)
    last = len(edges) - 2
    if integer:
        labels = []
        for i in range(len(edges) - 1):
            lo, hi = int(edges[i]), int(edges[i + 1])
            top = hi if i == last else hi - 1
            labels.append(str(lo) if top == lo else f"{lo}-{top}")
        return tuple(labels)
    for digits in range(3, 18):  # as few significant digits as keep the labels distinct
        labels = [f"{edges[i]:.{digits}g}-{edges[i + 1]:.{digits}g}" for i in range(len(edges) - 1)]
        if len(set(labels)) == len(labels):
            break
    return tuple(labels)
