"""MovieLens 100K and 1M loaders, reading GroupLens' official file formats from a directory.

Ratings at or above `min_rating` (default 3, RecoNet section 5) become positive interactions.
The data's licence forbids redistribution: whyrec never ships it; `download=True` fetches the
official zip into a cache directory and checks its published md5.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from whyrec._io import atomic_directory
from whyrec.data.dataset import Dataset
from whyrec.errors import DataError

RELEASES = {
    "ml-100k": ("https://files.grouplens.org/datasets/movielens/ml-100k.zip", "0e33842e24a9c977be4e0107933c0723"),
    "ml-1m": ("https://files.grouplens.org/datasets/movielens/ml-1m.zip", "c4d9eecfca2ab87c1945afe126590906"),
}

ML1M_AGES = {1: "Under 18", 18: "18-24", 25: "25-34", 35: "35-44", 45: "45-49", 50: "50-55", 56: "56+"}
ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)  # fmt: skip
_YEAR = re.compile(r"\((\d{4})\)\s*$")


def detect_release(path: str | os.PathLike) -> str:
    """'ml-100k' or 'ml-1m', from the files present in `path`."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"MovieLens directory not found: {path}")
    if (path / "u.data").exists():
        return "ml-100k"
    if _ratings_1m(path) is not None:
        return "ml-1m"
    raise DataError(
        f"{path} holds neither MovieLens 100K (u.data, u.user, u.item) "
        "nor MovieLens 1M (ratings.dat[.gz], users.dat, movies.dat)"
    )


def load_movielens(
    path: str | os.PathLike | None = None,
    *,
    release: str | None = None,
    min_rating: float = 3,
    attributes: bool = True,
    download: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> Dataset:
    """Load MovieLens 100K or 1M (detected from the files) as implicit feedback.

    User attributes: gender, age (100K: quantile bands; 1M: the official bands), occupation.
    Item attributes: genre (multi-valued) and release year (quantile bands).
    With ``download=True`` and no `path`, the official zip of `release` is fetched into
    `cache_dir` (default ``~/.cache/whyrec``), its md5 checked, and reused on later calls.
    """
    if path is None:
        if not download:
            raise DataError("give the MovieLens directory, or pass download=True")
        path = fetch(release or "ml-100k", cache_dir)
    found = detect_release(path)
    if release is not None and release != found:
        raise DataError(f"{path} holds {found}, not {release}")
    loader = _load_100k if found == "ml-100k" else _load_1m
    interactions, users, items = loader(Path(path))
    return Dataset.from_frames(
        interactions,
        users if attributes else None,
        items if attributes else None,
        min_rating=min_rating,
        multi_valued={"genre": "|"},
        name=found,
    )


def fetch(release: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Download and unpack an official MovieLens zip (md5-checked); return its directory."""
    if release not in RELEASES:
        raise DataError(f"unknown MovieLens release {release!r}; choose from {sorted(RELEASES)}")
    url, md5 = RELEASES[release]
    cache = Path(cache_dir or Path.home() / ".cache" / "whyrec")
    target = cache / release
    if target.is_dir() and any(target.iterdir()):
        return target
    cache.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            payload = response.read()
    except OSError as exc:
        raise DataError(f"cannot download {url}: {exc}") from None
    digest = hashlib.md5(payload).hexdigest()
    if digest != md5:
        raise DataError(f"checksum mismatch for {url}: md5 {digest}, expected {md5}")
    # unpack beside the cache and rename into place, so a broken download never looks cached
    with atomic_directory(target) as staging, zipfile.ZipFile(io.BytesIO(payload)) as archive:
        archive.extractall(staging)
        inner = staging / release
        if inner.is_dir():  # the official zips hold one top folder named after the release
            for entry in inner.iterdir():
                entry.rename(staging / entry.name)
            inner.rmdir()
    return target


# -- 100K -----------------------------------------------------------------------------------------
def _load_100k(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ratings = _read(path / "u.data", sep="\t", names=["user", "item", "rating", "timestamp"])
    users = _read(path / "u.user", sep="|", names=["user", "age", "gender", "occupation", "zip"])
    genre_cols = [f"g{i}" for i in range(len(ML100K_GENRES))]
    items = _read(
        path / "u.item",
        sep="|",
        names=["item", "title", "release", "video", "url", *genre_cols],
        encoding="latin-1",
    )
    flags = items[genre_cols].to_numpy(dtype=bool)
    genres = np.array(ML100K_GENRES, dtype=object)
    items = pd.DataFrame(
        {
            "item": items["item"],
            "title": items["title"],
            "genre": ["|".join(genres[row]) if row.any() else None for row in flags],
            "year": pd.to_datetime(items["release"], format="%d-%b-%Y", errors="coerce").dt.year,
        }
    )
    return ratings, users[["user", "gender", "age", "occupation"]], items


# -- 1M -------------------------------------------------------------------------------------------
def _ratings_1m(path: Path) -> Path | None:
    for name in ("ratings.dat", "ratings.dat.gz"):
        if (path / name).exists():
            return path / name
    candidates = sorted(path.glob("ratings*.dat*"))
    return candidates[0] if candidates else None


def _load_1m(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ratings_path = _ratings_1m(path)
    assert ratings_path is not None
    # '::' is read as ':' with the empty columns between skipped, which keeps the fast C parser
    ratings = _read(
        ratings_path,
        sep=":",
        names=["user", "_a", "item", "_b", "rating", "_c", "timestamp"],
        usecols=["user", "item", "rating", "timestamp"],
        compression="gzip" if ratings_path.suffix == ".gz" else None,
    )
    users = _read_double_colon(path / "users.dat", ["user", "gender", "age", "occupation", "zip"])
    users["age"] = users["age"].astype(int).map(ML1M_AGES)
    occupation = users["occupation"].astype(int)
    if not occupation.between(0, len(ML1M_OCCUPATIONS) - 1).all():
        raise DataError("users.dat has an occupation code outside 0..20")
    users["occupation"] = occupation.map(dict(enumerate(ML1M_OCCUPATIONS)))
    movies = _read_double_colon(path / "movies.dat", ["item", "title", "genre"])
    movies["item"] = movies["item"].astype(int)
    movies["year"] = movies["title"].str.extract(_YEAR, expand=False).astype(float)
    users["user"] = users["user"].astype(int)
    return ratings, users[["user", "gender", "age", "occupation"]], movies


def _read_double_colon(path: Path, names: list[str]) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"missing MovieLens file {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="latin-1") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n\r")
            if not line:
                continue
            parts = line.split("::")
            if len(parts) != len(names):
                raise DataError(f"{path.name} line {number}: expected {len(names)} fields, found {len(parts)}")
            rows.append(parts)
    return pd.DataFrame(rows, columns=names)


def _read(path: Path, **options) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"missing MovieLens file {path}")
    options.setdefault("encoding", "latin-1")
    try:
        frame = pd.read_csv(path, header=None, engine="c", **options)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"malformed MovieLens file {path.name}: {str(exc).splitlines()[0]}") from None
    numeric = [c for c in ("user", "item", "rating", "timestamp") if c in frame.columns]
    for col in numeric:
        values = pd.to_numeric(frame[col], errors="coerce")
        if values.isna().any():
            line = int(np.flatnonzero(values.isna().to_numpy())[0]) + 1
            raise DataError(f"malformed MovieLens file {path.name} line {line}: bad {col} value")
        frame[col] = values.astype(np.int64)
    return frame
