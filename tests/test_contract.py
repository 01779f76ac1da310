"""One contract, checked on every registered model (in the manner of scikit-learn's check_estimator).

Every class in ``whyrec.models.MODELS`` needs a case below: a new model fails
``test_every_registered_model_has_a_case`` until it is covered by the whole suite.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from whyrec.data.attribution_tasks import SYNTHETIC_GROUPS, SYNTHETIC_SUBSETS, synthetic_attribution
from whyrec.data.ctr import split_rows
from whyrec.data.synthetic_ctr import synthetic_ctr
from whyrec.errors import DataError, NotFittedError, ParameterError, WhyrecError
from whyrec.models import MODELS, Blend, Estimator, clone, load_model
from whyrec.models.attribution_network import AttributionNetwork, MLPClassifier
from whyrec.models.baselines import (
    ALS,
    BPR,
    CML,
    EASE,
    FactorizationMachine,
    ItemKNN,
    MultVAE,
    OCuLaR,
    Popularity,
    RP3beta,
    UserKNN,
)
from whyrec.models.ctr import CTRModel
from whyrec.models.reconet import RecoNet
from whyrec.models.training import TrainingOptions


@dataclass(frozen=True)
class Case:
    """How the suite drives one model: build it small, fit it, score it, and feed it bad input."""

    make: Callable[[], Estimator]
    data: str  # "recommender", "ctr" or "group"


CASES: dict[str, Case] = {
    "RecoNet": Case(lambda: RecoNet(dim=8, epochs=2, batch_size=256, seed=3), "recommender"),
    "Popularity": Case(Popularity, "recommender"),
    "ItemKNN": Case(lambda: ItemKNN(neighbours=20, alpha=0.3, shrink=2.0, weighting="bm25"), "recommender"),
    "RP3beta": Case(lambda: RP3beta(neighbours=20, alpha=0.8, beta=0.3, normalize=True), "recommender"),
    "UserKNN": Case(lambda: UserKNN(neighbours=20), "recommender"),
    "EASE": Case(lambda: EASE(l2=50.0), "recommender"),
    "ALS": Case(lambda: ALS(factors=8, iterations=3, seed=3), "recommender"),
    "BPR": Case(lambda: BPR(factors=8, iterations=5, seed=3), "recommender"),
    "CML": Case(lambda: CML(dim=8, epochs=2, seed=3), "recommender"),
    "FactorizationMachine": Case(lambda: FactorizationMachine(dim=8, epochs=2, seed=3), "recommender"),
    "OCuLaR": Case(lambda: OCuLaR(factors=8, iterations=10, fold_in_iterations=5, seed=3), "recommender"),
    "MultVAE": Case(lambda: MultVAE(hidden=16, latent=4, epochs=2, seed=3), "recommender"),
    "CTRModel": Case(lambda: CTRModel("deepfm", dim=4, hidden=(8,), epochs=2, seed=3), "ctr"),
    "AttributionNetwork": Case(
        lambda: AttributionNetwork(SYNTHETIC_GROUPS, SYNTHETIC_SUBSETS, hidden=(8,), epochs=2, seed=3), "group"
    ),
    "MLPClassifier": Case(lambda: MLPClassifier(SYNTHETIC_GROUPS, hidden=(8,), epochs=2, seed=3), "group"),
    "Blend": Case(
        lambda: Blend(
            [
                {"model": "ALS", "params": {"factors": 8, "iterations": 3, "seed": 3}},
                {"model": "RecoNet", "params": {"dim": 8, "epochs": 2, "batch_size": 256, "seed": 3}},
            ],
            grid=3,
        ),
        "recommender",
    ),
}
NAMES = sorted(CASES)


@pytest.fixture(scope="module")
def datasets(small_split):
    ctr = split_rows(synthetic_ctr(n_rows=1500, seed=2).frame, seed=0, min_count=1)
    return {
        "recommender": small_split,
        "ctr": ctr,
        "group": (synthetic_attribution(1500, 0), synthetic_attribution(500, 1)),
    }


def _fit(model: Estimator, data: str, datasets: dict[str, Any]) -> Estimator:
    if data == "recommender":
        parts = datasets["recommender"]
        return model.fit(parts.train, parts.validation)
    if data == "ctr":
        parts = datasets["ctr"]
        return model.fit(parts.train, parts.validation)
    train, validation = datasets["group"]
    return model.fit(train.X, train.y, validation=(validation.X, validation.y, None))


def _score(model: Estimator, data: str, datasets: dict[str, Any]) -> np.ndarray:
    if data == "recommender":
        return model.score_users(np.arange(30))
    if data == "ctr":
        return model.predict_logit(datasets["ctr"].test)
    return model.predict_proba(datasets["group"][1].X)


def _bad_inputs(model: Estimator, data: str, datasets: dict[str, Any]) -> list[Callable[[], Any]]:
    """Calls on a fitted model that must raise a whyrec error, never a numpy or torch one."""
    if data == "recommender":
        n_tokens = model.feature_space_.n_tokens
        return [
            lambda: model.score(np.ones((2, n_tokens))),  # dense, not CSR
            lambda: model.score(sp.csr_matrix((2, n_tokens + 3), dtype=np.float32)),  # wrong vocabulary
            lambda: model.score_users(np.array([10**6])),
            lambda: model.score_users(np.array([0.5])),
            lambda: model.recommend("no-such-user"),
            lambda: model.recommend(model.feature_space_.user_ids[0], k=0),
        ]
    if data == "ctr":
        return [
            lambda: model.predict_logit(np.zeros((2, 3), dtype=np.int64)),
            lambda: model.predict_logit(np.full((1, datasets["ctr"].train.n_fields), 10**7)),
            lambda: model.score(sp.csr_matrix((1, 5), dtype=np.float32)),
        ]
    X = datasets["group"][1].X
    return [lambda: model.predict_proba(X[:, :3]), lambda: model.predict_proba(None)]


@pytest.fixture(scope="module")
def fitted(datasets):
    return {name: _fit(CASES[name].make(), CASES[name].data, datasets) for name in NAMES}


def test_every_registered_model_has_a_case():
    assert set(CASES) == set(MODELS), "add a Case for every model in whyrec.models.MODELS"


@pytest.mark.parametrize("name", NAMES)
def test_params_are_the_constructor_arguments(name):
    model = CASES[name].make()
    names = [p for p in inspect.signature(type(model).__init__).parameters if p != "self"]
    assert list(model.get_params()) == names
    assert not model.is_fitted()
    with pytest.raises(ParameterError, match="has no parameter 'colour'"):
        model.set_params(colour="red")
    for name_, value in model.get_params().items():
        assert model.set_params(**{name_: value}) is model and getattr(model, name_) is value


@pytest.mark.parametrize("name", NAMES)
def test_clone_gives_an_unfitted_copy_with_equal_params(name, fitted):
    model = fitted[name]
    copy_ = clone(model)
    assert type(copy_) is type(model) and copy_ is not model
    assert repr(copy_) == repr(model)
    assert not copy_.is_fitted() and model.is_fitted()


@pytest.mark.parametrize("name", NAMES)
def test_fit_returns_self_and_keeps_the_params(name, datasets):
    model = CASES[name].make()
    before = copy.deepcopy(model.get_params())
    assert _fit(model, CASES[name].data, datasets) is model
    assert model.get_params() == before
    learned = [k for k in vars(model) if k.endswith("_") and not k.startswith("_")]
    assert learned, "fit must leave its learned state in attributes ending in _"


@pytest.mark.parametrize("name", NAMES)
def test_use_before_fit_raises_not_fitted(name, datasets, tmp_path):
    model = CASES[name].make()
    with pytest.raises(NotFittedError, match="not fitted"):
        _score(model, CASES[name].data, datasets)
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "m")


@pytest.mark.parametrize("name", NAMES)
def test_the_same_seed_gives_the_same_scores(name, fitted, datasets):
    again = _fit(clone(fitted[name]), CASES[name].data, datasets)
    np.testing.assert_array_equal(
        _score(again, CASES[name].data, datasets), _score(fitted[name], CASES[name].data, datasets)
    )


@pytest.mark.parametrize("name", NAMES)
def test_save_and_load_give_identical_scores(name, fitted, datasets, tmp_path):
    model = fitted[name]
    loaded = load_model(model.save(tmp_path / "m"))
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(_score(loaded, CASES[name].data, datasets), _score(model, CASES[name].data, datasets))
    assert loaded.manifest_["family"] == model.family and loaded.manifest_["model"] == name
    assert type(model).load(tmp_path / "m").get_params() == model.get_params()


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_raises_whyrec_errors(name, fitted, datasets):
    for call in _bad_inputs(fitted[name], CASES[name].data, datasets):
        with pytest.raises(WhyrecError):
            call()
    with pytest.raises(DataError):
        _fit_wrong_data(CASES[name].make(), CASES[name].data)


def _fit_wrong_data(model: Estimator, data: str) -> None:
    if data == "group":
        model.fit(np.zeros((4, 8), np.float32), np.zeros(3))  # one label short
    else:
        model.fit("not data")


@pytest.mark.parametrize("name", NAMES)
def test_bfloat16_training_gives_finite_float32_scores(name, datasets):
    """Every model that takes training options trains with bfloat16 passes: no op lacks a kernel."""
    model = CASES[name].make()
    if "options" not in inspect.signature(model.fit).parameters:
        pytest.skip(f"{name}.fit takes no training options")
    options = TrainingOptions(precision="bfloat16")
    data = CASES[name].data
    if data == "group":
        train, validation = datasets["group"]
        model.fit(train.X, train.y, validation=(validation.X, validation.y, None), options=options)
    else:
        parts = datasets[data]
        model.fit(parts.train, parts.validation, options=options)
    assert np.isfinite(_score(model, data, datasets)).all()
    modules = [v for v in vars(model).values() if isinstance(v, torch.nn.Module)]
    assert all(p.dtype == torch.float32 for m in modules for p in m.parameters())  # the weights stay float32


# the families whyrec explains exactly: their default method's relevances plus baseline are the score
EXACT = ["ALS", "Blend", "EASE", "ItemKNN", "RP3beta", "RecoNet"]


def _active_users(model: Any, n: int = 12) -> np.ndarray:
    return np.flatnonzero(np.diff(model.train_matrix_.indptr) > 0)[:n]


@pytest.mark.parametrize("name", EXACT)
def test_the_exact_explanation_sums_to_the_score_the_model_ranks_by(name, fitted):
    from whyrec.explain import default_method, explain

    model = fitted[name]
    fs = model.feature_space_
    users = _active_users(model)
    recs = model.recommend(list(np.asarray(fs.user_ids, dtype=object)[users]), k=5)  # what the user is shown
    for row, user in enumerate(users):
        why = explain(model, fs.user_ids[user], list(recs.item_ids[row]), method=default_method(model))
        ranked = recs.scores[row]
        assert why.scores == pytest.approx(ranked, rel=1e-5, abs=1e-6)  # the explained score is the ranked one
        summed = np.asarray(why.relevance.sum(axis=1)).ravel() + why.baselines
        assert summed == pytest.approx(ranked, rel=1e-4, abs=1e-5)  # and the reasons add up to it


@pytest.mark.parametrize("name", EXACT)
def test_one_user_and_item_get_one_score_in_python_the_cli_and_http(name, fitted, tmp_path, monkeypatch, capsys):
    import json

    from fastapi.testclient import TestClient

    from conftest import run_cli
    from whyrec.serve import create_app

    model = fitted[name]
    fs = model.feature_space_
    user = fs.user_ids[_active_users(model)[0]]
    python = model.recommend(user, k=5)
    directory = model.save(tmp_path / "model")
    code, out, err = run_cli(
        monkeypatch, capsys, "recommend", "--model", directory, "--user", user, "-k", "5", "--json"
    )
    assert code == 0, err
    cli = [(r["item_id"], r["score"]) for r in json.loads(out)["recommendations"]]
    with TestClient(create_app({"m": directory}, slow_workers=0)) as client:
        http = [
            (r["item_id"], r["score"])
            for r in client.post("/recommend", json={"user_id": user, "k": 5}).json()["items"]
        ]
        explained = client.post("/explain", json={"user_id": user, "item_id": python.item_ids[0][0]}).json()
    expected = list(zip(python.item_ids[0].tolist(), python.scores[0].tolist(), strict=True))
    for got in (cli, http):
        assert [i for i, _ in got] == [i for i, _ in expected]
        assert [s for _, s in got] == pytest.approx([s for _, s in expected], rel=1e-6)
    assert explained["score"] == pytest.approx(expected[0][1], rel=1e-6)
