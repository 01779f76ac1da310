"""Attribution networks: design validation, the synthetic goals, read-outs, persistence."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from whyrec.data import Dataset
from whyrec.data.attribution_tasks import (
    SYNTHETIC_GROUPS,
    SYNTHETIC_SUBSETS,
    leave_last_out_task,
    synthetic_attribution,
)
from whyrec.errors import DataError, ModelFormatError, ParameterError
from whyrec.explain import explain
from whyrec.models.attribution_network import AttributionNetwork, MLPClassifier, check_design


@pytest.mark.parametrize(
    ("groups", "subsets", "message"),
    [
        ({"a": [0], "b": [1]}, [("a",), ("c",)], "unknown group"),
        ({"a": [0, 1], "b": [1, 2]}, [("a",), ("b",)], "overlap"),
        ({"a": [0], "b": [1], "c": [2]}, [("a", "b"), ("b", "c")], "closed under intersection"),
        ({"a": [0]}, [("a",), ("a",)], "listed twice"),
        ({"a": [0]}, [()], "cannot be empty"),
        ({}, [("a",)], "at least one input group"),
    ],
)
def test_bad_designs_fail_at_construction(groups, subsets, message):
    with pytest.raises(ParameterError, match=message):
        AttributionNetwork(groups, subsets)


def test_valid_lattice_and_bad_options():
    assert len(check_design({"a": [0], "b": [1]}, [("a",), ("b",), ("a", "b")])) == 3
    with pytest.raises(ParameterError, match="implementation"):
        AttributionNetwork({"a": [0]}, [("a",)], implementation="pyramid")
    with pytest.raises(ParameterError, match="confidence"):
        AttributionNetwork({"a": [0]}, [("a",)], confidence="vibes")


@pytest.fixture(scope="module")
def task():
    return synthetic_attribution(8000, 0), synthetic_attribution(2000, 1), synthetic_attribution(4000, 2)


@pytest.mark.parametrize("implementation", ["tower", "masked"])
def test_synthetic_read_out_and_accuracy(task, implementation):
    train, val, test = task
    model = AttributionNetwork(SYNTHETIC_GROUPS, SYNTHETIC_SUBSETS, implementation=implementation, epochs=60)
    model.fit(train.X, train.y, validation=(val.X, val.y, None))
    mlp = MLPClassifier(SYNTHETIC_GROUPS, hidden=(128, 64), epochs=60).fit(
        train.X, train.y, validation=(val.X, val.y, None)
    )
    accuracy = ((model.predict_proba(test.X) > 0.5) == (test.y > 0.5)).mean()
    baseline = ((mlp.predict_proba(test.X) > 0.5) == (test.y > 0.5)).mean()
    read = model.read_out(test.X)
    assert np.mean([a == b for a, b in zip(read, test.truth, strict=True)]) >= 0.9
    assert accuracy >= baseline - 0.01
    alpha = model.subset_weights(test.X)
    assert np.allclose(alpha.sum(axis=1), 1.0, atol=1e-5)
    relevance = model.group_relevance(test.X[:10])
    assert relevance.shape == (10, 4) and np.allclose(relevance.sum(axis=1), 1.0, atol=1e-5)


def test_read_out_flows_into_the_shared_explanation(task):
    train, _, test = task
    model = AttributionNetwork(SYNTHETIC_GROUPS, SYNTHETIC_SUBSETS, epochs=3).fit(train.X, train.y)
    result = explain(model, test.X[:5])
    assert len(result) == 5 and result.method == "read_out"
    first = result[0]
    assert np.isclose(first.relevance.sum(), 1.0, atol=1e-5)
    assert {r.field for r in first.reasons} == set(SYNTHETIC_GROUPS)
    assert first.top(1)[0].name.startswith("group:") and first.to_dict()["reasons"]
    assert re.search(r"is recommended (mostly|partly|, among other things,) because the ", first.sentence())


def test_save_load_round_trip(task, tmp_path):
    train, _, test = task
    model = AttributionNetwork(SYNTHETIC_GROUPS, SYNTHETIC_SUBSETS, epochs=2).fit(train.X, train.y)
    loaded = AttributionNetwork.load(model.save(tmp_path / "an"))
    assert np.allclose(loaded.predict_proba(test.X), model.predict_proba(test.X))
    assert loaded.subsets == model.subsets
    with pytest.raises(ModelFormatError):
        AttributionNetwork.load(tmp_path / "nothing")


def test_inputs_are_checked(task):
    train, _, _ = task
    model = AttributionNetwork(SYNTHETIC_GROUPS, SYNTHETIC_SUBSETS, epochs=1).fit(train.X, train.y)
    with pytest.raises(DataError, match="but X has 4 columns"):
        model.predict_proba(train.X[:, :4])
    ids_model = AttributionNetwork({"d": [0], "u": ("ids", 3)}, [("d",), ("u",), ("d", "u")], epochs=1)
    with pytest.raises(DataError, match=r"must lie in 0\.\.2"):
        ids_model.fit(np.zeros((4, 1)), np.array([0, 1, 0, 1]), ids={"u": np.array([0, 1, 2, 3])})


def test_leave_last_out_task():
    interactions = pd.DataFrame(
        {"user": [1, 1, 1, 1, 2, 2, 2], "item": [1, 2, 3, 4, 2, 3, 5], "timestamp": [1, 2, 3, 4, 1, 2, 3]}
    )
    users = pd.DataFrame({"user": [1, 2], "gender": ["F", "M"]})
    items = pd.DataFrame({"item": [1, 2, 3, 4, 5, 6, 7, 8], "genre": ["a", "b", "a", "b", "a", "b", "a", "b"]})
    ds = Dataset.from_frames(interactions, users, items)
    task = leave_last_out_task(ds, negatives=2)
    fs = ds.feature_space
    assert sorted(fs.item_ids[i] for i in task.test_items) == [4, 5]  # each user's last item
    labels = task.train[2]
    assert labels.sum() == 3 and len(labels) == 9  # 3 training positives, 2 negatives each
    negative_pairs = zip(task.train[0][labels == 0], task.train[1][labels == 0], strict=True)
    assert all(task.seen[u, i] == 0 for u, i in negative_pairs)


def test_ctr_rows_become_group_inputs_with_ids_for_large_fields():
    from whyrec.data.attribution_tasks import ctr_group_inputs
    from whyrec.data.ctr import split_rows
    from whyrec.data.synthetic_ctr import synthetic_ctr

    frame = synthetic_ctr(n_rows=3000, seed=1).frame
    frame["f9"] = [f"id{i % 100}" for i in range(len(frame))]  # an id-like field: embedded
    split = split_rows(frame, seed=0, min_count=1)
    groups = {"pair": ["f0", "f1"], "rest": ["f2", "f3", "f4"], "who": ["f9"]}
    inputs = ctr_group_inputs(split.train, groups)
    assert inputs.groups["who"] == ("ids", 101) and inputs.groups["pair"] == list(range(10))
    assert inputs.X.shape == (len(split.train), 10 + 15) and (inputs.X.sum(axis=1) == 5).all()
    model = AttributionNetwork(inputs.groups, [("pair",), ("rest",), ("who",), ("pair", "rest", "who")], epochs=3)
    model.fit(inputs.X, inputs.y, ids=inputs.ids)
    relevance = model.group_relevance(inputs.X[:5], ids={"who": inputs.ids["who"][:5]})
    np.testing.assert_allclose(relevance.sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ParameterError, match="unknown CTR field"):
        ctr_group_inputs(split.train, {"x": ["nope"]})


def test_study_over_several_seeds_averages_and_keeps_each_seed(tmp_path):
    from benchmarks.attribution_network.study import attribution_study

    quiet = lambda *_: None  # noqa: E731
    results = attribution_study("synthetic", tmp_path, seed=[0, 1], implementations=("tower",), epochs=1, log=quiet)
    assert results["seeds"] == [0, 1] and set(results["per_seed"]) == {"0", "1"}
    per_seed = [results["per_seed"][s]["models"]["mlp"]["accuracy"] for s in ("0", "1")]
    assert results["models"]["mlp"]["accuracy"] == pytest.approx(np.mean(per_seed))
    assert results["models"]["mlp"]["accuracy_std"] == pytest.approx(np.std(per_seed))
    assert (tmp_path / "attribution_network_synthetic.json").exists()
