"""Dataset construction, bad input, profiles (FS_u), MovieLens loaders and splits."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from conftest import dataset_dir
from whyrec.data import Dataset, build_profiles, load_movielens, load_spec, split
from whyrec.errors import DataError, ParameterError


def _interactions(**extra):
    frame = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": [10, 11, 10, 12, 12], "rating": [5, 2, 4, 3, 1]})
    return frame.assign(**extra)


def test_min_rating_keeps_positives_only():
    ds = Dataset.from_frames(_interactions(), min_rating=3)
    fs = ds.feature_space
    kept = {(fs.user_ids[u], fs.item_ids[i]) for u, i in zip(ds.users, ds.items, strict=True)}
    assert kept == {(1, 10), (2, 10), (2, 12)}
    assert fs.n_items == 3  # filtered items stay in the catalogue


@pytest.mark.parametrize(
    ("frame", "options", "message"),
    [
        (_interactions().drop(columns="item"), {}, "no column 'item'"),
        (_interactions(rating=[5, None, 4, 3, 1]), {}, "rating column .rating. has a missing value"),
        (_interactions(rating=[5, "x", 4, 3, 1]), {}, "non-numeric"),
        (pd.concat([_interactions(), _interactions().iloc[:1]]), {}, "duplicate"),
        (_interactions().iloc[:0], {}, "empty"),
        (_interactions().drop(columns="rating"), {"min_rating": 3}, "needs a rating column"),
        (_interactions(user=[1, None, 2, 2, 3]), {}, "missing value"),
    ],
)
def test_bad_interactions_name_the_problem(frame, options, message):
    with pytest.raises(DataError, match=message):
        Dataset.from_frames(frame, **options)


def test_duplicates_can_be_dropped():
    frame = pd.concat([_interactions(), _interactions().iloc[:1]])
    assert Dataset.from_frames(frame, on_duplicate="drop").n_interactions == 5


def test_tables_must_cover_interactions_and_columns():
    users = pd.DataFrame({"user": [1, 2], "age": [20, 30]})
    with pytest.raises(DataError, match=r"not in the users table, e.g. 3$"):
        Dataset.from_frames(_interactions(), users)
    with pytest.raises(DataError, match="no column 'height'"):
        Dataset.from_frames(_interactions(), pd.DataFrame({"user": [1, 2, 3]}), user_fields=["height"])
    with pytest.raises(DataError, match="more than once"):
        Dataset.from_frames(_interactions(), pd.DataFrame({"user": [1, 1, 2, 3], "age": [1, 2, 3, 4]}))


def test_csv_and_parquet_files(tmp_path):
    _interactions().to_csv(tmp_path / "i.csv", index=False)
    pd.DataFrame({"user": [1, 2, 3], "gender": ["F", "M", "F"]}).to_parquet(tmp_path / "u.parquet")
    ds = Dataset.from_files(tmp_path / "i.csv", tmp_path / "u.parquet", min_rating=3)
    assert ds.n_interactions == 3 and "user.gender=F" in ds.feature_space.token_names
    (tmp_path / "bad.csv").write_bytes(b'user,item\n1,"unclosed\n')
    with pytest.raises(DataError, match=r"bad\.csv line 2: a quote opened here is never closed"):
        Dataset.from_files(tmp_path / "bad.csv")
    with pytest.raises(DataError, match="file not found"):
        Dataset.from_files(tmp_path / "missing.csv")
    (tmp_path / "u.xlsx").write_text("x")
    with pytest.raises(DataError, match="unsupported file type"):
        Dataset.from_files(tmp_path / "u.xlsx")


def test_csv_spec_matches_from_files(tmp_path):
    _interactions().to_csv(tmp_path / "i.csv", index=False)
    ds = load_spec(f"csv:{tmp_path / 'i.csv'}")
    assert ds.n_interactions == 5
    with pytest.raises(DataError, match="unknown data spec"):
        load_spec("hdfs:/x")


def test_profiles_are_the_papers_feature_set(small_data):
    ds = small_data.dataset
    fs = ds.feature_space
    history = ds.matrix()
    bags = build_profiles(history[:5], ds.user_attributes[:5], ds.item_attributes)
    for u in range(5):
        items = set(history[u].indices)
        attrs = set(ds.user_attributes[u].indices)
        item_attrs = set().union(*(set(ds.item_attributes[i].indices) for i in items))
        assert set(bags[u].indices) == items | attrs | item_attrs  # V(u) ∪ Φ^U(u) ∪ Φ^V(V(u))
        assert (bags[u].data == 1).all()
    assert bags.shape == (5, fs.n_tokens)


def test_synthetic_records_a_driver_per_interaction(small_data):
    table = small_data.interactions
    assert len(table) == small_data.dataset.n_interactions
    assert set(table["mechanism"]) <= {"popularity", "country x category", "device x price", "co-interaction"}
    assert table.loc[table["mechanism"] == "popularity", "driver"].isna().all()
    assert table.loc[table["mechanism"] != "popularity", "driver"].notna().all()
    names = set(small_data.dataset.feature_space.token_names)
    assert set(table["driver"].dropna()) <= names


def test_splits_are_disjoint_seeded_and_sized(small_data):
    ds = small_data.dataset
    for kind in ("random", "user", "temporal"):
        a = split(ds, kind, seed=5)
        b = split(ds, kind, seed=5)
        parts = [a.train_index, a.validation_index, a.test_index]
        assert sum(map(len, parts)) == ds.n_interactions
        assert len(np.unique(np.concatenate(parts))) == ds.n_interactions
        assert all(
            (x == y).all() for x, y in zip(parts, [b.train_index, b.validation_index, b.test_index], strict=True)
        )
        assert abs(len(a.train_index) / ds.n_interactions - 0.6) < 0.05
    temporal = split(ds, "temporal")
    assert ds.timestamps[temporal.train_index].max() <= ds.timestamps[temporal.test_index].min()
    per_user = split(ds, "user")
    assert set(ds.users[per_user.test_index]) <= set(ds.users[per_user.train_index])


def test_cold_start_users_lose_their_training_history(small_split):
    ds = small_split.dataset
    cold = small_split.cold_users
    assert len(cold) > 0
    assert not np.isin(ds.users[small_split.train_index], cold).any()
    assert not np.isin(ds.users[small_split.validation_index], cold).any()
    assert np.isin(cold, ds.users[small_split.test_index]).all()


def test_bad_split_requests(small_data):
    with pytest.raises(ParameterError, match="unknown split"):
        split(small_data.dataset, "weekly")
    with pytest.raises(ParameterError, match="fractions"):
        split(small_data.dataset, fractions=(0.5, 0.5, 0.0))
    tiny = Dataset.from_frames(_interactions())
    with pytest.raises(DataError, match="at least 10"):
        split(tiny)
    no_time = Dataset.from_frames(pd.DataFrame({"user": range(20), "item": range(20)}))
    with pytest.raises(DataError, match="timestamps"):
        split(no_time, "temporal")


# -- MovieLens: official formats ------------------------------------------------------------------
def _write_100k(path, data_lines):
    path.mkdir()
    (path / "u.data").write_text(data_lines)
    (path / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")
    genres = "|".join(["0"] * 18)
    (path / "u.item").write_text(
        f"1|Toy Story (1995)|01-Jan-1995||http://x|0|{genres}\n2|GoldenEye (1995)|01-Jan-1995||http://x|1|{genres}\n"
    )


def test_movielens_100k_format_and_malformed_lines(tmp_path):
    _write_100k(tmp_path / "ok", "1\t1\t5\t881250949\n2\t2\t3\t881250950\n1\t2\t1\t881250951\n")
    ds = load_movielens(tmp_path / "ok")
    assert ds.n_interactions == 2 and ds.name == "ml-100k"
    assert "item:Toy Story (1995)" in ds.feature_space.token_names
    _write_100k(tmp_path / "bad", "1\t1\t5\t881250949\n2\tx\t3\t881250950\n")
    with pytest.raises(DataError, match=r"u\.data line 2: bad item"):
        load_movielens(tmp_path / "bad")
    with pytest.raises(DataError, match="neither MovieLens 100K"):
        load_movielens(tmp_path)
    with pytest.raises(DataError, match="not found"):
        load_movielens(tmp_path / "nowhere")


def test_movielens_1m_gzip_format(tmp_path):
    path = tmp_path / "ml1m"
    path.mkdir()
    with gzip.open(path / "ratings.dat.gz", "wt") as handle:
        handle.write("1::1::5::978300760\n1::2::2::978300761\n2::2::4::978300762\n")
    (path / "users.dat").write_text("1::F::1::10::48067\n2::M::25::12::70072\n")
    (path / "movies.dat").write_text("1::Toy Story (1995)::Animation|Comedy\n2::Heat (1995)::Action\n")
    ds = load_movielens(path)
    names = set(ds.feature_space.token_names)
    assert ds.name == "ml-1m" and ds.n_interactions == 2
    assert {"user.age=25-34", "user.occupation=programmer", "item.genre=Comedy"} <= names
    (path / "users.dat").write_text("1::F::1::10\n")
    with pytest.raises(DataError, match=r"users\.dat line 1: expected 5 fields"):
        load_movielens(path)


@pytest.mark.realdata
def test_real_movielens_100k():
    ds = load_movielens(dataset_dir("ml-100k"))
    assert (ds.n_users, ds.n_items) == (943, 1682)
    assert ds.n_interactions == 82520  # ratings >= 3 of the 100,000
    assert "item:Toy Story (1995)" in ds.feature_space.token_names


@pytest.mark.realdata
def test_real_movielens_1m_half():
    ds = load_movielens(dataset_dir("ml-1m"), min_rating=1)
    assert ds.n_interactions == 487650
    assert len(np.unique(ds.users)) == 2999
