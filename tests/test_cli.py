"""The command line, as a user runs it: outputs, saved artifacts, one-line errors, reproducibility."""

from __future__ import annotations

import inspect
import json
import sys

import numpy as np
import pytest

from conftest import run_benchmark
from conftest import run_cli as run
from whyrec.cli import main
from whyrec.metrics import evaluate
from whyrec.models import Popularity, load_model, load_split
from whyrec.runs import evaluate_model

SMALL = "synthetic:n_users=300,n_items=60,seed=2"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "model"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            sys,
            "argv",
            [
                "whyrec",
                "train",
                "--data",
                SMALL,
                "--out",
                str(out),
                "--param",
                "epochs=3",
                "--param",
                "dim=16",
                "--param",
                "sampling=removal",  # three epochs of the paper's objective beat popularity here
                "--quiet",
                "--cold-start",
                "0.1",
            ],
        )
        main()
    return out


def test_train_evaluate_recommend_explain(monkeypatch, capsys, trained):
    code, out, _ = run(monkeypatch, capsys, "evaluate", "--model", trained, "--json", "--k", "10", "--k", "50")
    assert code == 0
    metrics = json.loads(out)
    model, parts = load_model(trained), load_split(trained)
    known = parts.train.matrix() + parts.validation.matrix()
    warm = np.setdiff1d(np.unique(parts.test.users), parts.cold_users)
    direct = evaluate(model, parts.test, exclude=known, k=(10, 50), users=warm)
    assert metrics["recall@50"] == pytest.approx(direct["recall@50"]) and metrics["n_users"] == len(warm)
    assert metrics["recall@10"] == pytest.approx(direct["recall@10"]) and metrics["recall@10"] < metrics["recall@50"]
    assert metrics["cold_start"]["n_users"] == len(parts.cold_users)

    code, out, _ = run(monkeypatch, capsys, "recommend", "--model", trained, "--user", "5", "-k", "4", "--json")
    assert code == 0
    recs = json.loads(out)["recommendations"]
    assert [r["rank"] for r in recs] == [1, 2, 3, 4]

    item = recs[0]["item_id"]
    code, out, _ = run(
        monkeypatch, capsys, "explain", "--model", trained, "--user", "5", "--item", item, "--top", "3", "--json"
    )
    assert code == 0
    explanation = json.loads(out)
    assert len(explanation["reasons"]) == 3 and explanation["item_id"] == item

    code, out, _ = run(monkeypatch, capsys, "explain", "--model", trained, "--user", "5", "--item", item)
    assert code == 0 and "is recommended" in out and " because " in out and "item:" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["recommend", "--user", "99999"], "unknown user '99999'"),
        (["recommend", "--user", "5", "-k", "0"], "k must be positive"),
        (["recommend", "--user", "5", "-k", "100000"], "larger than the catalogue"),
        (["explain", "--user", "5", "--item", "nope"], "unknown item 'nope'"),
        (
            ["explain", "--user", "5", "--item", "1", "--method", "magic"],
            "'magic' is not one of 'blend', 'counterfactual'",
        ),
        (["explain", "--user", "5", "--item", "1", "--top", "0"], "--top must be positive"),
    ],
)
def test_bad_requests_give_one_line_errors(monkeypatch, capsys, trained, args, message):
    code, _, err = run(monkeypatch, capsys, args[0], "--model", trained, *args[1:])
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_model_and_data(monkeypatch, capsys, tmp_path):
    code, _, err = run(monkeypatch, capsys, "evaluate", "--model", tmp_path / "nothing")
    assert code == 2 and "model directory not found" in err
    code, _, err = run(monkeypatch, capsys, "train", "--data", "movielens:" + str(tmp_path), "--out", tmp_path / "m")
    assert code == 2 and "neither MovieLens" in err
    code, _, err = run(monkeypatch, capsys, "train", "--data", "mongo:x", "--out", tmp_path / "m")
    assert code == 2 and "unknown data spec" in err
    code, _, err = run(
        monkeypatch, capsys, "train", "--data", SMALL, "--out", tmp_path / "m", "--param", "dim=0", "--quiet"
    )
    assert code == 2 and "dim=0" in err
    assert not (tmp_path / "m").exists()  # nothing half-written


