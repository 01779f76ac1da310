"""RecoNet: training, determinism, recommend verbs, cold start, save/load and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from whyrec.errors import EmptyProfileError, ModelFormatError, NotFittedError, ParameterError, UnknownIdError
from whyrec.evaluate import evaluate
from whyrec.explain import explain
from whyrec.models import Popularity, RecoNet, load_model, load_split
from whyrec.models.reconet import OBJECTIVE_DEFAULTS


def test_reconet_beats_popularity(small_split, small_model):
    known = small_split.train.matrix() + small_split.validation.matrix()
    ours = evaluate(small_model, small_split.test, exclude=known, k=20)["recall@20"]
    pop = evaluate(Popularity().fit(small_split.train), small_split.test, exclude=known, k=20)["recall@20"]
    assert ours > pop
    assert small_model.best_epoch_ >= 1 and len(small_model.history_) >= small_model.best_epoch_


def test_the_default_is_the_fast_objective_and_the_papers_is_one_argument_away(small_split):
    known = small_split.train.matrix() + small_split.validation.matrix()
    pop = evaluate(Popularity().fit(small_split.train), small_split.test, exclude=known, k=20)["recall@20"]
    default = RecoNet(seed=0)
    assert default.sampling == "masked" and default.setting("batch_size") == OBJECTIVE_DEFAULTS["masked"]["batch_size"]
    fitted = default.fit(small_split.train, small_split.validation)
    assert evaluate(fitted, small_split.test, exclude=known, k=20)["recall@20"] > pop
    paper = RecoNet(sampling="removal")
    assert {k: paper.setting(k) for k in OBJECTIVE_DEFAULTS["removal"]} == OBJECTIVE_DEFAULTS["removal"]
    assert RecoNet(sampling="removal", lr=0.1).setting("lr") == 0.1  # a value given is a value kept


def test_weight_decay_defaults_by_objective_and_reaches_adam(small_split):
    assert RecoNet().decay == OBJECTIVE_DEFAULTS["masked"]["weight_decay"] > 0
    assert RecoNet(sampling="removal").decay == 0.0 and RecoNet(weight_decay=1e-4).decay == 1e-4
    assert RecoNet(loss="sampled").decay == 0.0  # sparse gradients take none; asked for, it is refused
    assert RecoNet(loss="sampled", sparse_gradients=False).decay == OBJECTIVE_DEFAULTS["masked"]["weight_decay"]
    from whyrec.models.reconet_training import RecoNetTrainer
    from whyrec.models.training import TrainingOptions

    model = RecoNet(dim=4, epochs=1, seed=0)
    model._remember(small_split.train, True)
    trainer = RecoNetTrainer(model, TrainingOptions())
    assert trainer.optimizers[0].param_groups[0]["weight_decay"] == OBJECTIVE_DEFAULTS["masked"]["weight_decay"]


def test_training_is_deterministic(small_split):
    users = np.arange(20)
    a = RecoNet(dim=8, epochs=2, batch_size=256, seed=4).fit(small_split.train, small_split.validation)
    b = RecoNet(dim=8, epochs=2, batch_size=256, seed=4).fit(small_split.train, small_split.validation)
    assert np.array_equal(a.score_users(users), b.score_users(users))


def test_hidden_layer_variant_beats_popularity(small_split, small_deep_model):
    known = small_split.train.matrix() + small_split.validation.matrix()
    deep = evaluate(small_deep_model, small_split.test, exclude=known, k=20)["recall@20"]
    pop = evaluate(Popularity().fit(small_split.train), small_split.test, exclude=known, k=20)["recall@20"]
    assert len(small_deep_model.module_.hidden) == 1 and deep > pop


def test_recommend_excludes_seen_and_orders_scores(small_model):
    fs = small_model.feature_space_
    users = [fs.user_ids[0], fs.user_ids[1]]
    recs = small_model.recommend(users, k=10)
    assert recs.item_ids.shape == (2, 10)
    assert (np.diff(recs.scores, axis=1) <= 0).all()
    for row, u in enumerate(fs.user_index(users)):
        assert not set(recs.items[row]) & set(small_model.train_matrix_[u].indices)
    seen = set(small_model.train_matrix_[fs.user_index(users[0])[0]].indices)
    with_seen = small_model.recommend(users[0], k=20, exclude_seen=False)
    assert set(with_seen.items[0]) & seen, "a user's own items come back when they are not excluded"
    scores = small_model.score_users(fs.user_index(users[0]))[0]
    assert list(with_seen.items[0]) == list(np.argsort(-scores, kind="stable")[:20])


def test_cold_start_profile_needs_no_retraining(small_model, small_split):
    fs = small_model.feature_space_
    liked = [fs.item_ids[i] for i in small_split.dataset.items[:3]]
    recs = small_model.recommend_profile(items=liked, user_attributes={"country": "FR", "device": "mobile"}, k=5)
    assert recs.items.shape == (1, 5)
    assert not set(recs.item_ids[0]) & set(liked)
    only_attrs = small_model.recommend_profile(user_attributes={"country": "JP"}, k=5)
    other = small_model.recommend_profile(user_attributes={"country": "BR"}, k=5)
    assert not np.array_equal(only_attrs.scores, other.scores)


def test_cold_start_users_are_scored_from_attributes(small_model, small_split):
    cold = small_split.cold_users
    bags = small_model.user_profiles(cold)
    assert bags[:, : small_model.feature_space_.n_items].nnz == 0  # no history ...
    assert (np.diff(bags.indptr) > 0).all()  # ... but attributes


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda m: m.recommend("no-such-user"), UnknownIdError, "unknown user 'no-such-user'"),
        (lambda m: m.recommend(m.feature_space_.user_ids[0], k=0), ParameterError, "k must be positive"),
        (lambda m: m.recommend(m.feature_space_.user_ids[0], k=10**6), ParameterError, "larger than the catalogue"),
        (lambda m: m.recommend(m.feature_space_.user_ids[0], k=2.5), ParameterError, "k must be an integer"),
        (lambda m: m.recommend_profile(items=[]), EmptyProfileError, "is empty"),
        (lambda m: m.recommend_profile(items=["nope"]), UnknownIdError, "unknown item 'nope'"),
        (lambda m: m.recommend_profile(user_attributes={"planet": "Mars"}), UnknownIdError, "unknown user attribute"),
        (lambda m: explain(m, m.feature_space_.user_ids[0], "nope"), UnknownIdError, "unknown item"),
        (
            lambda m: explain(m, m.feature_space_.user_ids[0], m.feature_space_.item_ids[0], method="magic"),
            ParameterError,
            "unknown explanation method",
        ),
    ],
)
def test_bad_requests_raise_clear_errors(small_model, call, error, message):
    with pytest.raises(error, match=message):
        call(small_model)


def test_bad_parameters_and_unfitted_use(small_split):
    with pytest.raises(ParameterError, match="dim=0"):
        RecoNet(dim=0).fit(small_split.train)
    with pytest.raises(NotFittedError):
        RecoNet().recommend(1)


def test_save_load_round_trip_gives_identical_scores(tmp_path, small_model, small_split):
    small_model.save(tmp_path / "m", split=small_split)
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, RecoNet)
    users = np.arange(30)
    assert np.array_equal(loaded.score_users(users), small_model.score_users(users))
    assert loaded.feature_space_.item_ids == small_model.feature_space_.item_ids
    restored = load_split(tmp_path / "m")
    assert np.array_equal(np.sort(restored.test.users), np.sort(small_split.test.users))
    assert np.array_equal(restored.cold_users, small_split.cold_users)
    e1 = explain(loaded, loaded.feature_space_.user_ids[0], loaded.feature_space_.item_ids[1])[0]
    e2 = explain(small_model, loaded.feature_space_.user_ids[0], loaded.feature_space_.item_ids[1])[0]
    assert np.allclose(e1.relevance, e2.relevance)


def test_saving_is_atomic_and_refuses_foreign_dirs(tmp_path, small_model):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_text("meow")
    with pytest.raises(ModelFormatError, match="not a whyrec model directory"):
        small_model.save(foreign)
    assert (foreign / "cat.jpg").exists()
    small_model.save(tmp_path / "m")
    small_model.save(tmp_path / "m")  # overwriting a model is fine
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_corrupt_or_foreign_model_dirs_are_named(tmp_path, small_model):
    with pytest.raises(ModelFormatError, match="not found"):
        load_model(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFormatError, match="not a whyrec model directory"):
        load_model(tmp_path / "empty")
    path = small_model.save(tmp_path / "m")
    tensors = path / "model.safetensors"
    data = bytearray(tensors.read_bytes())
    data[-10:] = b"0123456789"
    tensors.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match="checksum"):
        load_model(path)
    path = small_model.save(tmp_path / "m2")
    manifest = json.loads((path / "whyrec.json").read_text())
    manifest["format_version"] = 999
    (path / "whyrec.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFormatError, match="format version 999"):
        load_model(path)
    (path / "whyrec.json").write_text("{")
    with pytest.raises(ModelFormatError, match="corrupt"):
        load_model(path)
    with pytest.raises(ModelFormatError, match="without its split"):
        load_split(small_model.save(tmp_path / "m3"))


def test_popularity_round_trip(tmp_path, small_split):
    pop = Popularity().fit(small_split.train)
    loaded = load_model(pop.save(tmp_path / "pop"))
    assert np.array_equal(loaded.score_users(np.arange(3)), pop.score_users(np.arange(3)))


def test_masked_sampling_trains_a_model_that_beats_popularity(small_split):
    known = small_split.train.matrix() + small_split.validation.matrix()
    masked = RecoNet(dim=16, epochs=8, batch_size=32, lr=1e-2, sampling="masked", mask_rate=0.2, seed=0)
    masked.fit(small_split.train, small_split.validation)
    again = RecoNet(**masked.get_params()).fit(small_split.train, small_split.validation)
    ours = evaluate(masked, small_split.test, exclude=known, k=20)["recall@20"]
    pop = evaluate(Popularity().fit(small_split.train), small_split.test, exclude=known, k=20)["recall@20"]
    assert ours > pop
    assert np.array_equal(masked.score_users(np.arange(20)), again.score_users(np.arange(20)))


@pytest.mark.parametrize(
    ("params", "named"), [({"sampling": "cloze"}, "sampling='cloze'"), ({"mask_rate": 0.0}, "mask_rate=0.0")]
)
def test_bad_sampling_parameters_are_named(small_split, params, named):
    with pytest.raises(ParameterError, match=named):
        RecoNet(**params).fit(small_split.train)


def test_masked_sampling_takes_the_sampled_softmax(small_split):
    model = RecoNet(dim=8, epochs=2, batch_size=32, sampling="masked", loss="sampled", negatives=20, weight_decay=0.0)
    scores = model.fit(small_split.train).score_users(np.arange(5))
    assert np.isfinite(scores).all() and len(model.history_) == 2
