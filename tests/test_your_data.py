"""Data as users bring it: MovieLens CSV releases, column mapping, repeated events, `whyrec data inspect`."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import run_cli
from whyrec.data import Dataset, load_movielens, load_spec
from whyrec.data.inspect import inspect_dataset
from whyrec.data.options import DataOptions, split_spec, with_options
from whyrec.errors import DataError, ParameterError, WhyrecError
from whyrec.models import load_model
from whyrec.models.baselines import ALS

RATINGS = [  # userId, movieId, rating
    *[(u, m, 4.0) for u in range(1, 13) for m in (1, 2, 3) if (u + m) % 4],
    *[(u, m, 2.5) for u in range(1, 13) for m in (4, 5) if (u + m) % 3],
    *[(u, m, 3.5) for u in range(1, 13) for m in (6, 7, 8) if (u * m) % 5],
]
MOVIES = [
    (1, "Toy Story (1995)", "Adventure|Animation|Children"),
    (2, "Jumanji (1995)", "Adventure|Children|Fantasy"),
    (3, "Heat (1995)", "Action|Crime|Thriller"),
    (4, "Casino (1995) ", "Crime|Drama"),
    (5, "Nixon (1995)", "Drama"),
    (6, "Sabrina (1995)", "Comedy|Romance"),
    (7, "Some Film", "(no genres listed)"),
    (8, "Balto (1995)", "Adventure|Animation"),
]


def _release(path, *, gz: bool = False, tags: bool = True):
    """A tiny CSV release in GroupLens' layout (ratings.csv, movies.csv, tags.csv)."""
    path.mkdir(parents=True, exist_ok=True)
    ratings = "userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{m},{r},{964982703 + n}\n" for n, (u, m, r) in enumerate(RATINGS)
    )
    if gz:
        (path / "ratings.csv.gz").write_bytes(gzip.compress(ratings.encode()))
    else:
        (path / "ratings.csv").write_text(ratings)
    movies = pd.DataFrame(MOVIES, columns=["movieId", "title", "genres"])
    movies.to_csv(path / "movies.csv", index=False)
    if tags:
        rows = [(1, 1, "Pixar"), (2, 1, "pixar "), (3, 8, "pixar"), (1, 3, "heist"), (2, 3, "Heist"), (4, 5, "rare")]
        pd.DataFrame(
            [(u, m, t, 1500000000) for u, m, t in rows], columns=["userId", "movieId", "tag", "timestamp"]
        ).to_csv(path / "tags.csv", index=False)
    return path


def test_a_csv_release_loads_with_titles_genres_years_and_frequent_tags(tmp_path):
    path = _release(tmp_path / "ml-latest-small")
    ds = load_movielens(path, min_tag_count=2)
    fs = ds.feature_space
    assert ds.name == "ml-latest-small"
    assert ds.n_interactions == sum(r >= 3 for _, _, r in RATINGS)  # 2.5 stars is not a positive
    assert ds.stats["below_min_rating"] == sum(r < 3 for _, _, r in RATINGS)
    assert fs.item_names[fs.item_index([4])[0]] == "Casino (1995)"
    names = set(fs.token_names)
    assert {"item.genre=Animation", "item.tag=pixar", "item.tag=heist"} <= names
    assert "item.tag=rare" not in names and "item.genre=(no genres listed)" not in names
    toy = fs.item_index([1])[0]
    toy_tokens = set(fs.token_names[ds.item_attributes[toy].indices])
    assert {"item.genre=Adventure", "item.genre=Animation", "item.genre=Children", "item.tag=pixar"} <= toy_tokens
    assert any(name.startswith("item.year=") for name in toy_tokens)
    assert not any(
        n.startswith("item.year=") for n in fs.token_names[ds.item_attributes[fs.item_index([7])[0]].indices]
    )
    assert load_movielens(path, min_rating=4).n_interactions == sum(r >= 4 for _, _, r in RATINGS)
    gz = load_movielens(_release(tmp_path / "gz", gz=True, tags=False))
    assert gz.n_interactions == ds.n_interactions and gz.name == "movielens"


