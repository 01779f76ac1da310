"""FeatureSpace: disjoint token ranges, readable names, encoders, JSON round trip, properties."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whyrec.data import Dataset, FeatureSpace, Field
from whyrec.errors import DataError, ModelFormatError, UnknownIdError


def _frames():
    interactions = pd.DataFrame({"user": [1, 1, 2, 3], "item": ["a", "b", "b", "c"]})
    users = pd.DataFrame({"user": [1, 2, 3, 4], "age": [19, 27, 33, 61], "gender": ["F", "M", "F", None]})
    items = pd.DataFrame(
        {
            "item": ["a", "b", "c"],
            "title": ["Alien", "Brazil", "Casablanca"],
            "genre": ["Sci-Fi|Horror", "Comedy", None],
        }
    )
    return interactions, users, items


def test_token_ranges_are_disjoint_and_named():
    ds = Dataset.from_frames(*_frames(), multi_valued={"genre": "|"}, n_bins=2)
    fs = ds.feature_space
    assert fs.n_items == 3 and fs.n_users == 4
    names = list(fs.token_names)
    assert names[:3] == ["item:Alien", "item:Brazil", "item:Casablanca"]
    assert "user.gender=F" in names and "item.genre=Horror" in names
    kinds = list(fs.token_kinds)
    assert kinds[:3] == ["item"] * 3
    user_tokens = [i for i, k in enumerate(kinds) if k == "user_attribute"]
    item_tokens = [i for i, k in enumerate(kinds) if k == "item_attribute"]
    assert max(user_tokens) < min(item_tokens) and min(user_tokens) == 3
    assert len(set(names)) == len(names)


def test_numeric_columns_become_readable_quantile_bins():
    values = pd.Series([18, 22, 25, 29, 34, 38, 45, 52, 60, 71])
    f = Field.fit("age", "user", values, n_bins=3)
    assert f.kind == "numeric"
    assert all("-" in label for label in f.values)
    rows, codes = f.encode(values)
    assert list(rows) == list(range(10))
    assert list(codes) == sorted(codes)  # bins are ordered
    assert f.encode_value(17)[0] == 0 and f.encode_value(99)[0] == len(f.values) - 1  # clipped ends


def test_integer_bin_labels_do_not_overlap():
    f = Field.fit("age", "user", pd.Series(range(18, 60)), n_bins=4)
    bounds = [tuple(int(x) for x in label.split("-")) for label in f.values]
    for (_, hi), (lo, _) in itertools.pairwise(bounds):
        assert hi < lo


def test_multi_valued_and_list_columns():
    f = Field.fit("genre", "item", pd.Series([["Drama", "War"], ["Comedy"], None]))
    assert f.kind == "multi" and f.values == ("Comedy", "Drama", "War")
    rows, codes = f.encode(pd.Series([["Drama", "War"], ["Comedy"], None]))
    assert list(rows) == [0, 0, 1] and list(codes) == [1, 2, 0]


def test_id_maps_and_unknown_ids():
    ds = Dataset.from_frames(*_frames(), multi_valued={"genre": "|"})
    fs = ds.feature_space
    assert list(fs.item_index(["c", "a"])) == [2, 0]
    assert list(fs.user_index(["4", 1])) == [3, 0]  # IDs match on their string form
    with pytest.raises(UnknownIdError, match="unknown user 99"):
        fs.user_index([99])
    with pytest.raises(UnknownIdError, match="unknown value 'X' for user attribute 'gender'"):
        fs.encode_attributes("user", {"gender": "X"})
    with pytest.raises(UnknownIdError, match="unknown user attribute 'height'"):
        fs.encode_attributes("user", {"height": 180})


def test_json_round_trip(tmp_path):
    fs = Dataset.from_frames(*_frames(), multi_valued={"genre": "|"}).feature_space
    fs.save(tmp_path / "fs.json")
    back = FeatureSpace.load(tmp_path / "fs.json")
    assert list(back.token_names) == list(fs.token_names)
    assert back.item_ids == fs.item_ids and back.user_ids == fs.user_ids
    assert list(back.encode_attributes("user", {"age": 27, "gender": "M"})) == list(
        fs.encode_attributes("user", {"age": 27, "gender": "M"})
    )


def test_corrupt_and_foreign_json(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ModelFormatError, match="corrupt"):
        FeatureSpace.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "whyrec.FeatureSpace", "format_version": 99}))
    with pytest.raises(ModelFormatError, match="version"):
        FeatureSpace.load(tmp_path / "other.json")


def test_duplicate_item_ids_rejected():
    with pytest.raises(DataError, match="appears more than once"):
        FeatureSpace(item_ids=[1, "1"], item_names=["a", "b"], user_ids=[])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=2, max_size=200),
    st.integers(min_value=1, max_value=8),
)
def test_binning_is_total_and_monotone(values, n_bins):
    column = pd.Series(values)
    f = Field.fit("x", "user", column, n_bins=n_bins)
    rows, codes = f.encode(column)
    assert len(rows) == len(values)
    assert ((codes >= 0) & (codes < len(f.values))).all()
    if f.kind == "numeric":
        order = np.argsort(values, kind="stable")
        assert (np.diff(codes[order]) >= 0).all()
    assert len(set(f.values)) == len(f.values)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), st.sampled_from(list("abcdefgh"))), min_size=1, max_size=80, unique=True),
    st.dictionaries(st.integers(0, 30), st.sampled_from(["x", "y", "z"]), max_size=31),
)
def test_from_frames_round_trips_ids(pairs, colours):
    interactions = pd.DataFrame(pairs, columns=["user", "item"])
    users = pd.DataFrame({"user": range(31), "colour": [colours.get(u) for u in range(31)]})
    ds = Dataset.from_frames(interactions, users)
    fs = ds.feature_space
    got = {(fs.user_ids[u], fs.item_ids[i]) for u, i in zip(ds.users, ds.items, strict=True)}
    assert got == set(pairs)
    for u, colour in colours.items():
        names = fs.token_names[ds.user_attributes[fs.user_index(u)[0]].indices]
        assert list(names) == [f"user.colour={colour}"]
