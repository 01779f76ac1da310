"""Readers of the public CTR formats into raw rows (a ``label`` column plus one column per field).

- Criteo (Display Advertising Challenge): tab-separated ``label, I1..I13, C1..C26``, no header.
- Avazu (Kaggle CTR): comma-separated, 24 columns, header on the first file only.
- Frappe (context-aware app usage): logs are positives; 2 negatives per log are sampled as the
  NFM paper did (same user and context, an app the user never used), seeded.
- MovieLens as CTR: a rating >= 4 is a click; user and movie fields.

Malformed rows are reported with their line number: a wrong column count, a non-integer value in
an integer column, or a label that is not 0/1.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from whyrec.data.ctr import LABEL, CTRSplit, bucketise, clicks, split_rows
from whyrec.data.features import FeatureSpace
from whyrec.errors import DataError, shown

CRITEO_INTEGER = [f"I{i}" for i in range(1, 14)]
CRITEO_CATEGORICAL = [f"C{i}" for i in range(1, 27)]
CRITEO_COLUMNS = [LABEL, *CRITEO_INTEGER, *CRITEO_CATEGORICAL]
AVAZU_COLUMNS = [  # the Kaggle release's header: ids, click, hour, anonymised fields, site, app and device
    "id",
    "click",
    "hour",
    "C1",
    "banner_pos",
    *(f"{side}_{part}" for side in ("site", "app") for part in ("id", "domain", "category")),
    *(f"device_{part}" for part in ("id", "ip", "model", "type", "conn_type")),
    *(f"C{i}" for i in range(14, 22)),
]
FRAPPE_FIELDS = ["user", "item", "daytime", "weekday", "isweekend", "homework", "cost", "weather", "country", "city"]


def read_delimited(
    path: str | os.PathLike,
    names: Sequence[str],
    *,
    sep: str,
    header: bool = False,
    integer: Sequence[str] = (),
    nrows: int | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a delimited file as strings, checking every line's field count and integer columns.

    Returns the rows and each row's line number in the file. Gzip files (``.gz``) are read
    transparently. Empty fields are missing values.
    """
    path = Path(path)
    raw = _read_bytes(path)
    buf = np.frombuffer(raw, dtype=np.uint8)
    ends = np.flatnonzero(buf == ord("\n"))
    if len(buf) and buf[-1] != ord("\n"):
        ends = np.append(ends, len(buf))
    starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)
    # counting separators per line in one vectorised pass keeps this fast on large files
    cum = np.concatenate([[0], np.cumsum(buf == ord(sep))])
    counts = cum[ends] - cum[starts] + 1
    lengths = ends - starts - (buf[np.maximum(ends - 1, 0)] == ord("\r")) * (ends > starts)
    line_numbers = np.flatnonzero(lengths > 0) + 1
    counts = counts[lengths > 0]
    if header:
        line_numbers, counts = line_numbers[1:], counts[1:]
    if nrows is not None:
        line_numbers, counts = line_numbers[:nrows], counts[:nrows]
    bad = np.flatnonzero(counts != len(names))
    if bad.size:
        line = int(line_numbers[bad[0]])
        raise DataError(f"{path.name} line {line}: expected {len(names)} fields, found {int(counts[bad[0]])}")
    if len(line_numbers) == 0:
        raise DataError(f"{path.name} has no data rows")
    frame = pd.read_csv(
        io.BytesIO(raw),
        sep=sep,
        header=0 if header else None,
        names=list(names),
        dtype=str,
        keep_default_na=False,
        na_values=[""],
        quoting=csv.QUOTE_NONE,
        nrows=nrows,
        engine="c",
    )
    for column in integer:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad_rows = (frame[column].notna() & (values.isna() | (values % 1 != 0))).to_numpy()
        if bad_rows.any():
            row = int(np.flatnonzero(bad_rows)[0])
            raise DataError(
                f"{path.name} line {int(line_numbers[row])}: field {column} must be an integer, "
                f"got {shown(frame[column].iloc[row])}"
            )
    return frame, line_numbers


