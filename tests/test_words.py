"""Reasons in a person's words: no token prefixes, no stray spaces, a verb that fits the share, the
data's own phrasing, and one template for every method, in Python, the CLI and HTTP."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from whyrec.data import load_movielens
from whyrec.explain import counterfactual, explain_pairs, why_not
from whyrec.explain import words as wording
from whyrec.explain.base import methods_for
from whyrec.models import ALS, Blend
from whyrec.serve import create_app

PREFIX = re.compile(r"\b(item|user|context)[.:]\w|\bgroup:")
STRAY = re.compile(r"\s[,.;:)]|\(\s|\s{2}|^\s|\s$")
SLOW = {"kernel_shap", "lime", "sampled_shapley", "shapley", "counterfactual"}


@pytest.fixture(scope="module")
def client(small_model):
    from fastapi.testclient import TestClient

    with TestClient(create_app({"shop": small_model}), raise_server_exceptions=False) as c:
        yield c


def _clean(text: str) -> None:
    assert not PREFIX.search(text), text
    assert not STRAY.search(text), text


def test_the_verb_fits_the_share():
    item, clauses = "Alien (1979)", ["you watched Aliens (1986)"]
    assert "mostly because" in wording.sentence(item, clauses, 0.6, 1.0) and "(60% of" in wording.sentence(
        item, clauses, 0.6, 1.0
    )
    assert "partly because" in wording.sentence(item, clauses, 0.3, 1.0)
    among = wording.sentence(item, clauses, 0.04, 3.8)
    assert "is recommended, among other things, because" in among and "(1% of" in among
    assert "more than all" in wording.sentence(item, clauses, 1.5, 1.0)
    assert "takes more away" in wording.sentence(item, clauses, 0.2, -0.1)
    assert "nothing in your profile" in wording.sentence(item, [], 0.0, 0.5)
    for text in (among, wording.sentence(item, clauses, 1.5, 1.0), wording.sentence(item, [], 0, 0)):
        _clean(text)


def test_tokens_read_without_prefixes():
    assert wording.label("item:Heat (1995)", "item", "item") == "Heat (1995)"
    assert wording.label("user.age=25-34", "user_attribute", "user.age") == "age 25–34"
    assert wording.label("item.tag=adam sandler", "item_attribute", "item.tag") == "tag adam sandler"
    phrases = {"item": "you watched {name}", "user.age": "you are {value}", "item.genre": "you like {value} films"}
    assert wording.phrase("item:Heat (1995)", "item", "item", phrases) == "you watched Heat (1995)"
    assert wording.phrase("user.age=25-34", "user_attribute", "user.age", phrases) == "you are 25–34"
    assert wording.phrase("item.genre=Comedy", "item_attribute", "item.genre", phrases) == "you like Comedy films"
    assert wording.phrase("user.zip=85711", "user_attribute", "user.zip", phrases) == "your zip is 85711"
    assert wording.phrase("item:Heat (1995)", "item", "item") == "you interacted with Heat (1995)"
    assert (
        wording.phrase("item.tag=adam sandler", "item_attribute", "item.tag") == "you like items with tag adam sandler"
    )


def test_every_method_speaks_the_same_template(small_model):
    fs = small_model.feature_space_
    users = [u for u in range(40) if small_model.train_matrix_[u].nnz][:6]
    bags = small_model.user_profiles(np.array(users))
    targets = np.array([small_model.recommend(fs.user_ids[u], k=1).items[0][0] for u in users])
    for method in methods_for(small_model):
        rows = slice(0, 2) if method in SLOW else slice(None)
        for e in explain_pairs(small_model, bags[rows], targets[rows], method=method):
            text = e.sentence()
            _clean(text)
            assert text.startswith(f"{e.item_name} is recommended")
            assert re.search(r"\(\d+% of what your profile adds|more than all|nothing in your profile|takes more", text)
            for reason in e.reasons:
                _clean(reason.words())
                _clean(reason.label)


def test_counterfactual_and_why_not_sentences(small_model):
    fs = small_model.feature_space_
    said = 0
    for u in range(30):
        bag = small_model.user_profiles(np.array([u]))
        if not bag.nnz:
            continue
        ranked = small_model.recommend(fs.user_ids[u], k=30)
        found = counterfactual(small_model, bag, int(ranked.items[0][0]), n=10, kinds=("item", "user_attribute"))
        _clean(found.sentence)
        if found.found:
            said += 1
            assert found.sentence.startswith("Without ") and found.removed_labels[0] in found.sentence
            assert found.to_dict()["sentence"] == found.sentence
        answer = why_not(small_model, fs.user_ids[u], ranked.item_ids[0][25], n=10)
        _clean(answer.message)
    assert said >= 5


def test_blends_and_baselines_use_the_same_words(small_split, small_model):
    als = ALS(factors=8, iterations=3).fit(small_split.train)
    blend = Blend.of([als, small_model], [0.5, 0.5])
    fs = blend.feature_space_
    for model in (als, blend):
        e = explain_pairs(
            model, model.user_profiles(np.array([3])), np.array([int(model.recommend(fs.user_ids[3], k=1).items[0][0])])
        )[0]
        _clean(e.sentence())
        assert "you bought" in e.sentence() or "nothing in your profile" in e.sentence()


def test_phrases_come_from_the_data_and_survive_a_save(tmp_path, small_model):
    assert small_model.feature_space_.phrases["item"] == "you bought {name}"
    loaded = type(small_model).load(small_model.save(tmp_path / "m"))
    assert loaded.feature_space_.phrases == small_model.feature_space_.phrases
    films = tmp_path / "ml"
    films.mkdir()
    (films / "u.data").write_text("1\t1\t5\t881250949\n2\t2\t3\t881250950\n1\t2\t1\t881250951\n")
    (films / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")
    genres = "|".join(["0"] * 18)
    (films / "u.item").write_text(
        f"1|Toy Story (1995)|01-Jan-1995||http://x|0|{genres}\n2|Heat (1995)|01-Jan-1995||http://x|1|{genres}\n"
    )
    fs = load_movielens(films).feature_space
    assert wording.phrase("item:Heat (1995)", "item", "item", fs.phrases) == "you watched Heat (1995)"


@pytest.mark.parametrize("method", [None, "counterfactual"])
def test_http_answers_hold_no_token_prefix(client, small_model, method):
    fs = small_model.feature_space_
    user = next(fs.user_ids[u] for u in range(fs.n_users) if small_model.train_matrix_[u].nnz >= 3)
    item = small_model.recommend(user, k=1).item_ids[0][0]
    body = client.post(
        "/explain", json={"user_id": user, "item_id": item, **({"method": method} if method else {})}
    ).json()
    _clean(body["sentence"])
    for reason in body["reasons"] + body["against"]:
        _clean(reason["words"])
        _clean(reason["label"])
    if body.get("counterfactual"):
        _clean(body["counterfactual"]["sentence"])
    ranked = small_model.recommend(user, k=30).item_ids[0]
    answer = client.post("/why-not", json={"user_id": user, "item_id": ranked[25], "n": 10}).json()
    _clean(answer["message"])
    assert answer["addition"]["words"] in answer["message"]


def test_counts_take_the_datas_noun_in_the_singular_too():
    films = {"items": "films"}
    assert (wording.count(1, films), wording.count(12, films)) == ("1 film", "12 films")
    assert wording.count(1) == "1 item" and wording.count(0) == "0 items"
    assert wording.count(1, {"items": "series", "an item": "series"}) == "1 series"


def test_the_terminal_reads_clean_for_every_method(monkeypatch, capsys, tmp_path, small_model):
    """What `whyrec explain` prints (not only its --json): no prefix, no stray space, no text lost to
    the terminal's markup, for every method, the counterfactual and why-not."""
    from rich.console import Console

    from conftest import run_cli

    monkeypatch.setattr("whyrec.cli.explain.console", Console(width=1000, highlight=False))
    path = small_model.save(tmp_path / "m")
    fs = small_model.feature_space_
    user = next(fs.user_ids[u] for u in range(fs.n_users) if small_model.train_matrix_[u].nnz >= 3)
    ranked = small_model.recommend(user, k=30).item_ids[0]
    base = ("explain", "--model", path, "--user", user)
    verified = []
    runs = [(*base, "--item", ranked[0], "--method", method) for method in methods_for(small_model)]
    runs += [(*base, "--item", ranked[0], "--counterfactual")]
    runs += [(*base, "--why-not", ranked[rank]) for rank in (11, 25)]  # one addition brings it in; none does
    for args in runs:
        code, out, err = run_cli(monkeypatch, capsys, *args)
        assert code == 0, err
        lines = out.splitlines()
        assert len(lines) >= 3, out
        for line in lines:
            assert not line.endswith(" "), line
            for column in re.split(r"\s{2,}", line.strip()):  # reasons print as "  +0.4595  title"
                _clean(column)
        if "--counterfactual" in args or "--why-not" in args:
            code, out, err = run_cli(monkeypatch, capsys, *args, "--json")
            assert code == 0, err
            answer = json.loads(out)
        if "--counterfactual" in args:
            found = answer["counterfactual"]
            said = found["sentence"].removesuffix(".") + (" (verified by re-scoring)." if found["verified"] else ".")
            assert lines[-1] == f"What would change it: {said}", lines[-1]
        if "--why-not" in args:
            assert lines[0].endswith(f"{answer['message']}."), lines[0]
            added = answer["addition"]
            assert added is not None, answer  # the best addition is named either way
            assert added["words"] in answer["message"]
            if added["verified"]:
                said = f"Adding {added['name']}: rank {added['new_rank']} (verified by re-scoring)."
                assert lines[-1] == said, lines[-1]
            verified.append(added["verified"])
    assert verified == [True, False]