def test_train_on_a_csv_release_unchanged_and_through_a_mapped_csv_spec(monkeypatch, capsys, tmp_path):
    path = _release(tmp_path / "ml-25m")
    common = ["--param", "epochs=2", "--param", "dim=8", "--quiet"]
    code, _, err = run_cli(
        monkeypatch, capsys, "train", "--data", f"movielens:{path}", "--out", tmp_path / "a", *common
    )
    assert code == 0, err
    flags = ["--user-col", "userId", "--item-col", "movieId", "--min-rating", "3", "--multi-valued", "genres=|"]
    spec = f"csv:{path / 'ratings.csv'},,{path / 'movies.csv'}"
    code, _, err = run_cli(monkeypatch, capsys, "train", "--data", spec, *flags, "--out", tmp_path / "b", *common)
    assert code == 0, err
    saved = load_model(tmp_path / "b").manifest_["info"]["run"]["data"]
    assert saved == f"{spec}?user=userId&item=movieId&min_rating=3&multi=genres:|"
    code, _, err = run_cli(monkeypatch, capsys, "train", "--config", tmp_path / "b", "--out", tmp_path / "c", "--quiet")
    assert code == 0, err
    first, again = load_model(tmp_path / "b"), load_model(tmp_path / "c")
    assert first.manifest_["info"]["test_metrics"] == again.manifest_["info"]["test_metrics"]
    assert first.feature_space_.n_tokens == again.feature_space_.n_tokens
    assert "item.genres=Animation" in set(first.feature_space_.token_names)


