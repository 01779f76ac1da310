"""Loader properties (hypothesis) and the md5-checked, cached download."""

from __future__ import annotations

import hashlib
import io
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whyrec.data import load_movielens, movielens
from whyrec.errors import DataError

ratings_rows = st.lists(
    st.tuples(st.integers(1, 6), st.integers(1, 5), st.integers(1, 5), st.integers(970000000, 980000000)),
    min_size=1,
    max_size=60,
    unique_by=lambda r: (r[0], r[1]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ratings_rows, threshold=st.integers(1, 5))
def test_ml1m_loader_keeps_exactly_the_positive_pairs(tmp_path_factory, rows, threshold):
    path = tmp_path_factory.mktemp("ml1m")
    (path / "ratings.dat").write_text("".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in rows))
    (path / "users.dat").write_text("".join(f"{u}::F::25::{u}::00000\n" for u in range(1, 7)))
    (path / "movies.dat").write_text("".join(f"{i}::Film {i} (199{i})::Drama|War\n" for i in range(1, 6)))
    ds = load_movielens(path, min_rating=threshold)
    fs = ds.feature_space
    got = {(fs.user_ids[u], fs.item_ids[i]) for u, i in zip(ds.users, ds.items, strict=True)}
    assert got == {(u, i) for u, i, r, _ in rows if r >= threshold}
    assert fs.n_users == 6 and fs.n_items == 5
    assert np.array_equal(np.diff(ds.user_attributes.indptr), np.full(6, 3))  # gender, age, occupation


def _fake_release(monkeypatch, payload: bytes, md5: str, release: str = "ml-100k", published: str | None = None):
    """Serve `payload` as the release's zip (and `published` as its .md5 file), with `md5` built in."""
    monkeypatch.setitem(movielens.RELEASES, release, md5)
    asked = []

    def fake_urlopen(url, timeout):
        asked.append(url)
        if url.endswith(".md5"):
            return io.BytesIO((published or "").encode())
        return io.BytesIO(payload)

    monkeypatch.setattr(movielens.urllib.request, "urlopen", fake_urlopen)
    return asked


def _zip_100k() -> bytes:
    buffer = io.BytesIO()
    genres = "|".join(["0"] * 18)
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ml-100k/u.data", "1\t1\t5\t881250949\n2\t1\t4\t881250950\n")
        archive.writestr("ml-100k/u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n")
        archive.writestr("ml-100k/u.item", f"1|Toy Story (1995)|01-Jan-1995||http://x|1|{genres}\n")
    return buffer.getvalue()


def test_download_checks_md5_and_caches(monkeypatch, tmp_path):
    payload = _zip_100k()
    _fake_release(monkeypatch, payload, hashlib.md5(payload).hexdigest())
    ds = load_movielens(download=True, cache_dir=tmp_path)
    assert ds.n_interactions == 2 and (tmp_path / "ml-100k" / "u.data").exists()
    monkeypatch.setattr(movielens.urllib.request, "urlopen", lambda *a, **k: pytest.fail("cache not used"))
    assert load_movielens(download=True, cache_dir=tmp_path).n_interactions == 2


def test_download_rejects_a_bad_checksum(monkeypatch, tmp_path):
    _fake_release(monkeypatch, _zip_100k(), "0" * 32)
    with pytest.raises(DataError, match="checksum mismatch"):
        load_movielens(download=True, cache_dir=tmp_path)
    assert not (tmp_path / "ml-100k").exists()
    with pytest.raises(DataError, match="pass download=True"):
        load_movielens()


def _zip_csv(release: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            f"{release}/ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n2,1,3.5,964981247\n"
        )
        archive.writestr(f"{release}/movies.csv", "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n")
    return buffer.getvalue()


def test_csv_releases_are_checked_against_the_published_md5(monkeypatch, tmp_path):
    payload = _zip_csv("ml-latest-small")
    md5 = hashlib.md5(payload).hexdigest()
    asked = _fake_release(monkeypatch, payload, None, "ml-latest-small", f"MD5 (ml-latest-small.zip) = {md5}\n")
    ds = load_movielens(download=True, release="ml-latest-small", cache_dir=tmp_path)
    assert ds.n_interactions == 2 and asked[0].endswith("ml-latest-small.zip.md5")
    _fake_release(monkeypatch, payload, None, "ml-25m", "MD5 (ml-25m.zip) = " + "1" * 32)
    with pytest.raises(DataError, match="checksum mismatch"):
        load_movielens(download=True, release="ml-25m", cache_dir=tmp_path)
    _fake_release(monkeypatch, payload, None, "ml-32m", "<html>not found</html>")
    with pytest.raises(DataError, match="holds no md5 checksum"):
        load_movielens(download=True, release="ml-32m", cache_dir=tmp_path)
    assert not (tmp_path / "ml-25m").exists() and not (tmp_path / "ml-32m").exists()
