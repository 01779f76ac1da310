"""Every attribution method behind one contract; exact Shapley; pertinence and agreement measures."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp

from whyrec.errors import ParameterError
from whyrec.evaluate.pertinence import (
    agreement,
    deletion_curve,
    insertion_curve,
    random_orders,
    token_orders,
    top1_significance,
)
from whyrec.explain import EXPLAINERS, Lime, Occlusion, explain_pairs
from whyrec.explain.bags import removal_logits
from whyrec.explain.removal import leave_one_out_bags
from whyrec.models import Popularity

CONSERVATIVE = ("lrp", "shapley", "input_x_gradient", "integrated_gradients", "deeplift")


def _pairs(model, n=8, seed=0):
    rng = np.random.default_rng(seed)
    users = rng.choice(np.unique(model.train_matrix_.nonzero()[0]), n, replace=False)
    bags = model.user_profiles(users)
    targets = model.top_k(model.score(bags), 1, model.train_matrix_[users]).items[:, 0]
    return bags, targets


def _bag(tokens, n_tokens):
    tokens = np.asarray(tokens, dtype=np.int64)
    return sp.csr_matrix((np.ones(len(tokens), np.float32), tokens, [0, len(tokens)]), shape=(1, n_tokens))


@pytest.mark.parametrize("method", sorted(set(EXPLAINERS) - {"read_out", "decomposition", "blend"}))  # not for RecoNet
def test_every_method_returns_aligned_explanations(small_model, method):
    bags, targets = _pairs(small_model, n=4)
    options = {"lime": {"n_samples": 200}, "kernel_shap": {"n_samples": 200}, "sampled_shapley": {"n_samples": 10}}
    explainer = EXPLAINERS[method](**options.get(method, {}))
    result = explainer.attribute(small_model, bags, targets)
    assert len(result) == 4 and result.method == method
    assert np.array_equal(result.relevance.indptr, bags.indptr)
    assert np.isfinite(result.relevance.data).all()
    for p in range(4):
        assert set(result[p].tokens) == set(bags[p].indices)
    assert np.allclose(result.scores, small_model.score_pairs(bags, targets), atol=1e-5)


@pytest.mark.parametrize("fixture", ["small_model", "small_paper_model", "small_by_kind_model"])
@pytest.mark.parametrize("method", CONSERVATIVE)
def test_conservative_methods_sum_to_score_minus_empty_bag(request, fixture, method):
    small_model = request.getfixturevalue(fixture)
    bags, targets = _pairs(small_model)
    result = explain_pairs(small_model, bags, targets, method=method)
    empty = removal_logits(small_model, sp.csr_matrix((len(targets), bags.shape[1]), dtype=np.float32), targets)
    totals = np.asarray(result.relevance.sum(axis=1)).ravel()
    assert np.allclose(totals, result.scores - empty, atol=1e-3 if method == "integrated_gradients" else 1e-4)


def _brute_force_shapley(model, tokens, target):
    n = len(tokens)
    cache = {}

    def value(subset):
        key = tuple(sorted(subset))
        if key not in cache:
            cache[key] = float(removal_logits(model, _bag(list(key), model.feature_space_.n_tokens), [target])[0])
        return cache[key]

    phi = np.zeros(n)
    for i in range(n):
        others = [tokens[j] for j in range(n) if j != i]
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in itertools.combinations(others, size):
                phi[i] += weight * (value((*subset, tokens[i])) - value(subset))
    return phi


@pytest.mark.parametrize("fixture", ["small_model", "small_paper_model"])
@pytest.mark.parametrize("size", [1, 2, 5, 9, 12])
def test_exact_shapley_matches_brute_force(request, fixture, size):
    small_model = request.getfixturevalue(fixture)
    bags, targets = _pairs(small_model, n=20, seed=size)
    long_enough = [p for p in range(20) if bags[p].nnz >= size]
    p = long_enough[0]
    tokens = bags[p].indices[:size]
    result = explain_pairs(small_model, _bag(tokens, bags.shape[1]), targets[p : p + 1], method="shapley")[0]
    got = dict(zip(result.tokens, result.relevance, strict=True))
    expected = _brute_force_shapley(small_model, list(tokens), targets[p])
    assert np.allclose([got[t] for t in tokens], expected, atol=1e-6)


def test_sampled_shapley_approximates_brute_force_on_a_deep_model(small_deep_model):
    bags, targets = _pairs(small_deep_model, n=10)
    tokens = bags[0].indices[:6]
    result = explain_pairs(small_deep_model, _bag(tokens, bags.shape[1]), targets[:1], method="shapley")[0]
    got = dict(zip(result.tokens, result.relevance, strict=True))
    expected = _brute_force_shapley(small_deep_model, list(tokens), targets[0])
    scale = np.abs(expected).max()
    assert np.abs(np.array([got[t] for t in tokens]) - expected).max() < 0.25 * scale


def test_fast_occlusion_equals_recomputed_bags(small_deep_model):
    bags, targets = _pairs(small_deep_model, n=5)
    fast = Occlusion().attribute(small_deep_model, bags, targets)
    lengths = np.diff(bags.indptr)
    pair_of = np.repeat(np.arange(len(targets)), lengths)
    full = removal_logits(small_deep_model, bags, targets)
    slow = full[pair_of] - removal_logits(small_deep_model, leave_one_out_bags(bags), targets[pair_of])
    assert np.allclose(fast.relevance.data, slow, atol=1e-5)


def test_methods_that_need_gradients_refuse_other_models(small_split):
    pop = Popularity().fit(small_split.train)
    bags = pop.user_profiles(np.arange(3))
    with pytest.raises(ParameterError, match="cannot explain a Popularity model"):
        explain_pairs(pop, bags, np.arange(3), method="integrated_gradients")
    result = Lime(n_samples=50).attribute(pop, bags, np.arange(3))  # model-agnostic methods still work
    assert np.allclose(result.relevance.data, 0.0, atol=1e-6)
    assert np.allclose(explain_pairs(pop, bags, np.arange(3), method="occlusion").relevance.data, 0.0)


def test_deletion_and_insertion_curves(small_model):
    bags, targets = _pairs(small_model, n=30)
    lrp = explain_pairs(small_model, bags, targets, method="lrp")
    rng = np.random.default_rng(0)
    deletion = deletion_curve(small_model, bags, targets, token_orders(lrp), max_k=10)
    random = deletion_curve(small_model, bags, targets, random_orders(bags, rng), max_k=10)
    assert deletion.deltas.shape == (30, 10)
    assert deletion.mean[0] < random.mean[0] and deletion.area < random.area
    significance = top1_significance(deletion, random)
    assert significance["p_value"] < 0.01 and significance["n"] == 30
    insertion = insertion_curve(small_model, bags, targets, token_orders(lrp), max_k=10)
    assert insertion.mean[0] > 0
    # removing everything but the last token of a bag, and inserting all tokens, are exact
    p = int(np.argmin(np.diff(bags.indptr)))
    n = bags[p].nnz
    full_insert = insertion_curve(small_model, bags[p], targets[p : p + 1], [lrp[p].tokens], max_k=n)
    empty = removal_logits(small_model, sp.csr_matrix((1, bags.shape[1]), dtype=np.float32), targets[p : p + 1])
    assert np.isclose(full_insert.deltas[0, n - 1], lrp[p].score - empty[0], atol=1e-5)
    assert np.isnan(deletion_curve(small_model, bags[p], targets[p : p + 1], [lrp[p].tokens], max_k=n).deltas[0, n - 1])
    assert np.all(np.isfinite(deletion.ci95[:3]))


def test_agreement_of_identical_and_reversed_rankings(small_model):
    bags, targets = _pairs(small_model)
    lrp = explain_pairs(small_model, bags, targets, method="lrp")
    same = agreement(lrp, explain_pairs(small_model, bags, targets, method="shapley"))
    assert same["kendall_tau"] == pytest.approx(1.0) and same["top5_overlap"] == pytest.approx(1.0)
    flipped = type(lrp)(-lrp.relevance, lrp.targets, lrp.scores, lrp.baselines, "flipped", lrp.vocabulary)
    assert agreement(lrp, flipped)["kendall_tau"] == pytest.approx(-1.0)
