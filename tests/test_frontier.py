"""The accuracy-against-cost search: its Pareto front, its cap, its storage and its refusals."""

from __future__ import annotations

import math

import pytest
from benchmarks.cost_frontier.frontier import best_within, cost_frontier, cost_frontier_figure

from whyrec.errors import ParameterError


def _dominates(a, b):
    """Whether trial `a` is at least as good as `b` on both objectives and better on one."""
    no_worse = a["validation"] >= b["validation"] and a["fit_seconds"] <= b["fit_seconds"]
    return no_worse and (a["validation"] > b["validation"] or a["fit_seconds"] < b["fit_seconds"])


def test_the_front_is_the_trials_that_no_other_beats_on_both(small_split):
    study = cost_frontier("ials", small_split, cap=60.0, trials=8, seed=2)
    done = [t for t in study["trials"] if t["state"] == "complete"]
    assert len(done) == 8 and study["pruned"] == 0
    front = study["front"]
    assert front and [t["fit_seconds"] for t in front] == sorted(t["fit_seconds"] for t in front)
    for trial in done:
        beaten = any(_dominates(other, trial) for other in done)
        assert beaten == (trial["number"] not in {t["number"] for t in front})
    assert all(0 < t["test"] <= 1 and t["params"]["factors"] >= 16 for t in done)  # test scored from the same fit
    # the same seed draws the same configurations (its first trials are the sampler's random start-up)
    again = cost_frontier("ials", small_split, cap=60.0, trials=8, seed=2)
    assert [t["params"] for t in again["trials"]] == [t["params"] for t in study["trials"]]


def test_best_within_takes_the_most_accurate_trial_that_fits():
    front = [
        {"number": 0, "validation": 0.30, "fit_seconds": 1.0},
        {"number": 1, "validation": 0.35, "fit_seconds": 3.0},
        {"number": 2, "validation": 0.40, "fit_seconds": 9.0},
    ]
    assert best_within(front, 0.5) is None
    assert best_within(front, 3.0)["number"] == 1
    assert best_within(front, 100.0)["number"] == 2


def test_fits_past_the_cap_are_stopped_and_pruned(small_split):
    lines: list[str] = []
    study = cost_frontier("reconet_masked", small_split, cap=1e-4, trials=2, seed=0, log=lines.append)
    assert study["pruned"] == 2 and study["front"] == []
    # an epoch-trained model stops at the end of its first epoch, not at the end of its fit
    assert all("passed the cap" in t["stopped"] and t["stopped"].endswith("at epoch 1") for t in study["trials"])
    assert len(lines) == 2 and all("stopped" in line for line in lines)
    closed_form = cost_frontier("ease", small_split, cap=1e-6, trials=1, seed=0)  # no epochs: checked after the fit
    assert closed_form["pruned"] == 1 and "over the cap" in closed_form["trials"][0]["stopped"]
    assert best_within(closed_form["front"], math.inf) is None


def test_a_stored_search_resumes_and_refuses_another_cap(small_split, tmp_path):
    storage = tmp_path / "frontier.db"
    first = cost_frontier("ease", small_split, cap=30.0, trials=2, seed=0, storage=storage)
    resumed = cost_frontier("ease", small_split, cap=30.0, trials=4, seed=0, storage=storage)
    assert resumed["trials_run_now"] == 2 and resumed["trials"][:2] == first["trials"]
    assert cost_frontier("ease", small_split, cap=30.0, trials=4, seed=0, storage=storage)["trials_run_now"] == 0
    with pytest.raises(ParameterError, match=r"other settings \(cap differ\)"):
        cost_frontier("ease", small_split, cap=10.0, trials=4, seed=0, storage=storage)


@pytest.mark.parametrize(
    ("model", "options", "message"),
    [
        ("xgboost", {"cap": 1.0}, "unknown model 'xgboost'"),
        ("ease", {"cap": 0.0}, "cap must be a positive number of seconds, got 0.0"),
        ("ease", {"cap": -3}, "cap must be a positive number of seconds, got -3"),
        ("ease", {"cap": float("nan")}, "cap must be a positive number"),
        ("ease", {"cap": True}, "cap must be a positive number"),
        ("ease", {"cap": 1.0, "trials": 0}, "trials must be a positive integer"),
        ("popularity", {"cap": 1.0}, "'popularity' has no search space"),
    ],
)
def test_bad_requests_are_named(small_split, model, options, message):
    with pytest.raises(ParameterError, match=message):
        cost_frontier(model, small_split, **options)


def test_the_figure_draws_each_model_s_trials_front_and_budget():
    study = {
        "trials": [
            {"state": "complete", "params": {"l2": 10.0}, "validation": 0.3, "fit_seconds": 1.0},
            {"state": "pruned", "params": {"l2": 20.0}, "validation": None, "fit_seconds": None},
        ],
        "front": [{"state": "complete", "params": {"l2": 10.0}, "validation": 0.3, "fit_seconds": 1.0}],
    }
    figure = cost_frontier_figure({"ease": study}, title="t", reference=2.0)
    assert [trace.name for trace in figure.data] == ["ease trials", "ease front"]
    assert list(figure.data[0].x) == [1.0]  # pruned trials have no point
    assert figure.layout.shapes[0].x0 == 8.0  # 4x the reference


def test_given_configurations_come_first_and_must_fit_the_space(small_split, tmp_path):
    storage = tmp_path / "frontier.db"
    study = cost_frontier("ease", small_split, cap=30.0, trials=3, seed=0, storage=storage, first=[{"l2": 123.0}])
    assert study["trials"][0]["params"] == {"l2": 123.0} and len(study["trials"]) == 3  # counted among the trials
    resumed = cost_frontier("ease", small_split, cap=30.0, trials=4, seed=0, storage=storage, first=[{"l2": 123.0}])
    assert [t["params"] for t in resumed["trials"]].count({"l2": 123.0}) == 1  # not tried again on resuming
    with pytest.raises(ParameterError, match=r"other settings \(first differ\)"):
        cost_frontier("ease", small_split, cap=30.0, trials=4, seed=0, storage=storage)
    with pytest.raises(ParameterError, match=r"configuration 0 of `first` does not fit ease's search space: \['l2'\]"):
        cost_frontier("ease", small_split, cap=30.0, first=[{"l2": 1e9}])
    with pytest.raises(ParameterError, match=r"does not fit ease's search space: \['k', 'l2'\]"):
        cost_frontier("ease", small_split, cap=30.0, first=[{"k": 3}])
    with pytest.raises(ParameterError, match="2 configurations given to try first, more than the 1 trials"):
        cost_frontier("ease", small_split, cap=30.0, trials=1, first=[{"l2": 5.0}, {"l2": 6.0}])
    with pytest.raises(ParameterError, match=r"the study storage.s folder .*missing does not exist"):
        cost_frontier("ease", small_split, cap=30.0, storage=tmp_path / "missing" / "frontier.db")
