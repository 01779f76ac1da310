"""RecoNet's attribute-aware output layer (the default): shared attribute rows, exact explanations,
persistence, and the paper's layer one argument away."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from whyrec.errors import DataError, ParameterError
from whyrec.evaluate import evaluate
from whyrec.explain import explain, explain_pairs
from whyrec.models import Popularity, RecoNet, load_model
from whyrec.models.reconet import bag_tensors


@pytest.mark.parametrize(("bags", "builds_matrix"), [(1, False), (4, False), (500, True)])
def test_head_gives_the_output_layers_logits_for_small_and_large_batches(small_model, monkeypatch, bags, builds_matrix):
    module = small_model.module_
    x = torch.randn(bags, module.output.weight.shape[1], generator=torch.Generator().manual_seed(bags))
    with torch.no_grad():
        expected = torch.nn.functional.linear(module.features(x), *module.output_layer())
        built = []
        layer = module.output_layer
        monkeypatch.setattr(module, "output_layer", lambda: built.append(1) or layer())
        logits = module.head(x)
    # a batch small next to the catalogue (here under dim = 16 bags) skips building the items' output matrix
    assert bool(built) is builds_matrix
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)


def test_an_items_output_vector_is_its_own_plus_the_mean_of_its_attributes(small_model):
    model = small_model
    module = model.module_
    attributes = model.item_attributes_.tocsr()
    assert attributes.nnz > 0 and module.attribute_rows is not None
    columns = np.unique(attributes.indices)
    rows = module.attribute_rows.detach().numpy()
    biases = module.attribute_bias.detach().numpy()
    assert np.abs(rows).max() > 1e-3  # the attribute rows learned (they start at zero)
    with torch.no_grad():
        effective, effective_bias = (t.numpy() for t in module.output_layer())
    for item in range(0, attributes.shape[0], 37):
        mine = np.searchsorted(columns, attributes[item].indices)
        expected = module.output.weight[item].detach().numpy() + rows[mine].mean(axis=0)
        assert np.allclose(effective[item], expected, atol=1e-6)
        assert np.isclose(effective_bias[item], module.output.bias[item].item() + biases[mine].mean(), atol=1e-6)
    # the batched head, the one-target path and the explainers' rows agree
    users = np.arange(12)
    bags = model.user_profiles(users)
    targets = np.arange(12) * 7 % model.feature_space_.n_items
    full = model.score(bags)[np.arange(12), targets]
    assert np.allclose(model.score_pairs(bags, targets), full, atol=1e-5)


def test_it_beats_popularity_and_keeps_lrp_exact(small_split, small_model):
    model = small_model
    known = small_split.train.matrix() + small_split.validation.matrix()
    ours = evaluate(model, small_split.test, exclude=known, k=20)["recall@20"]
    pop = evaluate(Popularity().fit(small_split.train), small_split.test, exclude=known, k=20)["recall@20"]
    assert ours > pop
    bags = model.user_profiles(np.arange(30))
    targets = np.arange(30) * 11 % model.feature_space_.n_items
    result = explain_pairs(model, bags, targets)
    assert np.allclose(result.scores, model.score_pairs(bags, targets), atol=1e-5)
    for e in result:
        assert abs(e.conservation_gap) < 1e-4


def test_save_load_round_trip(tmp_path, small_model):
    model = small_model
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.attribute_output is True
    users = np.arange(25)
    assert np.array_equal(loaded.score_users(users), model.score_users(users))
    user, item = model.feature_space_.user_ids[3], model.feature_space_.item_ids[5]
    assert np.allclose(explain(loaded, user, item)[0].relevance, explain(model, user, item)[0].relevance)


def test_the_papers_layer_is_one_argument_away(small_paper_model, small_split):
    assert RecoNet().attribute_output is True
    assert small_paper_model.attribute_output is False
    assert small_paper_model.module_.attribute_rows is None
    assert set(small_paper_model.module_.state_dict()) == {"embedding.weight", "output.weight", "output.bias"}
    # without attributes there is nothing to add: the attribute-aware layer is the paper's
    plain = RecoNet(use_attributes=False, dim=8, epochs=1, seed=0).fit(small_split.train)
    assert plain.module_.attribute_rows is None


def test_models_saved_before_the_layer_existed_load_with_the_papers_layer(tmp_path, small_paper_model):
    small_paper_model.save(tmp_path / "m")
    manifest = tmp_path / "m" / "whyrec.json"
    document = json.loads(manifest.read_text())
    del document["params"]["attribute_output"]  # as whyrec wrote it before the parameter existed
    manifest.write_text(json.dumps(document))
    loaded = load_model(tmp_path / "m")
    assert loaded.attribute_output is False
    assert np.array_equal(loaded.score_users(np.arange(10)), small_paper_model.score_users(np.arange(10)))


def test_a_bad_value_is_named(small_split):
    with pytest.raises(ParameterError, match="attribute_output='yes'"):
        RecoNet(attribute_output="yes", epochs=1).fit(small_split.train)


@pytest.mark.parametrize("sparse", [False, True])
def test_the_sampled_softmax_trains_the_attribute_rows(small_split, sparse):
    model = RecoNet(
        dim=8,
        epochs=2,
        batch_size=256,
        lr=1e-2,
        loss="sampled",
        negatives=50,
        sparse_gradients=sparse,
        seed=0,
    ).fit(small_split.train)
    rows = model.module_.attribute_rows
    assert rows.detach().abs().max() > 1e-4
    assert rows.grad is not None and rows.grad.is_sparse is sparse
    assert model.module_.output.weight.grad.is_sparse is sparse


def test_new_items_are_scored_from_their_attributes(small_data, small_model, small_paper_model):
    from whyrec.data.synthetic import CATEGORIES

    model = small_model
    names = list(model.feature_space_.field("item", "category").values)
    bags = model.user_profiles(np.arange(model.feature_space_.n_users))
    scores = model.score_new_items(bags, [{"category": name} for name in names])
    assert scores.shape == (bags.shape[0], len(names))
    # each country's planted favourite category: the new item of that category should rank high
    ranks = []
    for country in np.unique(small_data.user_country):
        favourite = CATEGORIES[int(np.argmax(small_data.country_category[country]))]
        order = np.argsort(-scores[small_data.user_country == country].mean(axis=0))
        ranks.append([names[i] for i in order].index(favourite))
    assert sum(rank == 0 for rank in ranks) >= len(ranks) // 2 + 1 and max(ranks) <= 2, ranks  # chance: 1 in 10
    # the same numbers by hand: the attribute row's dot product with the pooled profile, plus its bias
    module = model.module_
    token = model.feature_space_.encode_attributes("item", {"category": names[0]})[0]
    row = int(np.searchsorted(np.unique(model.item_attributes_.indices), token))
    with torch.no_grad():
        pooled = module.pooled(*bag_tensors(bags[:5]))
        expected = pooled @ module.attribute_rows[row] + module.attribute_bias[row]
    assert np.allclose(scores[:5, 0], expected.numpy(), atol=1e-5)
    with pytest.raises(ParameterError, match="needs a model trained with attribute_output=True"):
        small_paper_model.score_new_items(bags, [{"category": names[0]}])
    with pytest.raises(DataError, match="no attribute value seen on a training item"):
        model.score_new_items(bags, [{"category": None}])
