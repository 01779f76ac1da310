"""Tuning with Optuna: same trials for every model, pruning, resumption, boundary flags, bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from benchmarks.accuracy.restore_studies import restore_study
from benchmarks.accuracy.table1 import accuracy_table, add_to_study

from conftest import run_benchmark, run_cli
from whyrec.errors import DataError, ParameterError, TrainingDivergedError, first_line
from whyrec.metrics import evaluate
from whyrec.tuning import score_on_seeds
from whyrec.tuning.catalogue import CANDIDATES, Candidate, Choice, FloatRange, IntRange, build, check_space
from whyrec.tuning.search import next_growth, on_boundary, stored_best, tune


def test_tune_is_seeded_and_keeps_the_best(small_split):
    first = tune("ease", small_split, trials=4, seed=3)
    again = tune("ease", small_split, trials=4, seed=3)
    assert [t["params"] for t in first["trials"]] == [t["params"] for t in again["trials"]]
    best = max(first["trials"], key=lambda t: t["validation"])
    assert first["params"] == best["params"] and first["validation"] == best["validation"]
    assert all(1.0 <= t["params"]["l2"] <= 1e5 for t in first["trials"])


def test_a_killed_study_resumes_without_losing_trials(small_split, tmp_path):
    storage = tmp_path / "tuning.db"
    partial = tune("item_knn", small_split, trials=2, seed=0, storage=storage)
    assert partial["trials_run_now"] == 2
    resumed = tune("item_knn", small_split, trials=5, seed=0, storage=storage)
    assert resumed["trials_run_now"] == 3 and len(resumed["trials"]) == 5
    assert resumed["trials"][:2] == partial["trials"]  # the finished trials were kept as they were
    done = tune("item_knn", small_split, trials=5, seed=0, storage=storage)
    assert done["trials_run_now"] == 0
    with pytest.raises(ParameterError, match="other settings \\(seed differ\\)"):
        tune("item_knn", small_split, trials=5, seed=1, storage=storage)


def test_stored_best_reads_a_finished_study_without_running_trials(small_split, tmp_path):
    storage = tmp_path / "tuning.db"
    assert stored_best("item_knn", small_split, storage=storage, trials=3) is None  # no storage yet
    tune("item_knn", small_split, trials=2, seed=0, storage=storage)
    assert stored_best("ease", small_split, storage=storage, trials=3) is None  # no study of this model
    assert stored_best("item_knn", small_split, storage=storage, trials=3) is None  # still under way
    done = tune("item_knn", small_split, trials=3, seed=0, storage=storage)
    assert stored_best("item_knn", small_split, storage=storage, trials=3) == done["params"]
    assert len(tune("item_knn", small_split, trials=3, seed=0, storage=storage)["trials"]) == 3  # nothing added
    with pytest.raises(ParameterError, match="other settings \\(seed differ\\)"):
        stored_best("item_knn", small_split, storage=storage, trials=3, seed=1)
    with pytest.raises(ParameterError, match="unknown model 'xgboost'"):
        stored_best("xgboost", small_split, storage=storage)


def test_a_storage_that_is_not_a_study_database_is_named(small_split, tmp_path):
    storage = tmp_path / "notes.db"
    storage.write_text("these are my notes, not an optuna study\n")
    for call in (
        lambda: tune("ease", small_split, trials=1, storage=storage),
        lambda: stored_best("ease", small_split, storage=storage),
    ):
        with pytest.raises(DataError, match=f"cannot open the tuning storage {re.escape(str(storage))}: .+"):
            call()
    assert storage.read_text() == "these are my notes, not an optuna study\n"  # left as it was


def test_error_reasons_are_one_line_and_never_empty():
    assert first_line(OSError("disk I/O error\nat page 3")) == "disk I/O error"
    assert first_line(OSError("\n  locked  \n")) == "locked"
    assert first_line(OSError()) == "OSError"  # no message: the type still names it


KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from whyrec.data.splits import split
    from whyrec.data.synthetic import synthetic
    from whyrec.tuning.search import tune

    parts = split(synthetic(n_users=400, n_items=80, seed=3).dataset, seed=1, cold_start=0.1)
    seen = []

    def log(line):
        seen.append(line)
        if len(seen) == 3:  # the third trial has been fitted and scored, but not stored: kill the process
            os.kill(os.getpid(), signal.SIGKILL)

    tune("ease", parts, trials=6, seed=0, storage=sys.argv[1], log=log)
    """
)