def check_labels(frame: pd.DataFrame, column: str, path: Path, lines: np.ndarray) -> np.ndarray:
    """The 0/1 label column as floats; anything else is reported with its line number."""
    labels, row = clicks(frame[column])
    if row is not None:
        raise DataError(
            f"{path.name} line {int(lines[row])}: label must be 0 or 1, got {shown(frame[column].iloc[row])}"
        )
    return labels


def read_criteo(path: str | os.PathLike, *, nrows: int | None = None) -> pd.DataFrame:
    """Criteo rows: integer fields bucketised (:func:`bucketise`), hashed categories as they are."""
    path = _file_in(path, ("train_examples.txt", "train.txt", "dac_sample.txt"))
    frame, lines = read_delimited(path, CRITEO_COLUMNS, sep="\t", integer=CRITEO_INTEGER, nrows=nrows)
    out = pd.DataFrame({LABEL: check_labels(frame, LABEL, path, lines)})
    for column in CRITEO_INTEGER:
        out[column] = bucketise(frame[column])
    for column in CRITEO_CATEGORICAL:
        out[column] = frame[column]
    return out


def read_avazu(path: str | os.PathLike, *, nrows: int | None = None) -> pd.DataFrame:
    """Avazu rows from one file or a folder of them (``train.csv`` with a header, others without).

    ``id`` is dropped; ``hour`` (YYMMDDHH) becomes hour of day and weekday fields.
    """
    path = Path(path)
    files = (
        [path]
        if path.is_file()
        else sorted(
            (p for p in path.glob("*.csv*") if p.is_file()), key=lambda p: (not p.name.startswith("train"), p.name)
        )
    )  # train first: it carries the header
    if not files:
        raise DataError(f"no Avazu CSV files in {path}")
    parts, labels = [], []
    for file in files:
        with _open_text(file) as handle:
            first = handle.readline()
        part, lines = read_delimited(file, AVAZU_COLUMNS, sep=",", header=first.startswith("id,"), nrows=nrows)
        parts.append(part)
        labels.append(check_labels(part, "click", file, lines))
    frame = pd.concat(parts, ignore_index=True)
    label_values = np.concatenate(labels)
    hour = pd.to_datetime(frame["hour"], format="%y%m%d%H", errors="coerce")
    if hour.isna().any():
        row = int(np.flatnonzero(hour.isna().to_numpy())[0])
        raise DataError(f"Avazu row {row}: hour must be YYMMDDHH, got {shown(frame['hour'].iloc[row])}")
    out = pd.DataFrame({LABEL: label_values, "hour_of_day": hour.dt.hour.astype(str), "weekday": hour.dt.day_name()})
    for column in AVAZU_COLUMNS[3:]:
        out[column] = frame[column]
    return out


def read_frappe(path: str | os.PathLike, *, negatives: int = 2, seed: int = 0) -> pd.DataFrame:
    """Frappe logs as positives plus `negatives` sampled negatives each (NFM's protocol, seeded).

    A negative keeps the log's user and context and swaps in an app that user never used.
    """
    path = _file_in(path, ("frappe.csv", "raw/frappe.csv"))
    header = ["user", "item", "cnt", *FRAPPE_FIELDS[2:]]
    logs, _ = read_delimited(path, header, sep="\t", header=True, integer=["user", "item", "cnt"])
    if negatives < 0:
        raise DataError(f"negatives must be >= 0, got {negatives}")
    users = logs["user"].astype(np.int64).to_numpy()
    items = logs["item"].astype(np.int64).to_numpy()
    n_items = int(items.max()) + 1
    used = np.unique(users * n_items + items)
    rng = np.random.default_rng(seed)
    repeat = np.repeat(np.arange(len(logs)), negatives)
    sampled = rng.integers(0, n_items, size=len(repeat))
    while True:  # resample the draws that hit an app the user used; few remain after each round
        clash = np.flatnonzero(np.isin(users[repeat] * n_items + sampled, used))
        if clash.size == 0:
            break
        sampled[clash] = rng.integers(0, n_items, size=clash.size)
    positives = logs[FRAPPE_FIELDS].assign(**{LABEL: 1.0})
    negative_rows = logs[FRAPPE_FIELDS].iloc[repeat].reset_index(drop=True)
    negative_rows["item"] = sampled.astype(str)
    negative_rows[LABEL] = 0.0
    out = pd.concat([positives, negative_rows], ignore_index=True)
    return out[[LABEL, *FRAPPE_FIELDS]]


