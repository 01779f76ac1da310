"""What would change a recommendation: verified counterfactuals, "why not", exact decompositions and
the field's fidelity metrics, each checked against the model's public scorer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from whyrec.data import Dataset, Profile
from whyrec.errors import EmptyProfileError, ParameterError
from whyrec.evaluate.fidelity import fidelity
from whyrec.explain import counterfactual, explain, explain_pairs, why_not
from whyrec.explain.edits import ProfileEdits
from whyrec.models import ALS, BPR, EASE, Blend, ItemKNN, MultVAE, RP3beta


def _rank(model, bag, target, seen=None):
    """Rank (1 = best) of `target` for `bag` through the public scorer, leaving out the items `seen`
    (by default the bag's own history items)."""
    scores = model.score(bag)[0].astype(np.float64)
    history = bag.indices[bag.indices < model.feature_space_.n_items] if seen is None else seen
    scores[history] = -np.inf
    return 1 + int((scores > scores[target]).sum())


def _without(model, bag, tokens):
    """The bag rebuilt the way the model builds it, without `tokens` (items and user attributes)."""
    fs = model.feature_space_
    keep = [t for t in bag.indices if t not in set(tokens)]
    items = [fs.item_ids[t] for t in keep if t < fs.n_items]
    user_tokens = [t for t in keep if fs.token_kinds[t] == "user_attribute"]
    bag_items = model.profile(items) if items else None
    n = fs.n_tokens
    user = sp.csr_matrix(
        (np.ones(len(user_tokens), np.float32), (np.zeros(len(user_tokens), int), user_tokens)), shape=(1, n)
    )
    out = bag_items + user if bag_items is not None else user
    out.data[:] = 1.0
    return sp.csr_matrix(out)


def _pairs(model, users=40, n=10):
    fs = model.feature_space_
    for u in range(users):
        if not model.train_matrix_[u].nnz:
            continue
        bag = model.user_profiles(np.array([u]))
        top = model.recommend(fs.user_ids[u], k=n)
        yield bag, int(fs.item_index([top.item_ids[0][0]])[0]), int(fs.item_index([top.item_ids[0][n - 1]])[0])


# -- counterfactual ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kinds", [("item",), ("item", "user_attribute")])
def test_every_counterfactual_set_flips_and_every_member_is_needed(small_model, kinds):
    found_any = nothing_left = 0
    for bag, first, last in _pairs(small_model):
        for target in (first, last):
            result = counterfactual(small_model, bag, target, n=10, kinds=kinds)
            assert result.rank <= 10
            if not result.found:
                assert not result.verified
                assert "no set" in result.message or "no token of those kinds" in result.message
                if "even without all" in result.message:  # said exactly: with every candidate gone it stays
                    fs = small_model.feature_space_
                    removable = [t for t in bag.indices if fs.token_kinds[t] in kinds]
                    seen = bag.indices[bag.indices < fs.n_items]
                    rank_all = _rank(small_model, _without(small_model, bag, removable), target, seen)
                    assert rank_all == result.rank_without_all <= 10
                    nothing_left += 1
                continue
            found_any += 1
            assert result.verified
            kinds_removed = set(small_model.feature_space_.token_kinds[result.removed_tokens])
            assert kinds_removed <= set(kinds)
            # removing the set, the model's own public score drops the item out of the top 10, whether the
            # removed items count as seen (the new rank reported) or come back as candidates
            seen = bag.indices[bag.indices < small_model.feature_space_.n_items]
            after = _without(small_model, bag, result.removed_tokens)
            assert _rank(small_model, after, target, seen) == result.new_rank > 10
            assert _rank(small_model, after, target) > 10
            # putting back any single member undoes the flip (1-minimal)
            for member in result.removed_tokens:
                rest = [t for t in result.removed_tokens if t != member]
                assert _rank(small_model, _without(small_model, bag, rest), target, seen) <= 10
            if result.replaced_by is not None:
                fs = small_model.feature_space_
                assert _rank(small_model, after, int(fs.item_index([result.replaced_by])[0]), seen) <= 10
    assert found_any >= 20


def test_closed_form_matches_rebuilt_bags(small_model):
    fs = small_model.feature_space_
    history = [fs.item_ids[i] for i in small_model.train_matrix_[7].indices]
    bag = small_model.profile(history, {"age": small_model.feature_space_.field("user", "age").values[0]})
    edits = ProfileEdits(small_model, bag)
    rng = np.random.default_rng(0)
    removals = rng.random((25, len(edits.tokens))) < 0.3
    removals[:, edits.attribute_positions] = False
    np.testing.assert_allclose(
        edits.removal_scores(removals), small_model.score(edits.removal_bags(removals)), rtol=1e-4, atol=1e-5
    )
    candidates = edits.addition_candidates()
    assert (candidates >= small_model.feature_space_.n_items).any()  # attribute values are candidates
    np.testing.assert_allclose(
        edits.addition_scores(candidates), small_model.score(edits.addition_bags(candidates)), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("family", ["EASE", "ItemKNN", "RP3beta", "ALS", "Blend"])
def test_closed_form_edits_of_every_family_match_rebuilt_bags(family, small_split, small_model):
    """Item-item models edit rows of their matrix, iALS updates its fold-in's system, a blend edits
    through its members: each must equal the public scorer on the rebuilt bags."""
    makers = {
        "EASE": lambda: EASE(l2=50.0).fit(small_split.train),
        "ItemKNN": lambda: ItemKNN(neighbours=20, shrink=3.0).fit(small_split.train),
        "RP3beta": lambda: RP3beta(neighbours=20, beta=0.3).fit(small_split.train),
        "ALS": lambda: ALS(factors=8, iterations=3, alpha=4.0).fit(small_split.train),
        "Blend": lambda: Blend.of([ALS(factors=8, iterations=3).fit(small_split.train), small_model], [0.7, 0.3]),
    }
    model = makers[family]()
    fs = model.feature_space_
    history = [fs.item_ids[i] for i in model.train_matrix_[7].indices]
    bag = model.profile(history, {"age": fs.field("user", "age").values[0]} if model.uses_attributes else None)
    edits = ProfileEdits(model, bag)
    removals = np.random.default_rng(0).random((25, len(edits.tokens))) < 0.3
    removals[:, edits.attribute_positions] = False
    expected = model.score(edits.removal_bags(removals))
    np.testing.assert_allclose(edits.removal_scores(removals), expected, rtol=1e-4, atol=1e-4)
    candidates = edits.addition_candidates()
    expected = model.score(edits.addition_bags(candidates))
    np.testing.assert_allclose(edits.addition_scores(candidates), expected, rtol=1e-4, atol=1e-4)


def test_generic_path_for_ease(small_split):
    model = EASE(l2=50.0).fit(small_split.train)
    checked = 0
    for bag, first, _ in _pairs(model, users=15):
        result = counterfactual(model, bag, first, n=5)
        if result.found:
            checked += 1
            assert result.verified and _rank(model, _without(model, bag, result.removed_tokens), first) > 5
            assert result.new_rank > 5
    assert checked >= 5


def test_counterfactual_explainer_behind_the_contract(small_model):
    user = small_model.feature_space_.user_ids[3]
    top = small_model.recommend(user, k=3)
    out = explain(small_model, user, top.item_ids[0], method="counterfactual")
    assert out.method == "counterfactual" and len(out.details) == 3
    for e, detail in zip(out, out.details, strict=True):
        members = set(detail["removed_tokens"])
        nonzero = {int(t) for t, r in zip(e.tokens, e.relevance, strict=True) if r != 0}
        assert nonzero <= members
        assert detail["verified"] == detail["found"]


def test_counterfactual_bad_input(small_model, small_split):
    bag = small_model.user_profiles(np.array([0]))
    target = int(
        small_model.feature_space_.item_index(
            [small_model.recommend(small_model.feature_space_.user_ids[0], k=1).item_ids[0][0]]
        )[0]
    )
    with pytest.raises(ParameterError, match="n must be positive"):
        counterfactual(small_model, bag, target, n=0)
    with pytest.raises(ParameterError, match="n=10000 is larger than the catalogue"):
        counterfactual(small_model, bag, target, n=10_000)
    with pytest.raises(ParameterError, match="kinds"):
        counterfactual(small_model, bag, target, kinds=("item_attribute",))
    with pytest.raises(EmptyProfileError):
        counterfactual(small_model, sp.csr_matrix((1, small_model.feature_space_.n_tokens), dtype=np.float32), 0)
    bpr = BPR(factors=8, iterations=2).fit(small_split.train)
    with pytest.raises(ParameterError, match="cannot re-score"):
        counterfactual(bpr, bpr.user_profiles(np.array([0])), 0)
    not_in_top = counterfactual(small_model, bag, int(small_model.score(bag)[0].argsort()[0]), n=5)
    assert not not_in_top.found and "not in the top 5" in not_in_top.message


# -- why not -----------------------------------------------------------------------------------------


def test_why_not_addition_brings_the_item_in(small_model):
    fs = small_model.feature_space_
    answered = 0
    for u in range(30):
        user = fs.user_ids[u]
        ranked = small_model.recommend(user, k=20).item_ids[0]
        for item in ranked[12:20]:
            result = why_not(small_model, user, item, n=10)
            assert not result.recommended and result.rank > 10
            assert result.nth_score >= result.score
            assert all(r.relevance <= 0 for r in result.holding_back[:1]) or not result.holding_back
            assert result.addition is not None and result.addition["words"] in result.message
            if not result.addition["verified"]:
                assert f"reaches rank {result.addition['new_rank']}" in result.message
                continue
            answered += 1
            added = result.addition
            assert added["verified"] and added["new_rank"] <= 10
            bag = small_model.user_profiles(np.array([u]))
            token = int(np.flatnonzero(fs.token_names == added["token"])[0])
            edits = ProfileEdits(small_model, bag)
            new_bag = edits.addition_bags(np.array([token]))
            scores = small_model.score(new_bag)[0].astype(np.float64)
            scores[new_bag.indices[new_bag.indices < fs.n_items]] = -np.inf
            target = int(fs.item_index([item])[0])
            assert 1 + int((scores > scores[target]).sum()) == added["new_rank"]
    assert answered >= 20


def test_why_not_can_add_an_attribute_value(small_model):
    """A cold profile (items, no attributes): the addition may be a user-attribute value."""
    fs = small_model.feature_space_
    user = next(u for u in range(fs.n_users) if small_model.train_matrix_[u].nnz >= 5)
    items = [fs.item_ids[i] for i in small_model.train_matrix_[user].indices]
    kinds = set()
    for item in small_model.recommend_profile(items, k=30).item_ids[0][11:30]:
        result = why_not(small_model, Profile(items=items), item, n=10, kinds=("user_attribute",))
        if result.addition and result.addition["verified"]:
            kinds.add(result.addition["kind"])
            assert result.addition["verified"] and result.addition["item_id"] is None
    assert kinds == {"user_attribute"}


def test_why_not_answers_and_refuses(small_model, small_split):
    fs = small_model.feature_space_
    user = fs.user_ids[0]
    first = small_model.recommend(user, k=1).item_ids[0][0]
    already = why_not(small_model, user, first, n=10)
    assert already.recommended and already.rank == 1 and "already recommended" in already.message
    seen = fs.item_ids[small_model.train_matrix_[0].indices[0]]
    with pytest.raises(ParameterError, match="already in the user's history"):
        why_not(small_model, user, seen)
    with pytest.raises(ParameterError, match="n must be positive"):
        why_not(small_model, user, first, n=0)
    with pytest.raises(EmptyProfileError):
        why_not(small_model, Profile(items=[]), first)
    bpr = BPR(factors=8, iterations=2).fit(small_split.train)
    with pytest.raises(ParameterError, match="cannot re-score"):
        why_not(bpr, user, first)


# -- exact decompositions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: EASE(l2=50.0),
        lambda: ItemKNN(neighbours=20),
        lambda: RP3beta(neighbours=20, normalize=True),
        lambda: ALS(factors=8, iterations=3),
    ],
)
def test_decomposition_sums_to_the_score(small_split, make):
    model = make().fit(small_split.train)
    users = np.arange(25)
    bags = model.user_profiles(users)
    targets = np.array([np.argsort(-model.score(bags[u])[0])[u % 7] for u in users])
    out = explain_pairs(model, bags, targets, method="decomposition")
    sums = np.asarray(out.relevance.sum(axis=1)).ravel()
    exact = model.score(bags)[np.arange(len(users)), targets]
    np.testing.assert_allclose(sums, exact, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.scores, exact, rtol=1e-4, atol=1e-5)
    assert out.method == "decomposition"


