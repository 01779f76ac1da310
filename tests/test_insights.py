"""Insights: planted segment drivers recovered in the right segment, uncertainty, stability, bad input."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from whyrec.data import split, synthetic
from whyrec.errors import NotFittedError, UnknownIdError
from whyrec.explain import explain_top_k
from whyrec.insights import (
    bootstrap_mean,
    insights,
    rank_stability,
    segment_importance,
    segment_labels,
    summary_lines,
    what_if,
)
from whyrec.models import RecoNet
from whyrec.viz.insights import write_report


@pytest.fixture(scope="module")
def segmented():
    data = synthetic(seed=4, segment_drivers=True)
    parts = split(data.dataset, seed=4)
    return RecoNet(seed=4).fit(parts.train, parts.validation)


@pytest.mark.slow
def test_planted_segment_drivers_are_found_in_the_right_segment(segmented):
    result = insights(segmented, segment_by=["user.region"], k=5)
    tests = result["segments"]["user.region"]["tests"]
    # planted: country drives the north, device drives the south
    assert tests["user.country"]["significant"] and tests["user.country"]["highest"] == "north"
    assert tests["user.device"]["significant"] and tests["user.device"]["highest"] == "south"
    # planted equal in both regions: no significant difference
    for equal in ("user.age", "user.gender", "item"):
        assert not tests[equal]["significant"], (equal, tests[equal])
    assert result["replication"]["min_spearman"] > 0.9
    lines = summary_lines(result)
    assert any("user.country matters more for north than for south" in line for line in lines)


def test_global_importance_and_intervals(small_model):
    users = np.arange(small_model.feature_space_.n_users)
    explained = explain_top_k(small_model, users[:150], k=3)
    table, recommended = explained.table(), explained.items
    assert recommended.shape == (150, 3)
    shares = table.user_shares()
    assert np.allclose(shares.sum(axis=1), 1.0)
    kinds = table.global_importance("kind")
    assert set(kinds.index) <= {"item", "user_attribute", "item_attribute"}
    mean, low, high = bootstrap_mean(shares["user.country"].to_numpy())
    assert low <= mean <= high


def test_small_segments_are_reported_not_crashed():
    shares = pd.DataFrame({"a": np.r_[np.full(30, 0.2), np.full(5, 0.8)], "b": 0.5}, index=range(35))
    labels = pd.Series(["big"] * 30 + ["tiny"] * 5, index=range(35))
    result = segment_importance(shares, labels)
    assert "note" in result["segments"]["tiny"] and "ci95" not in result["segments"]["tiny"]["fields"]["a"]
    assert result["compared"] == ["big"] and result["tests"] == {}


def test_segment_specs(small_model):
    users = np.arange(small_model.feature_space_.n_users)[:100]
    labels, unit = segment_labels(small_model, "activity", users)
    assert unit == "user" and labels.nunique() >= 2
    labels, unit = segment_labels(
        small_model, "item.category", users, np.arange(100) % small_model.feature_space_.n_items
    )
    assert unit == "pair"
    custom, _ = segment_labels(small_model, {small_model.feature_space_.user_ids[0]: "vip"}, users)
    assert list(custom) == ["vip"]
    with pytest.raises(UnknownIdError, match="unknown segment 'planet'"):
        segment_labels(small_model, "planet", users)


def test_rank_stability_flags_unstable_fields():
    a = pd.Series({"x": 0.5, "y": 0.3, "z": 0.2})
    assert rank_stability([a, a])["min_spearman"] == pytest.approx(1.0)
    b = pd.Series({"x": 0.1, "y": 0.3, "z": 0.6})
    result = rank_stability([a, b])
    assert result["min_spearman"] < 0 and "x" in result["unstable"]


def test_what_if_changes_the_list(segmented):
    fs = segmented.feature_space_
    north = fs.token_index(["user.region=north"])[0]
    index = int(np.flatnonzero(segmented.user_attributes_[:, north].toarray().ravel())[0])
    user = fs.user_ids[index]
    names = [str(fs.token_names[t]) for t in segmented.user_attributes_[index].indices]
    country = next(name for name in names if name.startswith("user.country="))
    other = "DE" if not country.endswith("DE") else "FR"  # another northern country: a different category
    result = what_if(segmented, user, change={"country": other}, k=10)
    assert result["attributes_after"]["country"] == other and result["overlap"] < 1.0
    removed = what_if(segmented, user, remove=["gender"], k=10)
    assert "gender" not in removed["attributes_after"]
    with pytest.raises(UnknownIdError, match="unknown user attribute 'planet'"):
        what_if(segmented, user, change={"planet": "Mars"})


def test_report_files_and_bad_input(small_model, tmp_path):
    result = insights(small_model, segment_by=["user.country", "cold"], k=3)
    json_path, html_path = write_report(result, tmp_path)
    payload = json.loads(json_path.read_text())
    assert payload["users"] == result["users"] and "user.country" in payload["segments"]
    assert "item.price" in payload["dependence"]
    page = html_path.read_text()
    assert "95% bootstrap intervals" in page and "Plotly" in page
    with pytest.raises(NotFittedError):
        insights(RecoNet())


def test_cli_insights(monkeypatch, capsys, small_model, tmp_path):
    from whyrec.cli import main

    path = small_model.save(tmp_path / "model")
    monkeypatch.setattr(
        sys,
        "argv",
        ["whyrec", "insights", "--model", str(path), "--segment-by", "user.device", "--out", str(tmp_path / "out")],
    )
    main()
    assert (tmp_path / "out" / "insights.html").exists()
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["whyrec", "insights", "--model", str(path), "--segment-by", "shoe_size"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2 and "unknown segment 'shoe_size'" in capsys.readouterr().err