def test_a_sigkilled_study_keeps_its_finished_trials(small_split, tmp_path):
    storage = tmp_path / "tuning.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    killed = subprocess.run([sys.executable, "-c", KILLED_RUN, str(storage)], env=env, capture_output=True, timeout=300)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    resumed = tune("ease", small_split, trials=6, seed=0, storage=storage)
    states = [t["state"] for t in resumed["trials"]]
    assert states[:2] == ["complete", "complete"] and states[2] == "running"  # the killed trial stays marked
    assert resumed["trials_run_now"] == 4 and states.count("complete") == 6
    assert resumed["search_seconds"] > 0


def test_epoch_models_report_every_epoch_and_can_be_pruned(small_split):
    tuned = tune("reconet", small_split, trials=7, seed=0)
    assert all(t["epochs_reported"] >= 1 for t in tuned["trials"])
    assert tuned["pruned"] == sum(t["state"] == "pruned" for t in tuned["trials"])
    assert all(t["state"] in ("complete", "pruned") for t in tuned["trials"])


def test_boundary_flags():
    space = {"l2": FloatRange(1.0, 1e4, log=True), "k": IntRange(1, 100), "b": Choice((64, 128, 256))}
    assert on_boundary(space, {"l2": 1.2, "k": 50, "b": 128}) == ["l2"]  # log scale: 1.2 is at the low edge
    assert on_boundary(space, {"l2": 100.0, "k": 99, "b": 256}) == ["k", "b"]
    assert on_boundary(space, {"l2": 100.0, "k": 50, "b": 128}) == []


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"l2": FloatRange(10.0, 1.0)}, "empty or inverted"),
        ({"l2": FloatRange(1.0, 1.0)}, "empty or inverted"),
        ({"l2": FloatRange(0.0, 1.0, log=True)}, "log scale"),
        ({"k": Choice(())}, "is empty"),
    ],
)
def test_bad_search_spaces(space, message):
    with pytest.raises(ParameterError, match=message):
        check_space("m", space)


def test_bad_tuning_requests(small_split, monkeypatch):
    with pytest.raises(ParameterError, match="unknown model 'xgboost'"):
        tune("xgboost", small_split)
    with pytest.raises(ParameterError, match="trials must be a positive integer"):
        tune("ease", small_split, trials=0)
    broken = Candidate(CANDIDATES["ease"].factory, {"l2": FloatRange(5.0, 1.0)}, {}, seeded=False)
    monkeypatch.setitem(CANDIDATES, "broken", broken)
    with pytest.raises(ParameterError, match=r"broken\.l2 is empty or inverted"):
        tune("broken", small_split, trials=1)


def test_diverged_trials_are_recorded_and_the_search_goes_on(small_split, monkeypatch):
    with pytest.raises(TrainingDivergedError, match="BPR diverged"):
        CANDIDATES["bpr"].factory(learning_rate=1e3, iterations=50, seed=0).fit(small_split.train)
    wide = Candidate(CANDIDATES["bpr"].factory, {"learning_rate": FloatRange(1e-3, 1e3, log=True)}, {"iterations": 50})
    monkeypatch.setitem(CANDIDATES, "bpr_wide", wide)
    lines: list[str] = []
    tuned = tune("bpr_wide", small_split, trials=8, seed=0, log=lines.append)
    states = [t["state"] for t in tuned["trials"]]
    assert tuned["failed"] == states.count("fail") >= 1 and states.count("complete") >= 1
    assert tuned["params"]["learning_rate"] < 10
    assert any("failed: BPR diverged" in line for line in lines)
    hopeless = Candidate(
        CANDIDATES["bpr"].factory, {"learning_rate": FloatRange(1e2, 1e3, log=True)}, {"iterations": 50}
    )
    monkeypatch.setitem(CANDIDATES, "bpr_hopeless", hopeless)
    with pytest.raises(TrainingDivergedError, match="no trial of bpr_hopeless finished"):
        tune("bpr_hopeless", small_split, trials=2, seed=0)


