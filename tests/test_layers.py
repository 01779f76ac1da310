"""Layered reasons: groups by kind, by an attribute of the history's items and by time, each layer
summing exactly to the explanation's total, in Python, the CLI and HTTP."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from conftest import run_cli
from whyrec.data import load_movielens, split
from whyrec.errors import ParameterError
from whyrec.explain import by_kind, by_time, by_value, explain_pairs, layers
from whyrec.models import ALS, Blend, RecoNet, load_model
from whyrec.viz.sankey import sankey_figure

GENRES = 18  # ML-100K's genre flags after "unknown"


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    """A small catalogue in ML-100K's layout: 12 films with one or two genres, 40 users with times."""
    root = tmp_path_factory.mktemp("ml")
    rng = np.random.default_rng(0)
    rows = []
    for user in range(1, 41):
        for item in rng.choice(np.arange(1, 13), 7, replace=False):
            rows.append(f"{user}\t{item}\t4\t{880000000 + int(rng.integers(10**6))}")
    (root / "u.data").write_text("\n".join(rows) + "\n")
    (root / "u.user").write_text("".join(f"{u}|{20 + u}|{'MF'[u % 2]}|other|0000{u % 9}\n" for u in range(1, 41)))
    lines = []
    for item in range(1, 13):
        flags = ["0"] * GENRES
        flags[item % 3] = "1"
        if item % 4 == 0:
            flags[3 + item % 5] = "1"  # a second genre
        lines.append(f"{item}|Film {item} (199{item % 10})|01-Jan-1995||http://x|0|{'|'.join(flags)}")
    (root / "u.item").write_text("\n".join(lines) + "\n")
    return load_movielens(root)


@pytest.fixture(scope="module")
def fitted(films):
    parts = split(films, seed=0)
    als = ALS(factors=8, iterations=4, seed=0).fit(parts.train)
    reconet = RecoNet(dim=8, epochs=3, batch_size=64, seed=0).fit(parts.train)
    return parts, {"als": als, "reconet": reconet, "blend": Blend.of([als, reconet], [0.5, 0.5])}


def _explained(model, users):
    bags = model.user_profiles(users)
    targets = model.top_k(model.score(bags), 1, bags[:, : model.feature_space_.n_items]).items[:, 0]
    return list(explain_pairs(model, bags, targets))


@pytest.mark.parametrize("name", ["als", "reconet", "blend"])
def test_every_layer_sums_to_the_total(fitted, name):
    _, models = fitted
    model = models[name]
    for user, e in zip(range(6), _explained(model, np.arange(6)), strict=True):
        chosen = layers(e, item_values=model.item_values_, times=model.history_times(user))
        assert set(chosen) == {"kind", "genre", "year", "time"}  # the catalogue's genres, even for iALS
        total = e.relevance.sum()
        for name, groups in chosen.items():
            assert sum(g.relevance for g in groups) == pytest.approx(total, abs=1e-9), name
        assert chosen["kind"][0].label in {"your history", "who you are", "what the items in your history are"}


def test_a_film_in_two_genres_gives_each_half(fitted):
    _, models = fitted
    model = models["als"]
    e = _explained(model, np.array([0]))[0]
    values = model.item_values_
    groups = {g.key: g for g in by_value(e, values, "genre")}
    fs = model.feature_space_
    start = fs.field_offsets[("item", "genre")]
    names = fs.field("item", "genre").values
    expected = {}
    for token, relevance in zip(e.tokens, e.relevance, strict=True):
        own = values[token].indices - start
        own = own[(own >= 0) & (own < len(names))]
        for v in own:
            expected[names[v]] = expected.get(names[v], 0.0) + relevance / len(own)
    assert {k: g.relevance for k, g in groups.items() if k} == pytest.approx(expected)
    for key, g in groups.items():  # "your Drama history: 3 films", "... 1 film"
        if key not in ("", "rest"):
            assert g.label == f"your {key} history: {g.size} {'film' if g.size == 1 else 'films'}", g.label
    with pytest.raises(ParameterError, match="genre"):
        by_value(e, values, "colour")


def test_recent_means_the_latest_times(fitted):
    _, models = fitted
    model = models["reconet"]
    e = _explained(model, np.array([2]))[0]
    times = model.history_times(2)
    history = [int(t) for t in e.tokens if t < model.feature_space_.n_items]
    latest = sorted(history, key=lambda t: -times[t])[:3]
    groups = {g.key: g for g in by_time(e, times, recent=3)}
    assert groups["recent"].size == 3 and groups["recent"].label == "your 3 most recent films"
    assert groups["recent"].relevance == pytest.approx(sum(e.relevance_by_token(np.array(latest))))
    assert by_time(e, {}) == []
    kinds = {g.key for g in by_kind(e)}
    assert "item" in kinds and "user_attribute" in kinds


def test_values_and_times_survive_a_save(tmp_path, fitted):
    _, models = fitted
    for name, model in models.items():
        loaded = load_model(model.save(tmp_path / name))
        assert (loaded.item_values_ != model.item_values_).nnz == 0
        assert loaded.history_times(3) == model.history_times(3) != {}


def test_the_sankey_collapses_to_groups(fitted):
    _, models = fitted
    model = models["reconet"]
    e = _explained(model, np.array([1]))[0]
    groups = layers(e, item_values=model.item_values_)["genre"]
    figure = sankey_figure(e, groups=groups)
    flows = figure.data[0].link.value
    assert sum(flows[: sum(g.relevance > 0 for g in groups)]) == pytest.approx(
        sum(g.relevance for g in groups if g.relevance > 0)
    )


def test_http_and_cli_carry_the_groups(tmp_path, fitted, monkeypatch, capsys):
    from fastapi.testclient import TestClient

    from whyrec.serve import create_app

    _, models = fitted
    model = models["reconet"]
    user = model.feature_space_.user_ids[4]
    item = model.recommend([4], k=1).item_ids[0][0]
    with TestClient(create_app({"films": model}), raise_server_exceptions=False) as client:
        body = client.post("/explain", json={"user_id": user, "item_id": item}).json()
        other = next(i for i in model.feature_space_.item_ids if i != item)
        profile = client.post("/explain", json={"profile": {"items": [other]}, "item_id": item}).json()
    assert set(body["groups"]) == {"kind", "genre", "year", "time"}
    total = sum(r["relevance"] for r in body["reasons"]) if len(body["reasons"]) < 10 else None
    for name, groups in body["groups"].items():
        assert sum(g["relevance"] for g in groups) == pytest.approx(body["score"] - body["baseline"], abs=1e-5), name
    if total is not None:
        assert total == pytest.approx(body["score"] - body["baseline"], abs=1e-5)
    assert "time" not in profile.get("groups", {})  # a profile has no training times
    path = model.save(tmp_path / "cli")
    code, out, _ = run_cli(
        monkeypatch, capsys, "explain", "--model", str(path), "--user", str(user), "--item", str(item)
    )
    assert code == 0 and "By kind: " in out and "By genre: " in out and "By time: your " in out
    assert re.search(r"your \w+ history: \d+ films [+-]\d", out)
    code, out, _ = run_cli(
        monkeypatch, capsys, "explain", "--model", str(path), "--user", str(user), "--item", str(item), "--json"
    )
    assert code == 0 and set(json.loads(out)["groups"]) == {"kind", "genre", "year", "time"}