def test_the_terminal_prints_titles_as_they_are(monkeypatch, capsys, tmp_path):
    """Square brackets in a title ("[REC] (2007)") are the title's, not the terminal's markup."""
    import pandas as pd
    from rich.console import Console

    from conftest import run_cli
    from whyrec.data import Dataset
    from whyrec.models import ItemKNN

    for module in ("explain", "recommend"):
        monkeypatch.setattr(f"whyrec.cli.{module}.console", Console(width=1000, highlight=False))
    rng = np.random.default_rng(0)
    pairs = {(u, i) for u, i in zip(rng.integers(0, 40, 400), rng.integers(0, 12, 400), strict=True)}
    titles = [f"[REC] {i}" if i % 2 else f"[bold]Heat[/bold] {i}" for i in range(12)]
    items = pd.DataFrame({"item": range(12), "title": titles})
    model = ItemKNN().fit(Dataset.from_frames(pd.DataFrame(sorted(pairs), columns=["user", "item"]), items=items))
    path = model.save(tmp_path / "m")
    top = model.recommend(0, k=1).item_ids[0][0]
    code, out, err = run_cli(monkeypatch, capsys, "recommend", "--model", path, "--user", 0, "-k", 3)
    assert code == 0 and f"1. {titles[top]} (id {top}" in out, (out, err)
    code, out, err = run_cli(monkeypatch, capsys, "explain", "--model", path, "--user", 0, "--item", top)
    assert code == 0 and out.startswith(f"{titles[top]} for user 0:"), (out, err)
    reasons = [line.split("  ")[-1] for line in out.splitlines() if line.startswith("  ")]
    assert reasons and set(reasons) <= set(titles), reasons