def test_tune_cli_saves_the_best_model(monkeypatch, capsys, tmp_path):
    from whyrec.models import Recommender

    def tune_cli(*args):
        data = ("--data", "synthetic:n_users=200,n_items=60,seed=4")
        return run_cli(monkeypatch, capsys, "tune", *data, *args)

    code, out, err = tune_cli(
        "--model", "ease", "--trials", "3", "--out", tmp_path / "best", "--storage", tmp_path / "t.db"
    )
    assert code == 0, err
    assert "Best of 3 trials" in out
    model = Recommender.load(tmp_path / "best")
    assert model.manifest_["info"]["tuning"]["params"]["l2"] == model.l2
    # a tuned model evaluates like a trained one: its split is saved with it
    code, out, err = run_cli(monkeypatch, capsys, "evaluate", "--model", tmp_path / "best", "--json")
    assert code == 0, err
    tested = model.manifest_["info"]["test_metrics"]["recall@50"]
    assert json.loads(out)["recall@50"] == pytest.approx(tested)
    code, _, err = tune_cli("--model", "xgboost", "--out", tmp_path / "x")
    assert code == 2 and "unknown model 'xgboost'" in err and len(err.strip().splitlines()) == 1
    code, _, err = tune_cli("--model", "ease", "--trials", "0", "--out", tmp_path / "x")
    assert code == 2 and "trials must be a positive integer" in err
    code, _, err = tune_cli("--model", "fm", "--trials", "1", "--precision", "bfloat16", "--out", tmp_path / "half")
    assert code == 0, err
    assert Recommender.load(tmp_path / "half").manifest_["info"]["tuning"]["precision"] == "bfloat16"


@pytest.fixture
def ials_small(monkeypatch):
    """iALS registered as "ials_small" with a search space small enough for 13 quick trials."""
    space = {
        "factors": IntRange(2, 8),
        "unobserved_weight": FloatRange(0.01, 1.0, log=True),
        "relative_l2": FloatRange(0.01, 10.0, log=True),
        "iterations": IntRange(1, 3),
    }
    monkeypatch.setitem(CANDIDATES, "ials_small", dataclasses.replace(CANDIDATES["ials"], space=space))
    return space


def test_multivariate_tpe_is_seeded_recorded_and_not_mixed_with_tpe(small_split, tmp_path, ials_small):
    storage = tmp_path / "tuning.db"
    plain = tune("ials_small", small_split, trials=13, seed=0, storage=storage)
    joint = tune("ials_small", small_split, trials=13, seed=0, sampler="tpe_multivariate")
    again = tune("ials_small", small_split, trials=13, seed=0, sampler="tpe_multivariate")
    drawn = [[t["params"] for t in result["trials"]] for result in (plain, joint, again)]
    assert drawn[1] == drawn[2]  # seeded
    assert drawn[0][:10] == drawn[1][:10]  # the same random start-up trials ...
    assert drawn[0][10:] != drawn[1][10:]  # ... then the joint model draws elsewhere
    with pytest.raises(ParameterError, match="other settings \\(sampler differ\\)"):
        tune("ials_small", small_split, trials=13, seed=0, storage=storage, sampler="tpe_multivariate")
    with pytest.raises(ParameterError, match="other settings \\(sampler differ\\)"):
        stored_best("ials_small", small_split, storage=storage, trials=13, sampler="tpe_multivariate")
    assert stored_best("ials_small", small_split, storage=storage, trials=13) == plain["params"]


def test_gp_sampler_is_seeded_starts_where_tpe_starts_and_then_models_the_space(small_split, ials_small):
    plain = tune("ials_small", small_split, trials=13, seed=0)
    gp = tune("ials_small", small_split, trials=13, seed=0, sampler="gp")
    again = tune("ials_small", small_split, trials=13, seed=0, sampler="gp")
    drawn = [[t["params"] for t in result["trials"]] for result in (plain, gp, again)]
    assert drawn[1] == drawn[2]  # seeded
    assert drawn[0][:10] == drawn[1][:10]  # the same random start-up trials ...
    assert drawn[0][10:] != drawn[1][10:]  # ... then the Gaussian process draws elsewhere
    assert all(ials_small[k].low <= v <= ials_small[k].high for params in drawn[1] for k, v in params.items())


