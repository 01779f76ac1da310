"""Blends of exactly explained models: exact reasons, one reason per shared token, weights on validation."""

from __future__ import annotations

import numpy as np
import pytest

from whyrec.errors import DataError, ParameterError
from whyrec.explain import counterfactual, explain_pairs, why_not
from whyrec.metrics import evaluate
from whyrec.models import ALS, Blend, RecoNet


@pytest.fixture(scope="module")
def members(small_split):
    als = ALS(factors=8, iterations=4, seed=1).fit(small_split.train)
    reconet = RecoNet(dim=16, epochs=4, batch_size=256, lr=1e-2, seed=0).fit(small_split.train, small_split.validation)
    return als, reconet


def _user_with_history(model, n: int = 4) -> int:
    return int(np.flatnonzero(np.diff(model.train_matrix_.indptr) >= n)[0])


def test_a_blends_reasons_are_its_members_weighted_and_merged(members):
    als, reconet = members
    blend = Blend.of([als, reconet], [0.3, 0.7])
    user = _user_with_history(blend)
    bag = blend.user_profiles(np.array([user]))
    target = int(np.argmax(blend.score(bag)[0]))
    why = explain_pairs(blend, bag, np.array([target]))[0]
    assert why.method == "blend"
    assert why.score == pytest.approx(float(blend.score(bag)[0, target]), rel=1e-5)
    assert why.relevance.sum() + why.baseline == pytest.approx(why.score, rel=1e-4, abs=1e-5)
    # a history item both members use is one reason: the sum of the members' scaled reasons
    history = bag.indices[bag.indices < blend.feature_space_.n_items]
    item = int(history[0])
    expected = 0.0
    for member, weight in ((als, 0.3), (reconet, 0.7)):
        member_bag = blend.member_bags(member, bag)
        scores = member.score(member_bag)[0]
        member_why = explain_pairs(member, member_bag, np.array([target]))[0]
        expected += weight / scores.std() * member_why.relevance_by_token(np.array([item]))[0]
    assert why.relevance_by_token(np.array([item]))[0] == pytest.approx(expected, rel=1e-4)
    # attribute tokens only RecoNet reads keep RecoNet's share alone
    assert len({r.name for r in why.top(500)}) == len(why.top(500))


def test_weights_are_chosen_on_validation_over_the_simplex(small_split):
    specs = [
        {"model": "ALS", "params": {"factors": 8, "iterations": 4, "seed": 1}},
        {"model": "EASE", "params": {"l2": 50.0}},
    ]
    blend = Blend(specs, grid=5).fit(small_split.train, small_split.validation)
    assert blend.weights_.sum() == pytest.approx(1.0) and set(np.round(blend.weights_ * 4, 6)) <= set(range(5))
    k = 50

    def recall(model):
        return evaluate(model, small_split.validation, exclude=small_split.train.matrix(), k=k)[f"recall@{k}"]

    # the grid holds each member alone, so the chosen blend is at least as good as either on validation
    alone = [Blend.of([m], [1.0]) for m in blend.members_]
    assert recall(blend) >= max(recall(m) for m in alone) - 1e-9
    with pytest.raises(DataError, match="chooses them on validation"):
        Blend(specs).fit(small_split.train)
    with pytest.raises(ParameterError, match="non-negative"):
        Blend(specs, weights=[1.0, -1.0]).fit(small_split.train)
    with pytest.raises(ParameterError, match="other than blends"):
        Blend([{"model": "Blend", "params": {}}]).fit(small_split.train)


def test_counterfactuals_and_why_not_run_on_a_blend(members):
    blend = Blend.of(list(members), [0.5, 0.5])
    fs = blend.feature_space_
    user = _user_with_history(blend, 8)
    bag = blend.user_profiles(np.array([user]))
    top = np.argsort(-np.where(bag[:, : fs.n_items].toarray()[0] > 0, -np.inf, blend.score(bag)[0]))
    found = counterfactual(blend, bag, int(top[0]), n=10)
    if found.found:  # re-scored through the blend's own scorer
        assert found.verified and found.new_rank > 10
    answer = why_not(blend, fs.user_ids[user], fs.item_ids[int(top[40])], n=10)
    assert answer.rank > 10 and (
        answer.addition is None or answer.addition["verified"] == (answer.addition["new_rank"] <= 10)
    )