def _csv(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    return tmp_path / name


@pytest.mark.parametrize(
    ("files", "spec", "message"),
    [
        (
            {"r.csv": "userId,movieId,rating\n1,2,4\n"},
            "csv:{d}/r.csv?item=movieId",
            r"r\.csv: has no column 'user'; its columns are \['userId', 'movieId', 'rating'\]; "
            r"perhaps 'user' -> 'userId'",
        ),
        (
            {"r.csv": "user,item\n1,2\n"},
            "csv:{d}/r.csv?min_rating=3",
            r"r\.csv: min_rating=3 needs a rating column 'rating', and there is none",
        ),
        (
            {"r.csv": "user,item\n1,2\n1,3\n", "m.csv": "item,genres\n2,Drama|War\n3,Comedy\n"},
            "csv:{d}/r.csv,,{d}/m.csv?multi=genres:;",
            r"m\.csv: the separator ';' of multi-valued column 'genres' splits none of its values, but '\|' would",
        ),
        (
            {"r.csv": "user,item\n1,2\n1,9\n", "m.csv": "item,title\n2,A\n3,B\n"},
            "csv:{d}/r.csv,,{d}/m.csv",
            r"m\.csv: 1 item ID\(s\) in the interactions are not in the items table, e.g. 9",
        ),
        (
            {"r.csv": "user,item,rating\n1,2,4\n1,3,five\n"},
            "csv:{d}/r.csv",
            r"r\.csv line 3: rating column 'rating' has the non-numeric value 'five'",
        ),
        ({"r.csv": ""}, "csv:{d}/r.csv", r"r\.csv is empty"),
        ({"r.csv": "user;item\n1;2\n"}, "csv:{d}/r.csv", r"is its separator ';'\? pass --sep ';'"),
        (
            {"r.csv": "user,item\n1,2\n1,2\n"},
            "csv:{d}/r.csv",
            r"r\.csv line 3: 1 duplicate .*--on-duplicate drop\|count",
        ),
    ],
)
def test_bad_files_get_one_line_errors_naming_the_file_row_and_fix(monkeypatch, capsys, tmp_path, files, spec, message):
    for name, text in files.items():
        _csv(tmp_path, name, text)
    with pytest.raises(DataError, match=message):
        load_spec(spec.format(d=tmp_path))
    code, _, err = run_cli(monkeypatch, capsys, "data", "inspect", spec.format(d=tmp_path))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_truncated_gzip_and_a_bad_movielens_csv_are_named(tmp_path):
    full = gzip.compress(("userId,movieId,rating,timestamp\n" + "1,1,4,1\n" * 5000).encode())
    (tmp_path / "ratings.csv.gz").write_bytes(full[: len(full) // 2])
    with pytest.raises(DataError, match=r"ratings\.csv\.gz is truncated or corrupt"):
        load_movielens(tmp_path)
    bad = _release(tmp_path / "bad", tags=False)
    (bad / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4,1\n1,2,x,2\n")
    with pytest.raises(DataError, match=r"ratings\.csv line 3: rating 'x' is not a number"):
        load_movielens(bad)
    (bad / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4,1\n1,99,4,2\n")
    with pytest.raises(DataError, match=r"movies\.csv: 1 item ID\(s\) in the interactions are not in the items table"):
        load_movielens(bad)


def test_repeated_events_can_be_counted_and_ials_reads_them_as_confidence(tmp_path):
    events = pd.DataFrame({"user": [1, 1, 1, 2, 2, 3, 3, 3, 3], "item": [10, 10, 11, 10, 12, 12, 12, 12, 11]})
    counted = Dataset.from_frames(events, on_duplicate="count")
    pairs = {
        (counted.feature_space.user_ids[u], counted.feature_space.item_ids[i]): w
        for u, i, w in zip(counted.users, counted.items, counted.weights, strict=True)
    }
    assert pairs == {(1, 10): 2, (1, 11): 1, (2, 10): 1, (2, 12): 1, (3, 12): 3, (3, 11): 1}
    assert counted.stats["repeated_rows"] == 3 and counted.weighted_matrix().sum() == len(events)
    assert np.array_equal(counted.matrix().toarray(), counted.weighted_matrix().toarray() > 0)
    assert counted.subset(np.arange(2)).weights.tolist() == [2, 1]
    dropped = Dataset.from_frames(events, on_duplicate="drop")
    assert dropped.weights is None and dropped.n_interactions == counted.n_interactions
    a = ALS(factors=2, iterations=5, seed=0).fit(counted)
    b = ALS(factors=2, iterations=5, seed=0).fit(dropped)
    assert not np.allclose(a.item_factors_, b.item_factors_)  # the counts change what iALS learns
    spec = f"csv:{_csv(tmp_path, 'e.csv', events.to_csv(index=False))}?on_duplicate=count"
    assert load_spec(spec).weights.sum() == len(events)


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "user_col": st.sampled_from(["userId", "customer"]),
            "item_col": st.sampled_from(["movieId", "sku"]),
            "rating_col": st.just("stars"),
            "min_rating": st.sampled_from([1.0, 3.5, 4.0]),
            "multi_valued": st.dictionaries(st.sampled_from(["genres", "tags"]), st.sampled_from(["|", ";", "\t"])),
            "sep": st.sampled_from([";", "\t", "|"]),
            "on_duplicate": st.sampled_from(["drop", "count"]),
            "min_tag_count": st.integers(1, 20),
        },
    )
)
def test_options_survive_the_spec_round_trip(values):
    options = DataOptions(**values)
    spec = with_options("csv:r.csv,,m.csv", options)
    base, back = split_spec(spec)
    assert base == "csv:r.csv,,m.csv" and back == options


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("colour=red", "unknown data spec option 'colour'"),
        ("min_rating=lots", "takes a number"),
        ("on_duplicate=merge", "on_duplicate must be one of"),
        ("multi=genres", "FIELD:SEP"),
        ("user=", "column name"),
    ],
)
def test_bad_spec_options_are_parameter_errors(query, message):
    with pytest.raises(ParameterError, match=message):
        load_spec(f"csv:r.csv?{query}")
    with pytest.raises(ParameterError, match=r"movielens .* takes no user_col"):
        load_spec("movielens:somewhere?user=userId")