def _frozen(number, value, factors, stage=None, state="COMPLETE"):
    import optuna

    dist = {
        "factors": optuna.distributions.IntDistribution(2, 8),
        "iterations": optuna.distributions.IntDistribution(1, 3),
    }
    trial = optuna.trial.create_trial(
        state=optuna.trial.TrialState[state],
        value=value if state == "COMPLETE" else None,
        params={"factors": factors, "iterations": 2},
        distributions=dist,
        user_attrs={"stage": stage} if stage else None,
    )
    trial.number = number
    return trial


def test_growth_doubles_the_best_capacity_until_a_doubling_stops_helping(ials_small):
    searched = [_frozen(0, 0.2, 2), _frozen(1, 0.3, 3), _frozen(2, 0.1, 7), _frozen(3, None, 8, state="PRUNED")]
    space = ials_small
    assert next_growth(searched, space, "factors", 4) == {"factors": 6, "iterations": 2}  # best (3) doubled
    assert next_growth(searched, space, None, 4) is None  # no capacity parameter: no growth
    assert next_growth(searched, space, "factors", 5) is None  # the first trials are not all run yet ...
    helped = [*searched, _frozen(4, 0.35, 6, "grow")]
    assert next_growth(helped, space, "factors", 4) == {"factors": 8, "iterations": 2}  # ... capped at the top
    assert next_growth([*helped, _frozen(5, 0.4, 8, "grow")], space, "factors", 4) is None  # at the top
    assert next_growth([*helped, _frozen(5, 0.35, 8, "grow")], space, "factors", 4) is None  # a tie does not help
    assert next_growth([*searched, _frozen(4, 0.5, 2)], space, "factors", 4) is None  # the sampler fills already
    with pytest.raises(ParameterError, match="capacity parameter 'lr' must be an integer range"):
        next_growth(searched, {"lr": FloatRange(0.1, 1.0)}, "lr", 4)


def test_growth_trials_follow_the_sampler_resume_and_keep_every_model_on_one_budget(small_split, tmp_path, ials_small):
    storage = tmp_path / "tuning.db"
    searched = tune("ials_small", small_split, trials=6, seed=0, storage=storage)
    grown = tune("ials_small", small_split, trials=6, seed=0, storage=storage, grow=3)
    assert grown["trials"][:6] == searched["trials"] and len(grown["trials"]) == 9 and grown["trials_run_now"] == 3
    stages = [t["stage"] for t in grown["trials"]]
    assert stages[:6] == ["search"] * 6
    best = max(searched["trials"], key=lambda t: t["validation"])
    first = grown["trials"][6]  # the first growth trial: the best so far with twice the factors (capped at 8)
    if best["params"]["factors"] < 8:
        assert first["stage"] == "grow"
        assert first["params"] == {**best["params"], "factors": min(8, 2 * best["params"]["factors"])}
    # each later trial is a doubling of the best so far while doublings help, then the sampler's
    import optuna

    study = optuna.load_study(study_name="ials_small", storage=f"sqlite:///{storage}")
    for n in range(6, 9):
        following = next_growth(study.trials[:n], ials_small, "factors", 6)
        assert stages[n] == ("grow" if following else "search")
        if following:
            assert grown["trials"][n]["params"] == following
    assert tune("ials_small", small_split, trials=6, seed=0, storage=storage, grow=3)["trials_run_now"] == 0
    assert grown["params"] == max(grown["trials"], key=lambda t: t["validation"] or -1)["params"]
    # a model without a capacity parameter gets its growth slots from the sampler: the same number of trials
    ease = tune("ease", small_split, trials=3, seed=0, grow=2)
    assert [t["stage"] for t in ease["trials"]] == ["search"] * 5
    with pytest.raises(ParameterError, match="grow must be a non-negative integer"):
        tune("ease", small_split, trials=3, grow=-1)


