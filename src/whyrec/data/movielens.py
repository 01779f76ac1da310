"""MovieLens loaders for every GroupLens release format, read from a directory as published.

- 100K: ``u.data``, ``u.user``, ``u.item``;
- 1M: ``ratings.dat[.gz]``, ``users.dat``, ``movies.dat``;
- the CSV releases (20M, 25M, 32M and the "latest" snapshots share one layout): ``ratings.csv``
  (required), ``movies.csv`` (titles, pipe-separated genres, the release year from the title) and
  ``tags.csv`` (optional: free-text tags, kept when applied at least `min_tag_count` times).

Ratings at or above `min_rating` (default 3, RecoNet section 5) become positive interactions.
The data's licence forbids redistribution: whyrec never ships it; `download=True` fetches the
official zip into a cache directory and checks its md5 (built in for 100K and 1M, GroupLens'
published ``.md5`` file for the others).
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
from whyrec.data.dataset import Dataset, TableError
from whyrec.data.options import OnDuplicate
from whyrec.data.tables import read_table
from whyrec.errors import DataError, first_line, shown

_BASE = "https://files.grouplens.org/datasets/movielens"
# md5 known for the two classic releases; the CSV releases are checked against GroupLens' .md5 file
RELEASES: dict[str, str | None] = {
    "ml-100k": "0e33842e24a9c977be4e0107933c0723",
    "ml-1m": "c4d9eecfca2ab87c1945afe126590906",
    "ml-20m": None,
    "ml-25m": None,
    "ml-32m": None,
    "ml-latest": None,
    "ml-latest-small": None,
}
_MD5 = re.compile(r"\b([0-9a-fA-F]{32})\b")
# how a film's reasons read (whyrec.explain.words); other fields read by the fallbacks
PHRASES = {
    "item": "you watched {name}",
    "items": "films",
    "user.age": "you are {value}",
    "item.genre": "you like {value} films",
    "item.year": "you like films from {value}",
    "item.tag": "you like films tagged {value}",
}

ML1M_AGES = {1: "Under 18", 18: "18-24", 25: "25-34", 35: "35-44", 45: "45-49", 50: "50-55", 56: "56+"}
ML1M_OCCUPATIONS = (
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
)
ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
_YEAR = re.compile(r"\((\d{4})\)\s*$")


def detect_release(path: str | os.PathLike) -> str:
    """'ml-100k', 'ml-1m' or 'csv' (a CSV release), from the files present in `path`."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"MovieLens directory not found: {path}")
    if (path / "u.data").exists():
        return "ml-100k"
    if _ratings_1m(path) is not None:
        return "ml-1m"
    if _csv_file(path, "ratings") is not None:
        return "csv"
    raise DataError(
        f"{path} holds neither MovieLens 100K (u.data, u.user, u.item), MovieLens 1M (ratings.dat[.gz], "
        "users.dat, movies.dat) nor a CSV release (ratings.csv[.gz], with movies.csv and tags.csv optional)"
    )


def load_movielens(
    path: str | os.PathLike | None = None,
    *,
    release: str | None = None,
    min_rating: float = 3,
    attributes: bool = True,
    download: bool = False,
    cache_dir: str | os.PathLike | None = None,
    min_tag_count: int = 5,
    on_duplicate: OnDuplicate = "error",
) -> Dataset:
    """Load a MovieLens release (detected from the files present) as implicit feedback.

    Parameters
    ----------
    path : str or path, optional
        The release's directory, as unpacked from GroupLens' zip.
    release : str, optional
        Expected release (``ml-100k``, ``ml-1m``, ``ml-25m`` ...); with `download`, the one to fetch.
    min_rating : float
        Ratings at or above this are positives.
    attributes : bool
        Read user and item attributes. 100K and 1M: gender, age, occupation; genre (multi-valued)
        and release year. CSV releases: genre, release year and tags (they have no user data).
    download : bool
        Fetch the official zip into `cache_dir` (default ``~/.cache/whyrec``) when `path` is not
        given; its md5 is checked and the unpacked copy is reused on later calls.
    cache_dir : str or path, optional
        Where downloads go.
    min_tag_count : int
        CSV releases: keep a tag (lower-cased) applied at least this many times.
    on_duplicate : {"error", "drop", "count"}
        What a repeated (user, movie) rating becomes (see :meth:`Dataset.from_frames`).
    """
    if path is None:
        if not download:
            raise DataError("give the MovieLens directory, or pass download=True")
        path = fetch(release or "ml-100k", cache_dir)
    found = detect_release(path)
    if release is not None and release != found and not (found == "csv" and release in RELEASES):
        raise DataError(f"{path} holds {found}, not {release}")
    directory = Path(path)
    if found == "csv":
        interactions, users, items = _load_csv(directory, min_tag_count)
        files = {"interactions": _csv_file(directory, "ratings"), "items": _csv_file(directory, "movies")}
        name = release or (directory.name if directory.name.startswith("ml-") else "movielens")
    else:
        interactions, users, items = (_load_100k if found == "ml-100k" else _load_1m)(directory)
        files, name = {}, found
    try:
        return Dataset.from_frames(
            interactions,
            users if attributes else None,
            items if attributes else None,
            min_rating=min_rating,
            multi_valued={"genre": "|"} if found != "csv" else {},
            on_duplicate=on_duplicate,
            name=name,
            phrases=PHRASES,
        )
    except TableError as exc:
        file = files.get(exc.table)
        if file is None:
            raise
        where = f" line {exc.row + 2}" if exc.row is not None else ""
        raise DataError(f"{file.name}{where}: {exc.message}") from None