def test_the_output_layer_is_attribute_aware_by_default_and_the_papers_is_one_parameter_away(
    monkeypatch, capsys, tmp_path
):
    args = ("train", "--data", SMALL, "--param", "epochs=2", "--param", "dim=8", "--quiet")
    for flag, name, aware in ((), "default", True), (("--param", "attribute_output=false"), "paper", False):
        code, _, err = run(monkeypatch, capsys, *args, *flag, "--out", tmp_path / name)
        assert code == 0, err
        model = load_model(tmp_path / name)
        assert model.attribute_output is aware and (model.module_.attribute_rows is not None) is aware
    code, _, err = run(monkeypatch, capsys, *args, "--param", "pooling=by_kind", "--out", tmp_path / "kind")
    assert code == 0, err
    assert load_model(tmp_path / "kind").pooling == "by_kind"
    code, _, err = run(monkeypatch, capsys, *args, "--param", "pooling=max", "--out", tmp_path / "bad")
    assert code == 2 and "pooling='max'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_masked_sampling_is_a_training_option_saved_with_the_run(monkeypatch, capsys, tmp_path):
    args = ("train", "--data", SMALL, "--param", "epochs=2", "--param", "dim=8", "--quiet", "--param", "batch_size=32")
    code, _, err = run(
        monkeypatch, capsys, *args, "--param", "sampling=masked", "--param", "mask_rate=0.3", "--out", tmp_path / "m"
    )
    assert code == 0, err
    model = load_model(tmp_path / "m")
    assert (model.sampling, model.mask_rate) == ("masked", 0.3)
    code, _, err = run(monkeypatch, capsys, "train", "--config", tmp_path / "m", "--quiet", "--out", tmp_path / "again")
    assert code == 0, err
    assert np.array_equal(load_model(tmp_path / "again").score_users(np.arange(5)), model.score_users(np.arange(5)))
    code, _, err = run(monkeypatch, capsys, *args, "--param", "mask_rate=1.5", "--out", tmp_path / "bad")
    assert code == 2 and "mask_rate=1.5" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_usage_errors_exit_nonzero(monkeypatch, capsys):
    code, _, err = run(monkeypatch, capsys, "recommend")
    assert code == 2 and "Missing option" in err


def test_saved_config_reproduces_the_run(monkeypatch, capsys, trained, tmp_path):
    code, _, _ = run(
        monkeypatch, capsys, "train", "--config", trained / "whyrec.json", "--out", tmp_path / "again", "--quiet"
    )
    assert code == 0
    first, second = load_model(trained), load_model(tmp_path / "again")
    assert first.get_params() == second.get_params()
    assert first.manifest_["info"]["test_metrics"] == second.manifest_["info"]["test_metrics"]
    popularity = evaluate_model(Popularity().fit(load_split(trained).train), load_split(trained))
    assert first.manifest_["info"]["test_metrics"]["recall@50"] > popularity["recall@50"]
    users = np.arange(25)
    assert np.array_equal(first.score_users(users), second.score_users(users))


def test_the_training_precision_is_saved_and_repeated_from_the_config(monkeypatch, capsys, tmp_path):
    args = ("train", "--data", SMALL, "--param", "epochs=2", "--param", "dim=8", "--quiet")
    code, _, err = run(monkeypatch, capsys, *args, "--precision", "bfloat16", "--out", tmp_path / "half")
    assert code == 0, err
    first = load_model(tmp_path / "half")
    assert first.manifest_["info"]["run"]["precision"] == "bfloat16"
    code, _, err = run(
        monkeypatch, capsys, "train", "--config", tmp_path / "half", "--out", tmp_path / "again", "--quiet"
    )
    assert code == 0, err
    users = np.arange(25)
    assert np.array_equal(first.score_users(users), load_model(tmp_path / "again").score_users(users))
    code, _, err = run(monkeypatch, capsys, *args, "--out", tmp_path / "full")
    assert code == 0, err
    assert load_model(tmp_path / "full").manifest_["info"]["run"]["precision"] == "float32"
    assert not np.array_equal(first.score_users(users), load_model(tmp_path / "full").score_users(users))


@pytest.mark.parametrize("method", ["shapley", "occlusion", "integrated_gradients", "lime"])
def test_explain_accepts_every_method(monkeypatch, capsys, trained, method):
    code, out, err = run(
        monkeypatch, capsys, "explain", "--model", trained, "--user", "5", "--item", "3", "--method", method, "--json"
    )
    assert code == 0, err
    assert json.loads(out)["method"] == method