def test_a_study_restored_from_its_result_json_resumes_as_the_original(small_split, tmp_path, ials_small):
    original = tune("ials_small", small_split, trials=6, seed=0, storage=tmp_path / "a.db")
    records = json.loads(json.dumps(original["trials"]))  # as a result JSON keeps them
    source = {"command": "whyrec benchmark accuracy", "git_revision": "abc1234"}
    running = {**records[0], "state": "running", "validation": None}  # left by a killed run: skipped
    assert (
        restore_study(
            "ials_small",
            small_split,
            [running, *records],
            storage=tmp_path / "b.db",
            search_seconds=12.5,
            source=source,
        )
        == 6
    )
    restored = tune("ials_small", small_split, trials=6, seed=0, storage=tmp_path / "b.db")
    assert restored["trials_run_now"] == 0 and restored["trials"] == original["trials"]
    assert restored["params"] == original["params"] and restored["search_seconds"] == 12.5
    assert restored["restored"] == {**source, "trials": 6} and original["restored"] is None
    grown = [
        tune("ials_small", small_split, trials=6, seed=0, storage=tmp_path / db, grow=2) for db in ("a.db", "b.db")
    ]
    assert grown[0]["trials"][6:] != [] and [t["params"] for t in grown[0]["trials"]] == [
        t["params"] for t in grown[1]["trials"]
    ]  # the same growth (and sampler) trials follow
    pruned = {**records[0], "state": "pruned", "validation": 0.2, "epochs_reported": 3}
    restore_study("ials_small", small_split, [records[0], pruned], storage=tmp_path / "p.db")
    kept = tune("ials_small", small_split, trials=2, seed=0, storage=tmp_path / "p.db")["trials"][1]
    assert (kept["state"], kept["validation"], kept["epochs_reported"]) == ("pruned", 0.2, 1)  # its last epoch
    with pytest.raises(ParameterError, match="already holds 8 trials of 'ials_small'"):
        restore_study("ials_small", small_split, records, storage=tmp_path / "b.db")
    for broken, message in (
        ({**records[0], "params": {"factors": 3}}, "has parameters \\['factors'\\]; its space has"),
        ({**records[0], "params": {**records[0]["params"], "factors": 99}}, "factors=99 lies outside its search range"),
        (
            {**records[0], "params": {**records[0]["params"], "factors": 2.5}},
            "factors=2.5 lies outside its search range",
        ),
        ({**records[0], "params": {**records[0]["params"], "iterations": "2"}}, "iterations='2' lies outside its"),
        ({**records[0], "state": "lost"}, "has state 'lost'; one of complete, pruned, fail"),
    ):
        with pytest.raises(DataError, match=message):
            restore_study("ials_small", small_split, [broken], storage=tmp_path / "c.db")
    import optuna

    assert optuna.get_all_study_summaries(f"sqlite:///{tmp_path / 'c.db'}") == []  # no empty study left behind


