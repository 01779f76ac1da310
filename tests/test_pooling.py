"""RecoNet(pooling="by_kind"): a mean per token group, and explanations that stay exact."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from test_explainers import _bag, _brute_force_shapley
from whyrec.errors import ParameterError
from whyrec.explain import explain_pairs
from whyrec.explain.bags import removal_logits
from whyrec.explain.edits import ProfileEdits
from whyrec.models import RecoNet, load_model


def _active(model):
    """Users with a training history."""
    return np.unique(model.train_matrix_.nonzero()[0])


def _mixed_tokens(model, user, n_history=5):
    """A few of the user's history-side tokens and all their attribute values."""
    bag = model.user_profiles(_active(model)[[user]])
    kinds = model.feature_space_.token_kinds[bag.indices]
    return np.concatenate([bag.indices[kinds != "user_attribute"][:n_history], bag.indices[kinds == "user_attribute"]])


def test_the_user_vector_is_the_history_mean_plus_the_attribute_mean(small_by_kind_model):
    model = small_by_kind_model
    kinds = model.feature_space_.token_kinds
    bags = model.user_profiles(_active(model)[:6])
    q = model.module_.embedding.weight.detach().numpy()
    with torch.no_grad():
        indices = torch.from_numpy(bags.indices.astype(np.int64))
        pooled = model.module_.pooled(indices, torch.from_numpy(bags.indptr[:-1].astype(np.int64))).numpy()
    for row in range(6):
        tokens = bags[row].indices
        user = kinds[tokens] == "user_attribute"
        assert user.any() and (~user).any()
        expected = q[tokens[~user]].mean(axis=0) + q[tokens[user]].mean(axis=0)
        assert np.allclose(pooled[row], expected, atol=1e-5)
    # a cold user's bag of attributes alone is their attributes' mean
    attributes_only = _bag(bags[0].indices[kinds[bags[0].indices] == "user_attribute"], bags.shape[1])
    alone = model.score_pairs(attributes_only, np.array([3]))
    with torch.no_grad():
        rows, bias = model.module_.output_layer(torch.tensor([3]))
    expected = q[attributes_only.indices].mean(axis=0) @ rows[0].numpy()
    assert np.isclose(alone[0], expected + bias.item(), atol=1e-5)


@pytest.mark.parametrize("user", [0, 7])
def test_lrp_shapley_and_occlusion_are_exact(small_by_kind_model, user):
    model = small_by_kind_model
    tokens = _mixed_tokens(model, user)
    bag = _bag(tokens, model.feature_space_.n_tokens)
    target = int(np.argmax(model.score(bag)[0]))
    full = float(removal_logits(model, bag, [target])[0])
    lrp = explain_pairs(model, bag, [target], method="lrp")[0]
    assert abs(lrp.conservation_gap) < 1e-5
    shapley = explain_pairs(model, bag, [target], method="shapley")[0]
    got = dict(zip(shapley.tokens, shapley.relevance, strict=True))
    assert np.allclose([got[t] for t in tokens], _brute_force_shapley(model, list(tokens), target), atol=1e-6)
    occlusion = explain_pairs(model, bag, [target], method="occlusion")[0]
    got = dict(zip(occlusion.tokens, occlusion.relevance, strict=True))
    for k in tokens:
        rest = _bag([t for t in tokens if t != k], bag.shape[1])
        assert np.isclose(got[k], full - removal_logits(model, rest, [target])[0], atol=1e-5)
    # LRP of the linear model: each token's relevance is its weight in its group times w · q
    weight = model.module_.output_layer(torch.tensor([target]))[0][0].detach().numpy()
    q = model.module_.embedding.weight.detach().numpy()
    user_side = model.feature_space_.token_kinds[tokens] == "user_attribute"
    size = np.where(user_side, user_side.sum(), (~user_side).sum())
    got = dict(zip(lrp.tokens, lrp.relevance, strict=True))
    assert np.allclose([got[t] for t in tokens], q[tokens] @ weight / size, atol=1e-5)


def test_profile_edits_rescore_by_kind_bags_exactly(small_by_kind_model):
    model = small_by_kind_model
    bag = model.user_profiles(_active(model)[[4]])
    edits = ProfileEdits(model, bag)
    assert not edits.fast
    removals = np.zeros((2, len(edits.tokens)), dtype=bool)
    removals[0, edits.history_positions[0]] = True
    scores = edits.removal_scores(removals)
    assert np.allclose(scores[1], model.score(bag)[0], atol=1e-5)
    assert np.allclose(scores[0], model.score(edits.removal_bags(removals[:1]))[0], atol=1e-5)


def test_by_kind_pooling_saves_loads_and_names_bad_values(tmp_path, small_split, small_by_kind_model):
    model = small_by_kind_model
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.pooling == "by_kind"
    assert np.array_equal(loaded.score_users(np.arange(20)), model.score_users(np.arange(20)))
    with pytest.raises(ParameterError, match="pooling='max'"):
        RecoNet(pooling="max", epochs=1).fit(small_split.train)
    # without attributes there is one group: the paper's mean
    plain = RecoNet(pooling="by_kind", use_attributes=False, dim=8, epochs=1, seed=0).fit(small_split.train)
    paper = RecoNet(use_attributes=False, dim=8, epochs=1, seed=0).fit(small_split.train)
    assert np.allclose(plain.score_users(np.arange(5)), paper.score_users(np.arange(5)), atol=1e-5)


def test_the_sampled_softmax_trains_by_kind_pooling(small_split):
    model = RecoNet(dim=8, epochs=1, batch_size=256, loss="sampled", negatives=50, pooling="by_kind", seed=0)
    model.fit(small_split.train)
    assert sp.issparse(model.user_profiles(np.arange(2)))
    assert model.module_.embedding.weight.grad.is_sparse