def test_explain_counterfactual_and_why_not(monkeypatch, capsys, trained):
    from whyrec.explain import counterfactual, why_not

    model = load_model(trained)
    fs = model.feature_space_
    user = next(fs.user_ids[u] for u in range(fs.n_users) if model.train_matrix_[u].nnz >= 5)
    ranked = model.recommend(user, k=30).item_ids[0]
    args = ("explain", "--model", trained, "--user", user, "--item", ranked[0], "--counterfactual", "--n", "5")
    code, out, err = run(monkeypatch, capsys, *args, "--json")
    assert code == 0, err
    found = json.loads(out)["counterfactual"]
    expected = counterfactual(
        model, model.user_profiles(fs.user_index([user])), int(fs.item_index([ranked[0]])[0]), n=5
    )
    assert found["removed"] == expected.removed and found["verified"] == expected.verified
    code, out, err = run(monkeypatch, capsys, *args)
    assert code == 0 and "What would change it:" in out
    if expected.found:
        assert f"drop from rank {expected.rank} to {expected.new_rank}" in " ".join(out.split())

    code, out, err = run(
        monkeypatch, capsys, "explain", "--model", trained, "--user", user, "--why-not", ranked[25], "--json"
    )
    assert code == 0, err
    answer = json.loads(out)
    direct = why_not(model, user, ranked[25], top=10)
    assert answer["rank"] == direct.rank and answer["addition"] == direct.addition
    assert [r["name"] for r in answer["holding_back"]] == [r.name for r in direct.holding_back]
    assert answer["rank"] > 10 and answer["gap"] >= 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--item", "3", "--why-not", "4"], "exactly one of --item"),
        ([], "exactly one of --item"),
        (["--item", "3", "--counterfactual", "--n", "0"], "n must be positive"),
        (["--item", "3", "--counterfactual", "--n", "100000"], "larger than the catalogue"),
        (["--why-not", "3", "--counterfactual"], "--counterfactual speaks about"),
        (["--item", "3", "--counterfactual", "--kinds", "colour"], "kinds are item, user_attribute"),
    ],
)
def test_explain_counterfactual_bad_input(monkeypatch, capsys, trained, args, message):
    code, _, err = run(monkeypatch, capsys, "explain", "--model", trained, "--user", "5", *args)
    assert code != 0 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_explain_why_not_seen_item_is_an_error(monkeypatch, capsys, trained):
    model = load_model(trained)
    fs = model.feature_space_
    u = next(u for u in range(fs.n_users) if model.train_matrix_[u].nnz)
    seen = fs.item_ids[model.train_matrix_[u].indices[0]]
    code, _, err = run(monkeypatch, capsys, "explain", "--model", trained, "--user", fs.user_ids[u], "--why-not", seen)
    assert code != 0 and "already in the user's history" in err


def test_the_explanation_benchmark_writes_json_and_html(monkeypatch, capsys, tmp_path):
    # the accuracy study's tuned values are in its search spaces' terms (iALS: Rendle et al.'s)
    tuned = {"ials": {"factors": 12, "unobserved_weight": 0.1, "relative_l2": 1.0, "iterations": 3}}
    document = {"results": {"models": {name: {"params": params} for name, params in tuned.items()}}}
    (tmp_path / "accuracy_tiny.json").write_text(json.dumps(document))
    code, _, err = run_benchmark(
        monkeypatch,
        capsys,
        "explanations.run",
        "--data",
        SMALL,
        "--out",
        tmp_path,
        "--tuned",
        tmp_path,
        "--pairs",
        "6",
        "--speed-pairs",
        "50",
        "--name",
        "tiny",
    )
    assert code == 0, err
    results = json.loads((tmp_path / "explanations_tiny.json").read_text())["results"]
    assert set(results["methods"]) >= {"lrp", "shapley", "lime", "deeplift"}
    assert "planted_driver_top3" in results["methods"]["lrp"]
    fidelity = results["fidelity"]
    assert set(fidelity) == {"RecoNet", "EASE", "ALS", "MultVAE"}
    assert fidelity["ALS"]["params_from"] == "accuracy_tiny.json" and fidelity["ALS"]["params"]["factors"] == 12
    assert fidelity["ALS"]["params"]["alpha"] == pytest.approx(10.0)  # 1 / unobserved_weight
    assert fidelity["EASE"]["params_from"] == "defaults"
    assert {"lrp", "shapley", "lime"} <= set(fidelity["RecoNet"]["methods"])
    assert "decomposition" in fidelity["EASE"]["methods"] and "saliency" in fidelity["MultVAE"]["methods"]
    for entry in fidelity.values():
        for scores in entry["methods"].values():
            assert scores["pairs"] == 6 and 0 <= scores["POS@5_auc"] <= 1 and len(scores["DEL"]) == 5
    for found in results["counterfactual"].values():
        assert found["recommendations"] == 60 and 0 <= found["validity"] <= found["found_share"] <= 1
        assert found["verified_share_of_found"] in (None, 1.0)
    page = (tmp_path / "explanations_tiny.html").read_text()
    assert "plotly.min.js" in page and "cdn" not in page.lower()
    assert "plotly.js v" in (tmp_path / "plotly.min.js").read_text()[:500]  # the package's own copy
    code, _, err = run_benchmark(monkeypatch, capsys, "explanations.run", "--data", SMALL, "--pairs", "1")
    assert code == 2 and "--pairs must be at least 2" in err