def test_a_table_with_growth_trials_takes_only_rows_with_the_same(monkeypatch, capsys, tmp_path):
    stored = {"data": "d", "results": {"seeds": [0], "trials": 2, "sampler": "tpe", "models": {}}}
    rows = {"seeds": [0], "trials": 2, "sampler": "tpe", "grow": 4, "models": {}}
    with pytest.raises(ParameterError, match="grow 0 there, 4 here"):
        add_to_study(stored, rows, "d")
    assert add_to_study({**stored, "results": {**stored["results"], "grow": 4}}, rows, "d")["grow"] == 4
    row = {
        "recall@50_median": 0.4,
        "recall@50_mean": 0.4,
        "recall@50_std": 0.0,
        "recall@20_median": 0.3,
        "ndcg@50_median": 0.2,
        "fit_seconds_mean": 1.0,
        "trials": [{}] * 6,
        "boundary": ["factors"],
    }
    table = accuracy_table(
        {
            **rows,
            "ranking_by_median_recall@50": ["ials", "ease"],
            "models": {
                "ials": {**row, "params": {"factors": 1024, "iterations": 8}, "best_stage": "grow"},
                "ease": {**row, "params": {"l2": 500.0}, "boundary": [], "best_stage": "search"},
            },
        }
    )
    assert "factors=1024 (grown) (edge!), iterations=8 |" in table and "l2=500 |" in table
    assert "2 sampler trials and 4 growth trials" in table
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "tune",
        "--data",
        "synthetic:n_users=200,n_items=60,seed=4",
        "--model",
        "ease",
        "--grow",
        "-1",
        "--out",
        tmp_path / "x",
    )
    assert code == 2 and "grow must be a non-negative integer" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_refits_on_seeds_can_keep_the_validation_score_that_tuning_maximised(small_split):
    tuned = tune("ease", small_split, trials=1, seed=0)  # one trial: EASE's validation recall at its drawn l2
    params = tuned["params"]
    runs, summary = score_on_seeds("ease", params, {0: small_split}, with_validation=True)
    assert runs[0]["validation"] == pytest.approx(tuned["validation"])
    model = build("ease", params, 0, small_split.train).fit(small_split.train)
    known = small_split.train.matrix() + small_split.validation.matrix()
    assert summary["recall@50_median"] == pytest.approx(
        evaluate(model, small_split.test, exclude=known, k=50)["recall@50"]
    )
    assert "validation" not in score_on_seeds("ease", params, {0: small_split})[0][0]


def test_an_unknown_sampler_is_named(small_split, tmp_path, monkeypatch, capsys):
    for call in (
        lambda: tune("ease", small_split, trials=1, sampler="grid"),
        lambda: stored_best("ease", small_split, storage=tmp_path / "t.db", sampler="grid"),
    ):
        with pytest.raises(ParameterError, match="unknown sampler 'grid'; known samplers: tpe, tpe_multivariate, gp"):
            call()
    data = ("--data", "synthetic:n_users=200,n_items=60,seed=4", "--sampler", "grid")
    runs = (  # whyrec tune, whyrec compare and the Table 1 benchmark: one line each, nothing written
        (lambda *a: run_cli(monkeypatch, capsys, "tune", "--model", "ease", *a), tmp_path / "x"),
        (lambda *a: run_cli(monkeypatch, capsys, "compare", "--models", "ease", *a), tmp_path / "table.json"),
        (lambda *a: run_benchmark(monkeypatch, capsys, "accuracy.run", "--models", "ease", *a), tmp_path / "table"),
    )
    for run, out in runs:
        code, _, err = run(*data, "--out", out)
        assert code == 2 and "unknown sampler 'grid'" in err and len(err.strip().splitlines()) == 1
        assert not out.exists() or (out.is_dir() and not any(out.iterdir()))


def test_ials_is_searched_in_unobserved_weight_and_relative_l2(small_split):
    model = build(
        "ials", {"factors": 8, "unobserved_weight": 0.05, "relative_l2": 5.0, "iterations": 2}, 0, small_split.train
    )
    assert model.alpha == pytest.approx(20.0) and model.regularization == pytest.approx(100.0)
    plain = build("ials", {"factors": 8, "alpha": 3.0, "regularization": 1.0}, 0, small_split.train)
    assert (plain.alpha, plain.regularization) == (3.0, 1.0)  # implicit's own coordinates still work
    with pytest.raises(ParameterError, match="needs both unobserved_weight and relative_l2"):
        build("ials", {"unobserved_weight": 0.1}, 0, small_split.train)
    result = tune("ials", small_split, trials=2, seed=0)
    assert set(result["params"]) == {"factors", "unobserved_weight", "relative_l2", "iterations"}


def test_parallel_trials_share_the_cores(small_split, monkeypatch):
    seen: list[int] = []
    original = CANDIDATES["ease"]

    class Spy(original.factory):  # type: ignore[misc,name-defined]
        def fit(self, *args, **kwargs):
            seen.append(torch.get_num_threads())
            return super().fit(*args, **kwargs)

    monkeypatch.setitem(CANDIDATES, "ease", Candidate(Spy, original.space, original.fixed, seeded=False))
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    before = torch.get_num_threads()
    tune("ease", small_split, trials=4, seed=0, jobs=2)
    assert seen and set(seen) == {2}  # 4 cores, 2 trials at once: 2 threads each
    assert torch.get_num_threads() == before  # restored afterwards