def test_inspect_reports_what_the_data_and_the_split_hold(monkeypatch, capsys, tmp_path):
    frame = pd.DataFrame([*RATINGS, (1, 1, 4.0)], columns=["user", "item", "rating"])
    movies = pd.DataFrame(MOVIES, columns=["item", "title", "genres"]).replace("(no genres listed)", None)
    ds = Dataset.from_frames(frame, None, movies, min_rating=3, on_duplicate="drop", multi_valued={"genres": "|"})
    report = inspect_dataset(ds, cold_start=0.2, seed=1)
    positives = len({(u, m) for u, m, r in RATINGS if r >= 3})
    assert (report["users"], report["items"], report["interactions"]) == (12, 8, positives)
    assert report["density"] == pytest.approx(positives / 96)
    below = len(frame) - positives - 1
    assert report["loading"] == {
        "rows": len(frame),
        "on_duplicate": "drop",
        "below_min_rating": below,
        "min_rating": 3,
        "repeated_rows": 1,
    }
    per_user = np.bincount(ds.users, minlength=12)
    assert report["activity_quantiles"]["p50"] == float(np.median(per_user))
    assert report["items_without_interactions"] == int((np.bincount(ds.items, minlength=8) == 0).sum())
    genres = next(f for f in report["fields"] if f["field"] == "item.genres")
    assert genres["coverage"] == pytest.approx(7 / 8)  # one movie lists no genre
    test = report["split"]["test"]
    assert report["split"]["cold_start_users"] >= 1 and test["users_without_training_history"] >= 1
    path = _csv(tmp_path, "r.csv", frame.to_csv(index=False))
    spec = f"csv:{path}?min_rating=3&on_duplicate=drop"
    code, out, err = run_cli(monkeypatch, capsys, "data", "inspect", spec, "--json", "--html", tmp_path / "r.html")
    assert code == 0, err
    assert json.loads(out)["interactions"] == positives
    page = (tmp_path / "r.html").read_text()
    assert "Plotly" in page and "src='http" not in page and 'src="http' not in page
    assert f"{positives} interactions" in page
    code, out, _ = run_cli(
        monkeypatch, capsys, "data", "inspect", f"csv:{path}", "--min-rating", "3", "--on-duplicate", "drop"
    )
    assert code == 0 and f"{positives} interactions" in out and "below min_rating 3" in out


