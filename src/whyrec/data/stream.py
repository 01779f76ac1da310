"""Interactions streamed from Parquet shards, for tables larger than memory.

A table is one Parquet file or a folder of them. A folder may carry ``shards.json`` (written by
:func:`write_shards`) listing every shard with its row count and schema; then a missing shard, a
truncated one or a schema that changed between shards is an error before any training starts.
Without it, the folder's ``*.parquet`` files are the table and their schemas must agree.

:func:`stream_dataset` never holds the table: one streaming pass over the user and item columns
builds the vocabulary (the :class:`FeatureSpace`), and a second encodes each record batch to
32-bit indices, which is all that is kept (8 bytes per interaction).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from whyrec._io import write_json_atomic
from whyrec.data.dataset import Dataset, attribute_matrix, entity_fields, entity_frame
from whyrec.data.features import FeatureSpace
from whyrec.data.tables import read_table
from whyrec.errors import DataError, shown

SHARD_MANIFEST = "shards.json"
BATCH_ROWS = 1 << 20


def parquet_shards(path: str | os.PathLike) -> list[Path]:
    """The Parquet files of the table at `path`, checked against its manifest when there is one."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"no Parquet table at {path}: not a file or a folder")
    manifest = path / SHARD_MANIFEST
    if manifest.exists():
        try:
            listed = json.loads(manifest.read_text())["shards"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{manifest} is not a whyrec shard manifest: {exc}") from None
        missing = [s["file"] for s in listed if not (path / s["file"]).exists()]
        if missing:
            raise DataError(f"{len(missing)} shard(s) listed in {manifest} are missing, e.g. {missing[0]}")
        for s in listed:
            rows = pq.ParquetFile(path / s["file"]).metadata.num_rows
            if rows != s["rows"]:
                raise DataError(f"shard {s['file']} has {rows} rows; {SHARD_MANIFEST} says {s['rows']} (truncated?)")
        return [path / s["file"] for s in listed]
    shards = sorted(path.glob("*.parquet"))
    if not shards:
        raise DataError(f"the folder {path} holds no .parquet files")
    return shards


def check_schema(shards: Sequence[Path], columns: Sequence[str]) -> pa.Schema:
    """The shared schema of `columns` across shards; a missing column or a changed type is an error."""
    first: pa.Schema | None = None
    for shard in shards:
        try:
            schema = pq.read_schema(shard)
        except (OSError, pa.ArrowInvalid) as exc:
            raise DataError(f"cannot read the Parquet shard {shard}: {exc}") from None
        absent = [c for c in columns if c not in schema.names]
        if absent:
            raise DataError(f"shard {shard.name} has no column {absent[0]!r}; it has {schema.names}")
        chosen = pa.schema([schema.field(c) for c in columns])
        if first is None:
            first = chosen
        elif not chosen.equals(first):
            for c in columns:
                if chosen.field(c).type != first.field(c).type:
                    raise DataError(
                        f"schema mismatch: column {c!r} is {chosen.field(c).type} in {shard.name} "
                        f"but {first.field(c).type} in {shards[0].name}"
                    )
    assert first is not None
    return first


def iter_batches(
    shards: Sequence[Path], columns: Sequence[str], batch_rows: int = BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """Record batches of `columns`, shard after shard, at most `batch_rows` rows each."""
    for shard in shards:
        yield from pq.ParquetFile(shard).iter_batches(batch_size=batch_rows, columns=list(columns))


def stream_dataset(
    interactions: str | os.PathLike,
    users: str | os.PathLike | None = None,
    items: str | os.PathLike | None = None,
    *,
    user_col: str = "user",
    item_col: str = "item",
    n_bins: int = 5,
    batch_rows: int = BATCH_ROWS,
    name: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Dataset:
    """A :class:`Dataset` from Parquet interactions (shards) and optional users / items tables.

    Attribute tables are read whole (one row per user or item); every other column of them is an
    attribute. Duplicate (user, item) pairs keep one interaction. `progress` is called with the
    number of rows of every batch encoded.
    """
    shards = parquet_shards(interactions)
    check_schema(shards, [user_col, item_col])
    users_frame = entity_frame(read_table(users), user_col, "users") if users else None
    items_frame = entity_frame(read_table(items), item_col, "items") if items else None
    user_ids = _vocabulary(shards, user_col, users_frame, batch_rows)
    item_ids = _vocabulary(shards, item_col, items_frame, batch_rows)
    fields = [
        *entity_fields("user", users_frame, user_col, None, n_bins=n_bins),
        *entity_fields("item", items_frame, item_col, None, n_bins=n_bins),
    ]
    fs = FeatureSpace(
        item_ids=item_ids.tolist(), item_names=[str(i) for i in item_ids], user_ids=user_ids.tolist(), fields=fields
    )
    u_parts, i_parts = [], []
    for batch in iter_batches(shards, [user_col, item_col], batch_rows):
        u_parts.append(_encode(batch.column(0), user_ids, user_col))
        i_parts.append(_encode(batch.column(1), item_ids, item_col))
        if progress:
            progress(batch.num_rows)
    u, i = np.concatenate(u_parts), np.concatenate(i_parts)
    del u_parts, i_parts
    key = u.astype(np.int64) * len(item_ids) + i
    _, first = np.unique(key, return_index=True)
    if len(first) < len(key):
        first.sort()
        u, i = u[first], i[first]
    return Dataset(
        fs,
        u,
        i,
        attribute_matrix(fs, "user", users_frame, user_col, fs.n_users),
        attribute_matrix(fs, "item", items_frame, item_col, fs.n_items),
        None,
        name or Path(interactions).stem,
    )


def _vocabulary(shards: Sequence[Path], column: str, table: pd.DataFrame | None, batch_rows: int) -> np.ndarray:
    """Sorted distinct IDs of `column` over all shards (the table's IDs must cover them)."""
    seen: np.ndarray | None = None
    for batch in iter_batches(shards, [column], batch_rows):
        values = batch.column(0)
        if values.null_count:
            raise DataError(f"column {column!r} has a missing value")
        distinct = pc.unique(values).to_numpy(zero_copy_only=False)
        seen = distinct if seen is None else np.union1d(seen, distinct)
    seen = np.sort(seen) if seen is not None else np.zeros(0, np.int64)
    if table is None:
        return seen
    known = table[column].to_numpy()  # the table's order, as Dataset.from_frames keeps it
    absent = ~np.isin(seen, known)
    if absent.any():
        raise DataError(
            f"{int(absent.sum())} {column} ID(s) in the interactions are not in the {column}s table, "
            f"e.g. {shown(seen[absent][0])}"
        )
    return known


def _encode(values: pa.Array, vocabulary: np.ndarray, column: str) -> np.ndarray:
    raw = values.to_numpy(zero_copy_only=False)
    sorter = np.argsort(vocabulary, kind="stable")
    found = np.searchsorted(vocabulary, raw, sorter=sorter).clip(0, len(vocabulary) - 1)
    index = sorter[found]
    if not (vocabulary[index] == raw).all():
        raise DataError(f"column {column!r} holds an ID missing from the vocabulary pass; was a shard rewritten?")
    return index.astype(np.int32)


def write_shards(
    frames: Iterable[pd.DataFrame], folder: str | os.PathLike, *, prefix: str = "part"
) -> list[dict[str, Any]]:
    """Write each frame as one Parquet shard (atomically), then the manifest listing them all."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    listed = []
    for n, frame in enumerate(frames):
        file = f"{prefix}-{n:05d}.parquet"
        table = pa.Table.from_pandas(frame, preserve_index=False)
        tmp = folder / f".{file}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, folder / file)
        listed.append({"file": file, "rows": table.num_rows})
    write_json_atomic(folder / SHARD_MANIFEST, {"shards": listed})
    return listed