def test_rows_are_added_to_a_stored_table_only_under_its_settings(tmp_path, monkeypatch, capsys):
    data = "synthetic:n_users=200,n_items=60,seed=4"
    out = tmp_path / "table"
    base = ("accuracy.run", "--data", data, "--name", "t", "--out", out, "--seeds", "2", "--trials", "2")
    code, _, err = run_benchmark(monkeypatch, capsys, *base, "--models", "popularity,item_knn")
    assert code == 0, err
    first = json.loads((out / "accuracy_t.json").read_text())
    code, _, err = run_benchmark(monkeypatch, capsys, *base, "--models", "ease", "--add")
    assert code == 0, err
    merged = json.loads((out / "accuracy_t.json").read_text())
    results = merged["results"]
    assert set(results["models"]) == {"popularity", "item_knn", "ease"}
    assert results["models"]["item_knn"] == first["results"]["models"]["item_knn"]  # kept as it was
    ranked = results["ranking_by_median_recall@50"]
    assert [results["models"][n]["recall@50_median"] for n in ranked] == sorted(
        (m["recall@50_median"] for m in results["models"].values()), reverse=True
    )
    assert "--add" in merged["command"]
    assert results["earlier_runs"] == [
        {
            "command": first["command"],
            "git_revision": first["git_revision"],
            "date": first["date"],
            "models": ["popularity", "item_knn"],
        }
    ]
    assert "| ease |" in (out / "accuracy_t.md").read_text()
    assert (out / "tuning_t_ease.html").exists()
    # a second addition, which also replaces a row: every row stays attributed to the run that made it
    code, _, err = run_benchmark(monkeypatch, capsys, *base, "--models", "user_knn,item_knn", "--add")
    assert code == 0, err
    again = json.loads((out / "accuracy_t.json").read_text())["results"]
    assert set(again["models"]) == {"popularity", "item_knn", "ease", "user_knn"}
    assert [run["models"] for run in again["earlier_runs"]] == [["popularity"], ["ease"]]
    assert again["earlier_runs"][1]["command"] == merged["command"]
    merged = json.loads((out / "accuracy_t.json").read_text())
    # another budget, seeds or data would make the comparison unfair: refused, the file untouched
    for extra, named in ((("--trials", "3"), "trials 2 there, 3 here"), (("--seeds", "1"), "seeds [0, 1] there")):
        args = [*base, "--models", "bpr", "--add"]
        args[args.index(extra[0]) + 1] = extra[1]
        code, _, err = run_benchmark(monkeypatch, capsys, *args)
        assert code == 2 and named in err and len(err.strip().splitlines()) == 1
    code, _, err = run_benchmark(monkeypatch, capsys, *base, "--add")
    assert code == 2 and "--add needs --models" in err
    code, _, err = run_benchmark(monkeypatch, capsys, *base, "--name", "none", "--models", "ease", "--add")
    assert code == 2 and "does not exist" in err
    (out / "accuracy_broken.json").write_text("{not json")
    code, _, err = run_benchmark(monkeypatch, capsys, *base, "--name", "broken", "--models", "ease", "--add")
    assert code == 2 and "is not an accuracy study's result JSON" in err and len(err.strip().splitlines()) == 1
    assert json.loads((out / "accuracy_t.json").read_text()) == merged


