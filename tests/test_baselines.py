"""Baselines behind the Recommender verbs, and the accuracy / cold-start harness."""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks.accuracy.table1 import accuracy_table
from benchmarks.coldstart.figure4 import coldstart_study

from whyrec.errors import DataError, ParameterError
from whyrec.evaluate import evaluate
from whyrec.models import load_model
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
from whyrec.tuning import compare
from whyrec.tuning.catalogue import CANDIDATES

FAST = {
    "ItemKNN": lambda: ItemKNN(neighbours=30),
    "RP3beta": lambda: RP3beta(neighbours=30),
    "UserKNN": lambda: UserKNN(neighbours=30),
    "EASE": lambda: EASE(l2=50),
    "ALS": lambda: ALS(factors=16, iterations=5),
    "BPR": lambda: BPR(factors=16, iterations=30),
    "CML": lambda: CML(dim=16, epochs=10),
    "FactorizationMachine": lambda: FactorizationMachine(dim=16, epochs=3),
    "OCuLaR": lambda: OCuLaR(factors=16, iterations=60, fold_in_iterations=30),
    "MultVAE": lambda: MultVAE(hidden=64, latent=16, epochs=10),
}


@pytest.fixture(scope="module")
def fitted(small_split):
    return {name: make().fit(small_split.train, small_split.validation) for name, make in FAST.items()}


@pytest.mark.parametrize("name", list(FAST))
def test_every_baseline_beats_chance_and_round_trips(name, fitted, small_split, tmp_path):
    model = fitted[name]
    known = small_split.train.matrix() + small_split.validation.matrix()
    recall = evaluate(model, small_split.test, exclude=known, k=20)["recall@20"]
    assert recall > 1.5 * 20 / small_split.train.n_items, f"{name} recall@20 {recall:.3f} is near chance"
    users = np.arange(5)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded.score_users(users), model.score_users(users), rtol=1e-4, atol=1e-5)
    active = np.flatnonzero(np.diff(model.train_matrix_.indptr) > 0)[:2]
    recs = loaded.recommend([model.feature_space_.user_ids[u] for u in active], k=5)
    assert recs.items.shape == (2, 5)


def test_models_that_cannot_fold_in_say_so(fitted):
    for name in ("BPR", "CML"):
        with pytest.raises(ParameterError, match="known users only"):
            fitted[name].recommend_profile(items=[fitted[name].feature_space_.item_ids[0]])


def test_als_ranks_known_users_and_new_profiles_by_one_exact_fold_in(fitted):
    model = fitted["ALS"]
    users = np.flatnonzero(np.diff(model.train_matrix_.indptr) > 0)[:8]
    assert np.array_equal(model.score(model.user_profiles(users)), model.score_users(users))
    # the fold-in is the least-squares solve with implicit's confidence c = alpha, done directly here
    Y, c = model.item_factors_.astype(np.float64), model.alpha
    items = model.train_matrix_[users[0]].indices
    A = Y.T @ Y + model.regularization * np.eye(Y.shape[1]) + (c - 1) * Y[items].T @ Y[items]
    direct = Y @ np.linalg.solve(A, c * Y[items].sum(axis=0))
    assert model.score_users(users[:1])[0] == pytest.approx(direct, rel=1e-4, abs=1e-6)


def test_ease_has_a_zero_diagonal(fitted):
    assert np.allclose(np.diag(fitted["EASE"].weights_), 0.0)


def test_attributes_change_the_rankings_of_attribute_models(fitted):
    fs = fitted["FactorizationMachine"].feature_space_
    country = fs.field("user", "country")
    first, second = ({"country": country.values[0]}, {"country": country.values[-1]})
    for name in ("FactorizationMachine", "OCuLaR"):
        a = fitted[name].recommend_profile(user_attributes=first, k=10)
        b = fitted[name].recommend_profile(user_attributes=second, k=10)
        assert list(a.items[0]) != list(b.items[0]), f"{name} ranks the same for {first} and {second}"


def test_compare_tunes_refits_and_ranks(small_data):
    results = compare(small_data.dataset, models=["popularity", "ease", "item_knn"], seeds=[0, 1], trials=3)
    assert set(results["models"]) == {"popularity", "ease", "item_knn"}
    ease = results["models"]["ease"]
    assert len(ease["trials"]) == 3 and [r["seed"] for r in ease["runs"]] == [0, 1]
    assert ease["search_seconds"] > 0 and ease["params"] == max(ease["trials"], key=lambda t: t["validation"])["params"]
    assert ease["recall@50_median"] == pytest.approx(np.median([r["recall@50"] for r in ease["runs"]]))
    assert results["ranking_by_median_recall@50"][-1] == "popularity"
    assert "| ease |" in accuracy_table(results)
    with pytest.raises(ParameterError, match="unknown model"):
        compare(small_data.dataset, models=["xgboost"])