def test_evaluate_a_saved_model_on_other_interactions(monkeypatch, capsys, small_model, small_data, tmp_path):
    path = small_model.save(tmp_path / "m")
    fs = small_model.feature_space_
    ds = small_data.dataset
    later = pd.DataFrame({"user": [fs.user_ids[u] for u in ds.users], "item": [fs.item_ids[i] for i in ds.items]})
    later = pd.concat([later, pd.DataFrame({"user": ["stranger"], "item": [fs.item_ids[0]]})])
    file = _csv(tmp_path, "later.csv", later.to_csv(index=False))
    code, out, err = run_cli(monkeypatch, capsys, "evaluate", "--model", path, "--data", f"csv:{file}", "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["left_out"]["unknown_user_or_item"] == 1
    assert metrics["left_out"]["seen_in_training"] == small_model.train_matrix_.nnz
    assert metrics["left_out"]["evaluated_interactions"] == len(ds.users) - small_model.train_matrix_.nnz


def test_every_column_option_and_the_separator(tmp_path):
    events = pd.DataFrame(
        {
            "who": [f"u{n % 7}" for n in range(40)],
            "what": [f"p{(n * 3) % 11}" for n in range(40)],
            "stars": [1 + n % 5 for n in range(40)],
            "when": [1_600_000_000 + 3600 * n for n in range(40)],
        }
    ).drop_duplicates(["who", "what"])
    products = pd.DataFrame(
        {
            "what": [f"p{n}" for n in range(11)],
            "name": [f"Product {n}" for n in range(11)],
            "tags": ["red;big" if n % 2 else "blue" for n in range(11)],
        }
    )
    events.to_csv(tmp_path / "events.txt", sep=";", index=False)
    products.to_csv(tmp_path / "products.txt", sep=";", index=False)
    query = "user=who&item=what&rating=stars&timestamp=when&title=name&min_rating=3&multi=tags:;&sep=;"
    ds = load_spec(f"csv:{tmp_path / 'events.txt'},,{tmp_path / 'products.txt'}?{query}")
    fs = ds.feature_space
    assert ds.n_interactions == int((events["stars"] >= 3).sum())
    assert fs.item_names[fs.item_index(["p3"])[0]] == "Product 3"  # the title column names items
    assert {"item.tags=red", "item.tags=big", "item.tags=blue"} <= set(fs.token_names)
    assert not any(name.startswith("item.name=") for name in fs.token_names)
    assert ds.timestamps is not None and ds.timestamps.min() >= 1_600_000_000
    with pytest.raises(DataError, match=r"is its separator ';'"):
        load_spec(f"csv:{tmp_path / 'events.txt'}?user=who&item=what")


BAD_FILES = {
    # name: (bytes, extra spec options, the one line it must give)
    "latin.csv": (
        "user,item,rating\n1,10,4\n2,11,5\ncafé,12,3\n".encode("latin-1"),
        "",
        "latin.csv line 4: not utf-8 text (byte 0xe9 at column 4); if the file is latin-1, pass --encoding latin-1 "
        "(encoding=latin-1 in the data spec)",
    ),
    "random.csv": (bytes(range(256)) * 8, "", "random.csv is not a text table: it holds binary data"),
    "short.csv": (
        b"user,item,rating\n1,10,4\n2,11,5\n3,1",
        "",
        "short.csv line 4: 2 of the header's 3 fields; the file looks cut off in the middle of a row",
    ),
    "quote.csv": (
        b'user,item,rating\n1,10,4\n2,"11,5\n3,12,4\n',
        "",
        "quote.csv line 3: a quote opened here is never closed; close it, or remove the stray quote",
    ),
    "nope.csv": (b"user,item\n1,10\n", "?encoding=klingon", "unknown text encoding 'klingon'"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_file_is_one_line_naming_the_file_the_line_and_the_fix(name, tmp_path, monkeypatch, capsys):
    content, options, message = BAD_FILES[name]
    (tmp_path / name).write_bytes(content)
    spec = f"csv:{tmp_path / name}{options}"
    with pytest.raises(WhyrecError) as raised:  # Python: a whyrec error ...
        load_spec(spec)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    code, _, err = run_cli(monkeypatch, capsys, "data", "inspect", spec)  # ... the CLI: exit 2, one line
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "np." not in err  # ids as the user wrote them, never a numpy repr


def test_the_encoding_option_reads_a_latin_1_file(tmp_path, monkeypatch, capsys):
    rows = "".join(f"{u},{10 + u % 5},4\n" for u in range(30))
    (tmp_path / "l.csv").write_bytes(("user,item,rating\n" + rows + "café,12,3\n").encode("latin-1"))
    data = load_spec(f"csv:{tmp_path / 'l.csv'}?encoding=latin-1")
    assert "café" in [str(u) for u in data.feature_space.user_ids]
    code, _, err = run_cli(monkeypatch, capsys, "data", "inspect", f"csv:{tmp_path / 'l.csv'}", "--encoding", "latin-1")
    assert code == 0, err


def test_ids_in_messages_print_as_written(tmp_path):
    (tmp_path / "i.csv").write_text("user,movieId\n1,60756\n")
    (tmp_path / "movies.csv").write_text("movieId,title\n60756,A\n60756,B\n")
    with pytest.raises(DataError, match=r"movies\.csv line 3: lists movieId 60756 more than once$"):
        load_spec(f"csv:{tmp_path / 'i.csv'},,{tmp_path / 'movies.csv'}?item=movieId")
