"""ε-LRP: conservation, agreement with the paper's step-by-step rules, batching, planted drivers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from whyrec.data import split, synthetic
from whyrec.evaluate.ground_truth import planted_driver_recovery
from whyrec.explain import LRP, explain, explain_pairs
from whyrec.models import RecoNet


def _pairs(model, n=40, seed=0):
    rng = np.random.default_rng(seed)
    users = rng.choice(model.feature_space_.n_users, n)
    users = users[np.diff(model.user_profiles(users).indptr) > 0]
    items = rng.choice(model.feature_space_.n_items, len(users))
    return model.user_profiles(users), items


def test_linear_lrp_conserves_logit_minus_bias(small_model):
    bags, items = _pairs(small_model)
    result = explain_pairs(small_model, bags, items)
    scores = small_model.score(bags)[np.arange(len(items)), items]
    assert np.allclose(result.scores, scores, atol=1e-5)
    for e in result:
        assert abs(e.conservation_gap) < 1e-4
        assert np.isclose(e.relevance.sum(), e.score - e.baseline, atol=1e-4)


def _reference_lrp(model, bag_tokens, item, eps):
    """The paper's three steps, written literally for one pair (no closed forms)."""
    module = model.module_
    with torch.no_grad():
        q = module.embedding.weight[torch.as_tensor(bag_tokens)].double()  # tokens x d
        x = q.mean(dim=0)
        acts, layers = [x], list(module.hidden)
        for layer in layers:
            acts.append(torch.relu(layer.weight.double() @ acts[-1] + layer.bias.double()))
        w, b = module.output.weight[item].double(), module.output.bias[item].double()
        if module.attribute_rows is not None:  # the attribute-aware layer adds the mean of the item's attribute rows
            attributes = model.item_attributes_.tocsr()
            mine = torch.as_tensor(np.searchsorted(np.unique(attributes.indices), attributes[item].indices))
            w = w + module.attribute_rows[mine].double().mean(dim=0)
            b = b + module.attribute_bias[mine].double().mean()
        z_j = w @ acts[-1] + b
        relevance = acts[-1] * w / (z_j + eps * torch.sign(z_j)) * z_j  # step 1, output layer
        for layer, a_prev in zip(reversed(layers), reversed(acts[:-1]), strict=True):
            W, bias = layer.weight.double(), layer.bias.double()
            z = W @ a_prev + bias
            contrib = W * a_prev[None, :]  # z_ji
            relevance = (contrib / (z + eps * torch.sign(z))[:, None] * relevance[:, None]).sum(dim=0)
        denominator = q.sum(dim=0)  # Σ_p q_ip I_u(p)
        z_ik = q / denominator[None, :] * relevance[None, :]  # step 2
        return z_ik.sum(dim=1).numpy()  # step 3


@pytest.mark.parametrize("fixture", ["small_model", "small_paper_model", "small_deep_model"])
def test_lrp_matches_the_papers_rules(request, fixture):
    model = request.getfixturevalue(fixture)
    bags, items = _pairs(model, n=10)
    result = LRP().attribute(model, bags, items)
    for n in range(len(items)):
        tokens = bags[n].indices
        expected = _reference_lrp(model, tokens, items[n], model.lrp_epsilon)
        got = result.relevance[n].toarray().ravel()[tokens]
        assert np.allclose(got, expected, rtol=1e-3, atol=1e-5)


def test_hidden_layer_relevance_is_approximately_conserved(small_deep_model):
    bags, items = _pairs(small_deep_model)
    result = explain_pairs(small_deep_model, bags, items)
    gaps = np.array([e.conservation_gap for e in result])
    scale = np.abs(result.scores).mean()
    # the hidden biases absorb part of the relevance: documented, bounded, not zero in general
    assert np.isfinite(gaps).all() and np.abs(gaps).mean() < 2 * scale


def test_batched_equals_one_at_a_time(small_model):
    bags, items = _pairs(small_model, n=12)
    batched = explain_pairs(small_model, bags, items)
    for n in range(len(items)):
        single = explain_pairs(small_model, bags[n], items[n : n + 1])[0]
        assert np.allclose(single.relevance, batched[n].relevance, atol=1e-6)
        assert list(single.tokens) == list(batched[n].tokens)


def test_explanation_object(small_model):
    fs = small_model.feature_space_
    e = explain(small_model, fs.user_ids[0], fs.item_ids[2])[0]
    assert e.item_id == fs.item_ids[2]
    assert list(e.relevance) == sorted(e.relevance, reverse=True)
    top = e.top(3)
    assert len(top) == 3 and top[0].relevance == e.relevance[0]
    payload = e.to_dict(top=4)
    assert len(payload["reasons"]) == 4 and payload["method"] == "lrp"
    assert e.sentence().startswith(fs.item_names[2])
    negative = np.sort(e.relevance[e.relevance < 0])
    assert len(negative) >= 2, "the example needs evidence against the item"
    assert [r.relevance for r in e.bottom(2)] == pytest.approx(list(negative[:2]))


@pytest.mark.slow
def test_lrp_finds_planted_drivers_in_top3():
    """On synthetic data, >= 90% of recommended pairs with a planted driver have it in LRP's top 3."""
    data = synthetic(seed=11)
    s = split(data.dataset, seed=11)
    model = RecoNet(seed=11).fit(s.train, s.validation)
    recovery = planted_driver_recovery(model, data, np.unique(s.test.users)[:800])
    assert recovery["pairs_with_driver"] > 1000
    assert recovery["share"] >= 0.90, recovery