def read_movielens_ctr(path: str | os.PathLike, *, threshold: float = 4) -> pd.DataFrame:
    """MovieLens ratings as clicks (rating >= `threshold`), with user and movie fields.

    Fields: user, movie, gender, age, occupation, year, genre (a movie's first listed genre, so
    that every row has one token per field).
    """
    from whyrec.data.movielens import _load_1m, _load_100k, detect_release

    path = Path(path)
    loader = _load_100k if detect_release(path) == "ml-100k" else _load_1m
    ratings, users, items = loader(path)
    frame = ratings.merge(users, on="user", how="left").merge(items, on="item", how="left")
    year = pd.to_numeric(frame["year"], errors="coerce")
    age = frame["age"].astype(str)
    if pd.api.types.is_numeric_dtype(frame["age"]):  # 100K gives ages in years: use decades
        age = (frame["age"] // 10 * 10).astype(int).astype(str) + "s"
    return pd.DataFrame(
        {
            LABEL: (frame["rating"] >= threshold).astype(float),
            "user": frame["user"].astype(str),
            "movie": frame["item"].astype(str),
            "gender": frame["gender"].astype(str),
            "age": age,
            "occupation": frame["occupation"].astype(str),
            "year": year.map(lambda y: pd.NA if pd.isna(y) else f"{int(y) // 5 * 5}s"),
            "genre": frame["genre"].astype(str).str.split("|").str[0].where(frame["genre"].notna()),
        }
    )


def _file_in(path: str | os.PathLike, names: Sequence[str]) -> Path:
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        for name in names:
            if (path / name).is_file():
                return path / name
        raise DataError(f"{path} holds none of {', '.join(names)}")
    raise DataError(f"CTR data not found: {path}")


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise DataError(f"CTR file not found: {path}")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


CTR_SPEC_HELP = "synthetic-ctr[:n_rows=N,seed=S] | criteo:PATH | avazu:PATH | frappe:PATH | movielens-ctr:PATH"


def load_ctr(spec: str, *, seed: int = 0) -> tuple[pd.DataFrame, list[tuple[str, ...]] | None]:
    """Raw CTR rows named by a spec (see :data:`CTR_SPEC_HELP`) and, for synthetic data, the planted
    interactions. Frappe's negatives are sampled with `seed`."""
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "synthetic-ctr":
        from whyrec.data.synthetic_ctr import synthetic_ctr

        options: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in rest.split(","))):
            key, _, value = part.partition("=")
            if key not in ("n_rows", "n_fields", "cardinality", "seed") or not value.strip().lstrip("-").isdigit():
                raise DataError(
                    f"synthetic-ctr options are n_rows=, n_fields=, cardinality=, seed= (integers); got {part!r}"
                )
            options[key] = int(value)
        options.setdefault("seed", seed)
        data = synthetic_ctr(**options)
        return data.frame, data.interactions
    readers: dict[str, Callable[[Path], pd.DataFrame]] = {
        "criteo": read_criteo,
        "avazu": read_avazu,
        "movielens-ctr": read_movielens_ctr,
    }
    if kind == "frappe":
        if not rest:
            raise DataError("frappe needs a path: frappe:PATH")
        return read_frappe(rest, seed=seed), None
    if kind in readers:
        if not rest:
            raise DataError(f"{kind} needs a path: {kind}:PATH")
        return readers[kind](Path(rest)), None
    raise DataError(f"unknown CTR data spec {spec!r}; expected {CTR_SPEC_HELP}")


def ctr_split(
    spec: str, *, seed: int = 0, min_count: int = 2, space: FeatureSpace | None = None
) -> tuple[CTRSplit, list[tuple[str, ...]] | None]:
    """The seeded 80/10/10 split of a CTR data spec and, for synthetic data, the planted interactions."""
    frame, planted = load_ctr(spec, seed=seed)
    name = spec.partition(":")[0]
    return split_rows(frame, seed=seed, min_count=min_count, name=name, space=space), planted