def test_coldstart_study_compares_both_protocols_on_models_that_can(small_data):
    params = {"fm_attributes": {"dim": 16}, "reconet_attributes": {"dim": 16, "epochs": 3}}
    models = ["popularity", "fm_attributes", "ease", "reconet_attributes"]
    results = coldstart_study(small_data.dataset, models=models, params=params, seeds=(0, 1))
    new_users, attributes_only = results["new_users"]["curves"], results["attributes_only"]["curves"]
    assert results["cold_users"] > 0 and len(new_users["popularity"]) == 50
    assert set(new_users) == {
        "popularity",
        "fm_attributes",
        "ease",
        "reconet_attributes",
        "reconet_attributes+cold_recipe",
    }
    assert set(attributes_only) == set(new_users) - {"ease"}  # EASE needs history
    for curves in (new_users, attributes_only):
        assert all(np.all(np.diff(c) >= -1e-12) for c in curves.values())  # recall@k grows with k
    assert new_users["ease"][-1] > new_users["popularity"][-1]
    per_seed = [results["per_seed"][s]["new_users"]["ease"][-1] for s in ("0", "1")]
    assert new_users["ease"][-1] == pytest.approx(np.mean(per_seed))
    assert results["params"]["fm_attributes"] == {"dim": 16} and results["params"]["ease"] == {}
    assert results["params"]["reconet_attributes+cold_recipe"] == {"dim": 16, "epochs": 3, "cold_rate": 0.2}
    with pytest.raises(ParameterError, match="cannot score users it was not trained on"):
        coldstart_study(small_data.dataset, models=["bpr"])
    with pytest.raises(DataError):
        coldstart_study(small_data.dataset, models=["popularity"], fraction=0.0)


def test_popularity_still_works_through_the_registry(small_split):
    assert isinstance(CANDIDATES["popularity"].factory(), Popularity)


def _dense_similarity(model) -> np.ndarray:
    return np.asarray(model.similarity_.todense(), dtype=np.float64)


def test_item_knn_is_implicits_cosine_and_its_variants_follow_their_formulas(small_split):
    from implicit.nearest_neighbours import CosineRecommender, bm25_weight

    train = small_split.train
    n = train.n_items
    X = train.matrix().astype(np.float64)
    plain = _dense_similarity(ItemKNN(neighbours=n).fit(train))
    reference = CosineRecommender(K=n)
    reference.fit(X, show_progress=False)
    expected = np.asarray(reference.similarity.todense())
    np.fill_diagonal(expected, 0.0)  # an item is never its own reason
    np.testing.assert_allclose(plain, expected, rtol=1e-5, atol=1e-6)

    W = np.asarray(bm25_weight(X.T, 1.2, 0.75).T.todense())
    co, norms = W.T @ W, (W**2).sum(axis=0)
    formula = co / (norms[:, None] ** 0.2 * norms[None, :] ** 0.8 + 5.0)
    np.fill_diagonal(formula, 0.0)
    variant = _dense_similarity(ItemKNN(neighbours=n, alpha=0.2, shrink=5.0, weighting="bm25").fit(train))
    np.testing.assert_allclose(variant, formula, rtol=1e-5, atol=1e-6)

    pruned = ItemKNN(neighbours=7, alpha=0.2, shrink=5.0, weighting="bm25").fit(train).similarity_
    assert np.diff(pruned.indptr).max() <= 7
    for row in (0, 5, 11):  # each history item keeps its 7 strongest neighbours
        kept = np.sort(pruned[row].toarray().ravel())[::-1][:7]
        np.testing.assert_allclose(kept, np.sort(formula[row])[::-1][:7], rtol=1e-5)
    with pytest.raises(ParameterError, match="weighting must be one of"):
        ItemKNN(weighting="idf").fit(train)


def test_rp3beta_is_a_three_step_walk_penalised_by_popularity(small_split):
    train = small_split.train
    X = (train.matrix().toarray() > 0).astype(np.float64)
    user_to_item = np.divide(X, X.sum(axis=1, keepdims=True), out=np.zeros_like(X), where=X.sum(1, keepdims=True) > 0)
    item_to_user = np.divide(X.T, X.sum(axis=0)[:, None], out=np.zeros_like(X.T), where=X.sum(0)[:, None] > 0)
    popularity = X.sum(axis=0)
    walk = (item_to_user**0.7) @ (user_to_item**0.7)
    expected = walk * np.divide(1.0, popularity**0.4, out=np.zeros_like(popularity), where=popularity > 0)[None, :]
    np.fill_diagonal(expected, 0.0)
    got = _dense_similarity(RP3beta(neighbours=train.n_items, alpha=0.7, beta=0.4).fit(train))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    normalised = RP3beta(neighbours=10, alpha=0.7, beta=0.4, normalize=True).fit(train).similarity_
    sums = np.asarray(normalised.sum(axis=1)).ravel()
    np.testing.assert_allclose(sums[sums > 0], 1.0, rtol=1e-5)
    with pytest.raises(ParameterError, match="beta must be at least 0"):
        RP3beta(beta=-1).fit(train)


def test_bpr_is_cornacs_bpr_on_the_same_data(small_split):
    from cornac.models import BPR as CornacBPR

    from whyrec.models.baselines.factorization import cornac_dataset

    train = small_split.train
    ours = BPR(factors=8, learning_rate=0.05, regularization=0.01, iterations=20, seed=4).fit(train)
    data = cornac_dataset(ours.train_matrix_, 4)  # cornac's own training set of the same interactions
    reference = CornacBPR(k=8, max_iter=20, learning_rate=0.05, lambda_reg=0.01, seed=4).fit(data)
    for user in (0, 3, 7):
        np.testing.assert_allclose(ours.score_users([user])[0], reference.score(user), rtol=1e-5, atol=1e-6)
    again = BPR(factors=8, learning_rate=0.05, regularization=0.01, iterations=20, seed=4).fit(train)
    np.testing.assert_array_equal(again.score_users([0, 1]), ours.score_users([0, 1]))  # a seed repeats