def test_help_and_argument_errors_do_not_import_torch():
    import subprocess

    for args in (["--help"], ["train", "--help"], ["train", "--no-such-option"]):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "whyrec", *args], capture_output=True, text=True, check=False
        )
        imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
        assert "whyrec.cli" in imported, done.stderr[-500:]  # the command line itself did load
        assert not {m for m in imported if m.split(".")[0] in ("torch", "pandas", "plotly", "sklearn")}, args
    assert (
        "dim=(auto)"
        in subprocess.run(
            [sys.executable, "-m", "whyrec", "train", "--help"], capture_output=True, text=True, check=True
        ).stdout
    )  # the model's own parameters, with their defaults


def test_model_parameters_come_from_its_signature(monkeypatch, capsys, tmp_path):
    from whyrec.cli._params import parameters
    from whyrec.models import RecoNet

    documented = parameters("reconet")
    assert list(documented) == [p for p in inspect.signature(RecoNet).parameters]
    assert documented["dim"].default == "None" and documented["dim"].summary.startswith("Embedding size")
    assert all(p.summary for p in documented.values())  # every parameter is documented
    (tmp_path / "model.toml").write_text('dim = 8\nhidden = [4]\nsampling = "masked"\n')
    code, _, err = run(
        monkeypatch,
        capsys,
        "train",
        "--data",
        SMALL,
        "--params",
        tmp_path / "model.toml",
        "-p",
        "epochs=2",
        "-p",
        "batch_size=32",
        "--quiet",
        "--out",
        tmp_path / "m",
    )
    assert code == 0, err
    model = load_model(tmp_path / "m")
    assert (model.dim, tuple(model.hidden), model.sampling, model.epochs) == (8, (4,), "masked", 2)
    for args, message in (
        (("-p", "size=3"), "RecoNet has no parameter 'size'; it takes: dim, hidden"),
        (("-p", "dim"), "--param takes NAME=VALUE"),
        (("-p", "seed=3"), "seed is set by --seed"),
        (("--params", tmp_path / "nowhere.toml"), "cannot read --params"),
    ):
        code, _, err = run(monkeypatch, capsys, "train", "--data", SMALL, *args, "--out", tmp_path / "bad")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    (tmp_path / "broken.toml").write_text("dim = = 3\n")
    code, _, err = run(monkeypatch, capsys, "train", "--params", tmp_path / "broken.toml", "--out", tmp_path / "bad")
    assert code == 2 and "is not a TOML file of parameters" in err
    assert not (tmp_path / "bad").exists()


def test_every_shipped_method_is_a_cli_choice():
    from whyrec.choices import METHODS
    from whyrec.explain import EXPLAINERS

    assert sorted(EXPLAINERS) == sorted(METHODS)


def test_compare_ranks_models_under_one_budget(monkeypatch, capsys, tmp_path):
    code, out, err = run(
        monkeypatch,
        capsys,
        "compare",
        "--data",
        SMALL,
        "--models",
        "popularity,ease",
        "--trials",
        "2",
        "--seeds",
        "1",
        "--out",
        tmp_path / "board.json",
    )
    assert code == 0, err
    board = json.loads((tmp_path / "board.json").read_text())
    assert board["ranking_by_median_recall@50"] == ["ease", "popularity"] and board["data"] == SMALL
    assert len(board["models"]["ease"]["trials"]) == 2 and "ease" in out
    code, out, _ = run(monkeypatch, capsys, "compare", "--list")
    assert code == 0 and "ials" in out and "reconet_masked_fast" in out
