"""The smallest counterfactual: on small profiles, a search over every subset through the model's
public scorer must agree with it in size, and prefer sets without evidence against the item."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from whyrec.explain import counterfactual
from whyrec.explain.edits import ProfileEdits
from whyrec.models import ALS, EASE


def _out(model, edits, removed, target, n):
    """Whether removing `removed` drops `target` out of the top n, and its margin, by the public scorer."""
    scores = model.score(edits.removal_bags(edits.mask(removed)))[0].astype(np.float64)
    others = scores.copy()
    others[edits.history] = -np.inf
    others[target] = -np.inf
    margin = scores[target] - np.sort(others)[::-1][n - 1]
    return margin < 0, margin


def _brute_force(model, edits, target, n):
    """The size of the smallest flipping set, and whether one of that size lifts no member alone."""
    items = [int(t) for t in edits.history]
    _, base = _out(model, edits, [], target, n)
    lifts = {t for t in items if _out(model, edits, [t], target, n)[1] > base}
    for size in range(1, len(items) + 1):
        flips = [s for s in itertools.combinations(items, size) if _out(model, edits, list(s), target, n)[0]]
        if flips:
            return size, any(not lifts & set(s) for s in flips), lifts
    return None, False, lifts


@pytest.mark.parametrize("family", ["RecoNet", "ALS", "EASE"])
def test_the_set_is_as_small_as_brute_force_finds(family, small_model, small_split):
    model = {
        "RecoNet": lambda: small_model,
        "ALS": lambda: ALS(factors=8, iterations=3, alpha=4.0).fit(small_split.train),
        "EASE": lambda: EASE(l2=50.0).fit(small_split.train),
    }[family]()
    fs = model.feature_space_
    n, checked = 5, 0
    for user in range(60):
        history = [fs.item_ids[i] for i in model.train_matrix_[user].indices][:8]
        if len(history) < 4:
            continue
        bag = model.profile(history)
        edits = ProfileEdits(model, bag)
        target = int(edits.top(edits.removal_scores(np.zeros((1, len(edits.tokens)), bool)), 1)[0])
        found = counterfactual(model, bag, target, n=n)
        size, clean_exists, lifts = _brute_force(model, edits, target, n)
        if size is None:
            assert not found.found
            continue
        checked += 1
        assert found.found and found.verified and found.minimum
        assert len(found.removed_tokens) == size, (user, found.removed_tokens, size)
        assert _out(model, edits, found.removed_tokens, target, n)[0]
        if lifts & set(found.removed_tokens):  # evidence against the item only where no clean set exists
            assert not clean_exists
    assert checked >= 10


def test_a_large_profile_is_searched_within_its_budget(small_model):
    fs = small_model.feature_space_
    for user in np.argsort(-np.diff(small_model.train_matrix_.indptr))[:40]:
        bag = small_model.user_profiles(np.array([user]))
        target = int(small_model.recommend(fs.user_ids[user], k=1).items[0][0])
        quick = counterfactual(small_model, bag, target, n=10, budget=0)
        if quick.found:
            break
    assert quick.found and quick.verified and not quick.minimum  # no budget: the greedy set stands
    full = counterfactual(small_model, bag, target, n=10)
    assert full.verified and len(full.removed_tokens) <= len(quick.removed_tokens)