def fetch(release: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Download and unpack an official MovieLens zip (md5-checked); return its directory."""
    if release not in RELEASES:
        raise DataError(f"unknown MovieLens release {release!r}; choose from {sorted(RELEASES)}")
    url = f"{_BASE}/{release}.zip"
    cache = Path(cache_dir or Path.home() / ".cache" / "whyrec")
    target = cache / release
    if target.is_dir() and any(target.iterdir()):
        return target
    cache.mkdir(parents=True, exist_ok=True)
    md5 = RELEASES[release] or _published_md5(url)
    payload = _download(url)
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


def _download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            payload: bytes = response.read()
    except OSError as exc:
        raise DataError(f"cannot download {url}: {exc}") from None
    return payload


def _published_md5(url: str) -> str:
    """The md5 GroupLens publishes beside a zip (``<zip>.md5``)."""
    text = _download(f"{url}.md5").decode("ascii", errors="replace")
    found = _MD5.search(text)
    if found is None:
        raise DataError(f"{url}.md5 holds no md5 checksum; refusing an unchecked download")
    return found.group(1).lower()


# -- CSV releases ---------------------------------------------------------------------------------
def _csv_file(path: Path, stem: str) -> Path | None:
    for name in (f"{stem}.csv", f"{stem}.csv.gz"):
        if (path / name).exists():
            return path / name
    return None


def _load_csv(path: Path, min_tag_count: int) -> tuple[pd.DataFrame, None, pd.DataFrame | None]:
    ratings_path = _csv_file(path, "ratings")
    assert ratings_path is not None
    ratings = _read_csv(ratings_path, ["userId", "movieId", "rating", "timestamp"])
    ratings = ratings.rename(columns={"userId": "user", "movieId": "item"})
    movies_path = _csv_file(path, "movies")
    if movies_path is None:
        return ratings, None, None
    movies = _read_csv(movies_path, ["movieId", "title", "genres"], numeric=("movieId",))
    genres = movies["genres"].fillna("").astype(str)
    items = pd.DataFrame(
        {
            "item": movies["movieId"],
            "title": movies["title"].astype(str).str.strip(),
            "genre": [None if g in ("", "(no genres listed)") else g.split("|") for g in genres],
            "year": movies["title"].astype(str).str.strip().str.extract(_YEAR, expand=False).astype(float),
        }
    )
    tags_path = _csv_file(path, "tags")
    if tags_path is not None:
        tags = _read_csv(tags_path, ["userId", "movieId", "tag"], numeric=("movieId",))
        text = tags["tag"].astype(str).str.strip().str.lower()
        counts = text.value_counts()
        kept = tags.assign(tag=text)[text.isin(counts.index[counts.to_numpy() >= min_tag_count])]
        by_movie = kept.groupby("movieId")["tag"].agg(lambda t: sorted(set(t)))
        items["tag"] = items["item"].map(by_movie)
    return ratings, None, items


def _read_csv(
    path: Path, required: list[str], numeric: tuple[str, ...] = ("userId", "movieId", "rating")
) -> pd.DataFrame:
    frame = read_table(path)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"{path.name} lacks column(s) {missing}; a MovieLens CSV release has {required}")
    for col in numeric:
        values = pd.to_numeric(frame[col], errors="coerce")
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise DataError(f"{path.name} line {row + 2}: {col} {shown(frame[col].iloc[row])} is not a number")
    return frame


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
        raise DataError(f"malformed MovieLens file {path.name}: {first_line(exc)}") from None
    numeric = [c for c in ("user", "item", "rating", "timestamp") if c in frame.columns]
    for col in numeric:
        values = pd.to_numeric(frame[col], errors="coerce")
        if values.isna().any():
            line = int(np.flatnonzero(values.isna().to_numpy())[0]) + 1
            raise DataError(f"malformed MovieLens file {path.name} line {line}: bad {col} value")
        frame[col] = values.astype(np.int64)
    return frame
