"""Neural Interaction Detection, GLIDER and cross-feature encoding."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from whyrec.data.ctr import ABSENT, split_rows
from whyrec.data.synthetic_ctr import synthetic_ctr
from whyrec.errors import DataError, ParameterError
from whyrec.interactions.crosses import add_crosses, crossed_split, fit_crosses
from whyrec.interactions.encoding import encode_study, planted_recovery
from whyrec.interactions.glider import GliderSettings, glider
from whyrec.interactions.nid import Interaction, higher_order, pairwise_strengths, prune_redundant, unit_importance
from whyrec.models.ctr import CTRModel


# -- NID ----------------------------------------------------------------------------------------
def test_unit_importance_is_the_product_of_absolute_later_weights():
    rng = np.random.default_rng(0)
    w2, w3, out = rng.normal(size=(1, 4, 5)), rng.normal(size=(1, 3, 4)), rng.normal(size=(1, 1, 3))
    expected = np.abs(out[0]) @ np.abs(w3[0]) @ np.abs(w2[0])
    np.testing.assert_allclose(unit_importance([w2, w3, out])[0], expected[0])


def test_pairwise_strength_follows_the_papers_formula():
    rng = np.random.default_rng(1)
    w1, z = rng.normal(size=(2, 6, 4)), rng.random((2, 6))
    got = pairwise_strengths(w1, z)
    for b in range(2):
        for j, k in combinations(range(4), 2):
            expected = sum(z[b, i] * min(abs(w1[b, i, j]), abs(w1[b, i, k])) for i in range(6))
            assert got[b, j, k] == pytest.approx(expected) and got[b, k, j] == pytest.approx(expected)
        assert np.all(np.diag(got[b]) == 0)


def test_higher_order_candidates_come_from_each_units_top_inputs():
    w1 = np.zeros((1, 3, 6))
    w1[0, 0, [0, 1, 2]] = [3.0, 2.5, 2.0]  # a unit that mixes inputs 0, 1, 2
    w1[0, 1, [3, 4]] = [1.0, 0.9]  # a weaker unit for 3, 4
    w1[0, 2, 5] = 0.1
    ranking = higher_order(w1, np.ones((1, 3)), max_order=3)[0]
    top = [r.inputs for r in ranking[:3]]
    assert top[0] == (0, 1) and (0, 1, 2) in top and (3, 4) in top
    assert all(r.inputs not in {(0, 2), (1, 2)} for r in ranking)  # subsets of a stronger triple are pruned
    for bad in (1, 0):
        with pytest.raises(ParameterError):
            higher_order(w1, np.ones((1, 3)), max_order=bad)


def test_prune_redundant_keeps_the_order_and_drops_weaker_subsets():
    ranking = [Interaction((0, 1), 5), Interaction((0, 1, 2), 4), Interaction((1, 2), 3), Interaction((3, 4), 2)]
    assert [r.inputs for r in prune_redundant(ranking)] == [(0, 1), (0, 1, 2), (3, 4)]


# -- GLIDER -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def planted():
    syn = synthetic_ctr(n_rows=4000, seed=5)
    split = split_rows(syn.frame, seed=0, min_count=1, name="synthetic-ctr")
    return syn, split


def test_glider_recovers_planted_interactions_of_the_true_logit(planted):
    syn, split = planted
    report = glider(syn.oracle(split.space), split.test, instances=60, n_jobs=1, seed=0)
    recovery = planted_recovery(report, syn.interactions)
    assert recovery["pair_auc"] >= 0.95
    assert recovery["all_higher_order_in_top10"], recovery
    assert report.timing["seconds_per_instance"] > 0 and report.settings["instances"] == 60


def test_glider_uses_a_process_pool_with_the_same_answer(planted):
    syn, split = planted
    settings = GliderSettings(samples=200, steps=100, chunk=10)
    one = glider(syn.oracle(split.space), split.test, instances=20, settings=settings, n_jobs=1, seed=3)
    two = glider(syn.oracle(split.space), split.test, instances=20, settings=settings, n_jobs=2, seed=3)
    np.testing.assert_allclose(one.pairwise, two.pairwise, rtol=1e-4, atol=1e-6)
    assert one.ranking == two.ranking


def test_glider_rejects_bad_settings(planted):
    syn, split = planted
    with pytest.raises(ParameterError, match="instances"):
        glider(syn.oracle(split.space), split.test, instances=0)
    with pytest.raises(ParameterError, match="samples"):
        glider(syn.oracle(split.space), split.test, settings=GliderSettings(samples=2))


def test_oracle_drops_the_terms_of_absent_fields(planted):
    syn, split = planted
    oracle = syn.oracle(split.space)
    tokens = np.full((1, 10), ABSENT)
    assert oracle(tokens)[0] == pytest.approx(syn.bias)


# -- crosses ------------------------------------------------------------------------------------
def test_crosses_append_fields_and_keep_original_tokens(planted):
    _, split = planted
    space = fit_crosses(split.train, [("f0", "f1"), ("f4", "f5", "f6")], min_count=3)
    crossed = add_crosses(split.test, space)
    np.testing.assert_array_equal(crossed.tokens[:, :10], split.test.tokens)
    assert crossed.fields[-2:] == ["f0*f1", "f4*f5*f6"]
    names = space.token_names[crossed.tokens[0, 10]]
    f0, f1 = (split.space.token_names[t].split("=")[1] for t in split.test.tokens[0, :2])
    assert names == f"f0*f1={f0}*{f1}"
    with pytest.raises(DataError, match="unknown"):
        fit_crosses(split.train, [("f0", "nope")])


def test_crosses_let_a_linear_model_learn_a_planted_interaction(planted):
    _, split = planted
    crossed = crossed_split(split, [("f0", "f1"), ("f2", "f3")], min_count=3)
    plain = CTRModel("lr", lr=3e-2, epochs=15, seed=0).fit(split.train, split.validation).evaluate(split.test)
    model = CTRModel("lr", lr=3e-2, epochs=15, seed=0).fit(crossed.train, crossed.validation)
    assert model.evaluate(crossed.test)["auc"] > plain["auc"] + 0.02
    # a raw row (field values only): its crosses are rebuilt from the parts, as in the encoded split
    names = split.space.token_names[split.test.tokens[0]]
    frame = pd.DataFrame({name.partition("=")[0]: [name.partition("=")[2]] for name in names})
    encoded = crossed.test.rows(slice(0, 1))
    np.testing.assert_allclose(model.predict_proba(frame), model.predict_proba(encoded), rtol=1e-6)


def test_encode_study_reports_every_model_and_seed(planted):
    _, split = planted
    result = encode_study(
        split, [("f0", "f1")], architectures=["lr", "fm"], seeds=[0, 1], params={"epochs": 3, "dim": 4}
    )
    assert set(result["models"]) == {"lr", "fm"}
    assert len(result["models"]["lr"]["runs"]["crossed"]) == 2
    assert result["cross_fields"] == {"f0*f1": 17}  # 16 value pairs + other
    with pytest.raises(ParameterError):
        encode_study(split, [], architectures=["lr"])


# -- command line -------------------------------------------------------------------------------
def test_cli_trains_detects_and_encodes(monkeypatch, capsys, tmp_path):
    model = tmp_path / "ctr"
    data = "synthetic-ctr:n_rows=3000,seed=1"
    code, out, err = run_cli(
        monkeypatch, capsys, "ctr", "train", "--data", data, "--architecture", "fm", "--out", model, "--epochs", "3"
    )
    assert code == 0, err
    assert "test AUC" in out
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "interactions",
        "detect",
        "--model",
        model,
        "--instances",
        "12",
        "--samples",
        "100",
        "--jobs",
        "2",
    )
    assert code == 0, err
    report = json.loads((model / "interactions.json").read_text())
    assert report["settings"]["instances"] == 12 and report["settings"]["n_jobs"] == 2
    assert "recovery" in report and (model / "interactions.html").exists()
    assert (model / "plotly.min.js").exists()  # served beside the page, never from a CDN
    detected = model / "interactions.json"
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "interactions",
        "encode",
        "--interactions",
        detected,
        "--top",
        "2",
        "--architectures",
        "lr",
        "--seeds",
        "0",
    )
    assert code == 0, err
    result = json.loads((model / "interactions-encode.json").read_text())
    assert list(result["models"]) == ["lr"] and len(result["interactions"]) == 2
    code, _, err = run_cli(monkeypatch, capsys, "interactions", "encode", "--interactions", tmp_path / "none.json")
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(monkeypatch, capsys, "ctr", "train", "--data", "criteo:/nowhere", "--out", tmp_path / "x")
    assert code == 2 and "not found" in err and len(err.strip().splitlines()) == 1