def test_multvae_gets_gradient_and_perturbation_methods(small_split):
    model = MultVAE(hidden=16, latent=8, epochs=2, seed=0).fit(small_split.train)
    user = model.feature_space_.user_ids[0]
    item = model.recommend(user, k=1).item_ids[0][0]
    for method in ("saliency", "input_x_gradient", "integrated_gradients", "occlusion"):
        e = explain(model, user, item, method=method)[0]
        assert e.relevance.size and np.isfinite(e.relevance).all() and np.abs(e.relevance).sum() > 0


# -- fidelity metrics --------------------------------------------------------------------------------


def _toy_ease():
    """Five items, one user with history {0, 1, 2}; weights set by hand (score_j = Σ_i B_ij)."""
    frame = pd.DataFrame({"user": [1, 1, 1, 2, 2], "item": [0, 1, 2, 3, 4]})
    model = EASE(l2=1.0).fit(Dataset.from_frames(frame))
    B = np.zeros((5, 5), dtype=np.float32)
    B[0, 3], B[1, 3], B[2, 3] = 3.0, 2.0, 1.0  # item 3 scores 6, its reasons 0 > 1 > 2
    B[2, 4] = 4.0  # item 4 scores 4, all from item 2
    model.weights_ = B
    return model


def test_fidelity_matches_hand_computed_values():
    model = _toy_ease()
    fs = model.feature_space_
    bag = model.user_profiles(fs.user_index([1]))
    target = int(fs.item_index([3])[0])
    explained = explain_pairs(model, bag, np.array([target]), method="decomposition")
    out = fidelity(model, bag, explained, steps=2, cutoffs=(1, 2))
    # remove the most relevant: 0 (item 3: 3 vs item 4: 4, rank 2), then 0 and 1 (1 vs 4, rank 2)
    assert out["POS@1"] == [0.0, 0.0] and out["POS@2"] == [1.0, 1.0]
    # remove the least relevant: 2 (5 vs 0, rank 1), then 2 and 1 (3 vs 0, rank 1)
    assert out["NEG@1"] == [1.0, 1.0]
    assert out["DEL"] == pytest.approx([3, 1]) and out["INS"] == pytest.approx([3, 5])  # EASE: the raw score
    assert out["DEL_relative"] == pytest.approx([3 / 6, 1 / 6])
    assert out["INS_relative"] == pytest.approx([3 / 6, 5 / 6])
    assert out["CDCG"] == pytest.approx([1 / np.log2(3)] * 2)
    assert out["DEL_auc"] == pytest.approx((3 + 1) / 2)
    # a worse explanation (the reverse order) scores worse on every metric
    reverse = explained.__class__(
        explained.relevance.multiply(-1).tocsr(),
        explained.targets,
        explained.scores,
        explained.baselines,
        explained.method,
        explained.vocabulary,
    )
    worse = fidelity(model, bag, reverse, steps=2, cutoffs=(1, 2))
    assert worse["POS@1_auc"] > out["POS@1_auc"] and worse["DEL_auc"] > out["DEL_auc"]
    assert worse["INS_auc"] < out["INS_auc"]


def test_fidelity_softmax_for_reconet(small_model):
    users = np.arange(10)
    bags = small_model.user_profiles(users)
    targets = np.array([int(np.argsort(-small_model.score(bags[u])[0])[0]) for u in users])
    lrp = explain_pairs(small_model, bags, targets, method="lrp")
    out = fidelity(small_model, bags, lrp, steps=3)
    assert out["pairs"] == 10 and len(out["DEL"]) == 3
    assert all(0.0 <= v <= 1.0 for k in ("POS@10", "NEG@10") for v in out[k])
    assert all(v > 0 for v in out["DEL"] + out["INS"])


@pytest.mark.parametrize("method", ["kernel_shap", "lime", "sampled_shapley"])
def test_sampling_methods_on_a_one_item_profile(small_split, method):
    """One token: the samplers have nothing to sample, and the exact answer is f(bag) - f(empty)."""
    model = EASE(l2=50.0).fit(small_split.train)
    bag = model.profile([model.feature_space_.item_ids[3]])
    out = explain_pairs(model, bag, np.array([5]), method=method)
    assert out.relevance.data == pytest.approx([model.score(bag)[0, 5]], rel=1e-5)
