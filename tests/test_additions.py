"""The "why not" search: its bounded search must pick what a search over every addition in full picks,
and its column scores and moments must be the full rows' (every family, blends included)."""

from __future__ import annotations

import numpy as np
import pytest

from whyrec.explain import additions
from whyrec.explain.additions import best_addition
from whyrec.explain.edits import ProfileEdits
from whyrec.models import ALS, EASE, Blend, ItemKNN, MultVAE, RP3beta
from whyrec.models.blend import normalised_scores

FAMILIES = ["EASE", "ItemKNN", "RP3beta", "ALS", "RecoNet", "RecoNet+Layer", "RecoNet by kind", "MultVAE", "Blend"]


@pytest.fixture(scope="module")
def models(small_split, small_model, small_by_kind_model, small_deep_model):
    train = small_split.train
    als = ALS(factors=8, iterations=3, alpha=4.0).fit(train)
    return {
        "EASE": lambda: EASE(l2=50.0).fit(train),
        "ItemKNN": lambda: ItemKNN(neighbours=20, shrink=3.0).fit(train),
        "RP3beta": lambda: RP3beta(neighbours=20, beta=0.3).fit(train),
        "ALS": lambda: als,
        "RecoNet": lambda: small_model,
        "RecoNet+Layer": lambda: small_deep_model,
        "RecoNet by kind": lambda: small_by_kind_model,
        "MultVAE": lambda: MultVAE(hidden=16, latent=8, epochs=2, seed=0).fit(train),
        "Blend": lambda: Blend.of([als, small_model, EASE(l2=50.0).fit(train)], [0.5, 0.3, 0.2]),
    }


def _edits(model, user):
    fs = model.feature_space_
    history = [fs.item_ids[i] for i in model.train_matrix_[user].indices]
    attributes = {"age": fs.field("user", "age").values[0]} if model.uses_attributes else None
    return ProfileEdits(model, model.profile(history, attributes))


def _full_search(edits, candidates, target):
    """Every addition scored on every item, the best by rank, then target score, then order."""
    scores = edits.addition_scores(candidates)
    ranks = edits.ranks(scores, target, extra_seen=candidates)
    best = int(np.lexsort((-scores[:, target], ranks))[0])
    return best, int(ranks[best])


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("columns", [256, 3])
def test_bounded_search_picks_what_the_full_search_picks(family, columns, models, monkeypatch):
    """With 256 columns the bound covers this small catalogue whole; with 3 it is loose, and the
    search must still be exact, and must still have skipped candidates it proved hopeless."""
    monkeypatch.setattr(additions, "MIN_COLUMNS", columns)
    model = models[family]()
    scored, total, possible = [], 0, 0
    original = ProfileEdits.addition_scores

    def counted(self, tokens, block=512, columns=None):
        if columns is None and self.model is model:
            scored.append(len(tokens))
        return original(self, tokens, block, columns)

    monkeypatch.setattr(ProfileEdits, "addition_scores", counted)
    for user in (3, 7, 11, 19):
        edits = _edits(model, user)
        candidates = edits.addition_candidates()
        order = edits.top(edits.removal_scores(np.zeros((1, len(edits.tokens)), bool)), 40)
        for target in order[[12, 25, 39]]:
            kept = candidates[candidates != target]
            expected = _full_search(edits, kept, int(target))
            scored.clear()
            found = best_addition(edits, kept, int(target), block=8)
            assert (found.position, found.rank) == expected
            total += sum(scored)
            possible += len(kept)
    assert total < possible / 2, "the bound ruled out too few candidates"


@pytest.mark.parametrize("family", FAMILIES)
def test_column_scores_and_moments_are_the_full_rows(family, models):
    model = models[family]()
    edits = _edits(model, 7)
    candidates = edits.addition_candidates()
    full = edits.addition_scores(candidates)
    columns = np.array([0, 5, 17, model.feature_space_.n_items - 1])
    on_columns = edits.addition_scores(candidates, columns=columns)
    np.testing.assert_allclose(on_columns, full[:, columns], rtol=1e-5, atol=1e-6)
    _, mean, spread = normalised_scores(full)
    got_mean, got_spread = edits.addition_moments(candidates)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_spread, spread, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("columns", [256, 3])
def test_rank_bounds_never_exceed_the_rank(family, columns, models, monkeypatch):
    """A bound is at most the exact rank; over the whole catalogue it is the rank."""
    monkeypatch.setattr(additions, "MIN_COLUMNS", columns)
    model = models[family]()
    edits = _edits(model, 11)
    target = int(edits.top(edits.removal_scores(np.zeros((1, len(edits.tokens)), bool)), 30)[-1])
    candidates = edits.addition_candidates()
    candidates = candidates[candidates != target]
    scores = edits.addition_scores(candidates)
    ranks = edits.ranks(scores, target, extra_seen=candidates)
    bound, score = additions.rank_bounds(edits, candidates, target)
    assert (bound <= ranks).all()
    np.testing.assert_allclose(score, scores[:, target], rtol=1e-5, atol=1e-6)
    if columns == 256:  # the small catalogue is covered whole: the bound is the rank, but for near-ties
        assert (bound == ranks).mean() > 0.99


def test_why_not_tries_sets_of_two_and_three(small_model):
    """Where no single addition brings the item in, the best set tried is named and re-scored."""
    from whyrec.explain import why_not

    fs = small_model.feature_space_
    tried = reached = 0
    for u in range(40):
        if not small_model.train_matrix_[u].nnz:
            continue
        ranked = small_model.recommend(fs.user_ids[u], k=25).item_ids[0]
        answer = why_not(small_model, fs.user_ids[u], ranked[24], n=10)
        if answer.addition["verified"]:
            assert answer.together is None
            continue
        together = answer.together
        assert together is not None and 2 <= len(together["tokens"]) <= 3
        tried += 1
        tokens = [int(np.flatnonzero(fs.token_names == t)[0]) for t in together["tokens"]]
        edits = ProfileEdits(small_model, small_model.user_profiles(np.array([u])))
        scores = small_model.score(edits.set_addition_bags([tokens]))[0].astype(np.float64)
        scores[edits.history] = -np.inf
        scores[[t for t in tokens if t < fs.n_items]] = -np.inf
        target = int(fs.item_index([ranked[24]])[0])
        assert 1 + int((scores > scores[target]).sum()) == together["new_rank"]
        assert together["verified"] == (together["new_rank"] <= 10)
        assert together["new_rank"] <= answer.addition["new_rank"]
        if together["verified"]:
            reached += 1
            assert together["words"] in answer.message
    assert tried >= 3 and reached >= 1