def test_curves_are_added_to_a_stored_coldstart_study_only_under_its_settings(tmp_path, monkeypatch, capsys):
    data = "synthetic:n_users=300,n_items=60,seed=4"
    out = tmp_path / "cold"
    base = ("coldstart.run", "--data", data, "--name", "c", "--out", out, "--tuned", tmp_path, "--seeds", "2")
    code, _, err = run_benchmark(monkeypatch, capsys, *base, "--models", "popularity,ease")
    assert code == 0, err
    first = json.loads((out / "coldstart_c.json").read_text())
    code, _, err = run_benchmark(monkeypatch, capsys, *base, "--models", "item_knn,ease", "--add")
    assert code == 0, err
    merged = json.loads((out / "coldstart_c.json").read_text())
    results = merged["results"]
    assert set(results["params"]) == {"popularity", "ease", "item_knn"}
    curves = results["new_users"]["curves"]
    assert curves["popularity"] == first["results"]["new_users"]["curves"]["popularity"]  # kept as it was
    assert set(results["per_seed"]["1"]["new_users"]) == {"popularity", "ease", "item_knn"}
    assert curves["item_knn"] == pytest.approx(
        np.mean([results["per_seed"][s]["new_users"]["item_knn"] for s in ("0", "1")], axis=0)
    )
    ratio = results["new_users"]["recall@50_over_popularity"]["item_knn"]
    assert ratio == pytest.approx(curves["item_knn"][-1] / curves["popularity"][-1])
    assert results["earlier_runs"] == [
        {
            "command": first["command"],
            "git_revision": first["git_revision"],
            "date": first["date"],
            "models": ["popularity"],
        }
    ]
    code, _, err = run_benchmark(
        monkeypatch, capsys, *[a if a != "2" else "1" for a in base], "--models", "ease", "--add"
    )
    assert code == 2 and "seeds [0, 1] there, [0] here" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_benchmark(monkeypatch, capsys, *base, "--add")
    assert code == 2 and "--add needs --models" in err
    assert json.loads((out / "coldstart_c.json").read_text()) == merged


def test_tuning_in_bfloat16_is_recorded_and_not_mixed_with_float32(small_split, tmp_path, monkeypatch):
    from whyrec.models import RecoNet

    small = Candidate(
        RecoNet, {"dim": IntRange(4, 8)}, {"epochs": 2, "batch_size": 256, "sampling": "removal"}, epochs=True
    )
    monkeypatch.setitem(CANDIDATES, "reconet_small", small)
    storage = tmp_path / "tuning.db"
    full = tune("reconet_small", small_split, trials=2, seed=0, storage=storage)
    half = tune("reconet_small", small_split, trials=2, seed=0, precision="bfloat16")
    assert (full["precision"], half["precision"]) == ("float32", "bfloat16")
    assert [t["params"] for t in full["trials"]] == [t["params"] for t in half["trials"]]  # the same draws ...
    assert [t["validation"] for t in full["trials"]] != [
        t["validation"] for t in half["trials"]
    ]  # ... trained otherwise
    with pytest.raises(ParameterError, match="precision"):  # a stored float32 study does not take bfloat16 trials
        tune("reconet_small", small_split, trials=3, seed=0, storage=storage, precision="bfloat16")
    with pytest.raises(ParameterError, match="unknown precision 'half'"):
        tune("reconet_small", small_split, trials=2, seed=0, precision="half")


def test_select_picks_the_best_validated_model_within_its_budget(small_split):
    import whyrec
    from whyrec.metrics import evaluate
    from whyrec.tuning.select import select

    assert whyrec.select is select  # the Python entry point, loaded on first use
    families = ["item_knn", "ease", "reconet_masked_fast"]
    start = time.perf_counter()
    seen: list[dict] = []
    chosen = select(small_split.dataset, budget=8, families=families, parts=small_split, on_row=seen.append)
    elapsed = time.perf_counter() - start
    assert seen == chosen.leaderboard  # each row reported as it ended, for the progress display
    rows = [r for r in chosen.leaderboard if r.get("state") == "complete"]
    assert {r["model"] for r in rows} >= set(families)  # every family had trials, priors first
    assert chosen.validation == pytest.approx(max(r["validation"] for r in rows))
    recall = evaluate(chosen.model, small_split.validation, exclude=small_split.train.matrix(), k=50)["recall@50"]
    assert recall == pytest.approx(chosen.validation)  # what was validated is what is returned
    assert elapsed < 8 * 2 + 5  # the budget, and at most one trial past it
    assert set(chosen.candidates) >= set(families)
    with pytest.raises(ParameterError, match="budget must be a positive number"):
        select(small_split.dataset, budget=0)
    with pytest.raises(ParameterError, match="unknown model"):
        select(small_split.dataset, budget=1, families=["xgboost"])
