"""The HTTP API, endpoint by endpoint, including every bad input (a 4xx with a message, never a 500)."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from whyrec.explain import explain
from whyrec.serve import create_app


@pytest.fixture(scope="module")
def client(small_model, tmp_path_factory):
    path = small_model.save(tmp_path_factory.mktemp("serve") / "model")
    app = create_app({"shop": path, "again": small_model})
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def known(small_model):
    fs = small_model.feature_space_
    user = fs.user_ids[0]
    return {"user": user, "item": fs.item_ids[1]}


def test_health_and_model(client):
    assert client.get("/health").json() == {"status": "ok", "models": ["shop", "again"]}
    info = client.get("/model", params={"model": "shop"}).json()
    assert info["model"] == "RecoNet" and "country" in info["user_fields"] and "lrp" in info["methods"]
    assert client.get("/openapi.json").status_code == 200


def test_recommend_known_user_and_profile(client, known, small_model):
    body = client.post("/recommend", json={"user_id": known["user"], "k": 5}).json()
    assert [i["rank"] for i in body["items"]] == [1, 2, 3, 4, 5]
    expected = small_model.recommend(known["user"], k=5)
    assert [i["item_id"] for i in body["items"]] == list(expected.item_ids[0])
    profile = {"items": [known["item"]], "attributes": {"country": "FR", "device": "mobile"}}
    cold = client.post("/recommend", json={"profile": profile, "k": 3, "model": "again"}).json()
    assert len(cold["items"]) == 3 and known["item"] not in [i["item_id"] for i in cold["items"]]
    filtered = client.post("/recommend", json={"user_id": known["user"], "k": 5, "item_filter": {"category": "books"}})
    assert filtered.status_code == 200
    names = [i["name"] for i in filtered.json()["items"]]
    assert len(names) == 5 and all(name.startswith("books") for name in names)


def test_explain(client, known, small_model):
    body = client.post("/explain", json={"user_id": known["user"], "item_id": known["item"], "top": 4}).json()
    expected = explain(small_model, known["user"], known["item"])[0]
    assert [r["name"] for r in body["reasons"]] == [r.name for r in expected.top(4)]
    assert body["sentence"] == expected.sentence() and body["method"] == "lrp"
    against = [r.relevance for r in expected.bottom(min(4, 5))]
    assert against and [r["relevance"] for r in body["against"]] == pytest.approx(against)
    shapley = client.post("/explain", json={"user_id": known["user"], "item_id": known["item"], "method": "shapley"})
    assert shapley.json()["method"] == "shapley"


def _with_history(small_model):
    fs = small_model.feature_space_
    return next(fs.user_ids[u] for u in range(fs.n_users) if small_model.train_matrix_[u].nnz >= 5)


def test_explain_with_a_verified_counterfactual(client, small_model):
    from whyrec.explain import counterfactual

    fs = small_model.feature_space_
    user = _with_history(small_model)
    first = small_model.recommend(user, k=1).item_ids[0][0]
    body = client.post("/explain", json={"user_id": user, "item_id": first, "method": "counterfactual", "n": 5})
    assert body.status_code == 200, body.text
    found = body.json()["counterfactual"]
    expected = counterfactual(
        small_model, small_model.user_profiles(fs.user_index([user])), int(fs.item_index([first])[0]), n=5
    )
    assert found["found"] == expected.found and found["removed"] == expected.removed
    if found["found"]:
        assert found["verified"] and found["new_rank"] > 5
        # the list without the set, as the dashboard's toggle asks for it: the item is gone
        without = client.post("/recommend", json={"user_id": user, "k": 5, "without": found["removed_items"]}).json()
        assert first not in [i["item_id"] for i in without["items"]]


def test_why_not(client, small_model):
    user = _with_history(small_model)
    ranked = small_model.recommend(user, k=40).item_ids[0]
    answers = [
        client.post("/why-not", json={"user_id": user, "item_id": item, "n": 10}).json() for item in ranked[10:40]
    ]
    assert all(a["rank"] > 10 and not a["recommended"] and a["gap"] >= 0 for a in answers)
    added = [a["addition"] for a in answers if a["addition"]]
    assert added and all(a["verified"] == (a["new_rank"] <= 10) for a in added)
    assert any(a["verified"] for a in added)
    for answer in answers:  # the addition is named in the message, whether or not it reaches the top
        assert answer["addition"]["words"] in answer["message"] and "item:" not in answer["message"]
    already = client.post("/why-not", json={"user_id": user, "item_id": ranked[0]}).json()
    assert already["recommended"] and "already recommended" in already["message"]
    cold = client.post("/why-not", json={"profile": {"items": [ranked[0]]}, "item_id": ranked[30], "n": 10})
    assert cold.status_code == 200 and cold.json()["rank"] > 0


def test_insights_are_global_field_shares(client):
    body = client.get("/insights", params={"sample": 40}).json()
    assert body["users"] == 40 and abs(sum(f["share"] for f in body["fields"]) - 1) < 1e-6
    shares = [f["share"] for f in body["fields"]]
    assert shares == sorted(shares, reverse=True)
    assert client.get("/insights", params={"method": "magic"}).status_code == 422


def small_model_names(client):
    return [i["name"] for i in client.get("/items", params={"limit": 1000}).json()["items"]]


def test_items_and_users(client, known):
    page = client.get("/items", params={"query": "books", "limit": 3}).json()
    names = [i["name"] for i in page["items"]]
    assert len(names) == 3 and all("books" in name for name in names)
    assert page["total"] == sum("books" in n.lower() for n in small_model_names(client))
    user = client.get(f"/users/{known['user']}").json()
    assert any(a.startswith("user.country=") for a in user["attributes"]) and user["history"]


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "message"),
    [
        ("post", "/recommend", {"user_id": "nobody"}, 404, "unknown user 'nobody'"),
        ("post", "/recommend", {"user_id": 1, "k": 0}, 422, "greater than or equal to 1"),
        ("post", "/recommend", {"user_id": 1, "k": 5000}, 422, "less than or equal to 1000"),
        ("post", "/recommend", {}, 422, "exactly one of user_id or profile"),
        ("post", "/recommend", {"profile": {"items": []}}, 422, "a profile needs at least one item or one attribute"),
        ("post", "/recommend", {"profile": {"items": ["nope"]}}, 404, "unknown item 'nope'"),
        ("post", "/recommend", {"profile": {"attributes": {"country": "Atlantis"}}}, 404, "unknown value 'Atlantis'"),
        ("post", "/recommend", {"profile": {"attributes": {"planet": "Mars"}}}, 404, "unknown user attribute 'planet'"),
        ("post", "/recommend", {"user_id": 1, "model": "ghost"}, 404, "unknown model 'ghost'"),
        ("post", "/recommend", {"user_id": 1, "item_filter": {"colour": "red"}}, 404, "unknown item attribute"),
        ("post", "/explain", {"user_id": 1, "item_id": "nope"}, 404, "unknown item 'nope'"),
        (
            "post",
            "/explain",
            {"user_id": 1, "item_id": 1, "method": "magic"},
            422,
            "Input should be 'blend', 'counterfactual'",
        ),
        ("post", "/explain", {"user_id": 1}, 422, "Field required"),
        ("post", "/explain", {"user_id": 1, "item_id": 1, "method": "counterfactual", "n": 0}, 422, "greater than"),
        ("post", "/why-not", {"user_id": 1, "item_id": "nope"}, 404, "unknown item 'nope'"),
        ("post", "/why-not", {"user_id": 1, "item_id": 1, "n": 0}, 422, "greater than or equal to 1"),
        ("post", "/why-not", {"profile": {"items": []}, "item_id": 1}, 422, "a profile needs at least one item"),
        ("post", "/why-not", {"profile": {"items": [1]}, "item_id": 1}, 409, "already in the user's history"),
        ("post", "/recommend", {"user_id": 1, "without": ["nope"]}, 404, "unknown item 'nope'"),
        ("get", "/users/nobody", None, 404, "unknown user 'nobody'"),
        ("get", "/items?limit=0", None, 422, "greater than or equal to 1"),
        ("get", "/model?model=ghost", None, 404, "unknown model"),
    ],
)
def test_bad_input_is_a_4xx_with_a_message(client, method, path, payload, status, message):
    response = client.post(path, json=payload) if method == "post" else client.get(path)
    assert response.status_code == status, response.text
    assert message in response.text


def test_every_error_is_documented_in_the_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/recommend", "/explain", "/why-not"):
        documented = paths[path]["post"]["responses"]
        assert {"400", "404", "422"} <= set(documented)
        assert documented["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")


def test_malformed_body_and_server_keeps_serving(client, known):
    response = client.post("/recommend", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert client.post("/recommend", json={"user_id": known["user"]}).status_code == 200


def test_dashboard_and_assets_come_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/plotly.min.js" in page.text and "cdn" not in page.text.lower()
    script = client.get("/static/plotly.min.js")
    assert script.status_code == 200 and len(script.text) > 1_000_000
    assert client.get("/static/app.js").status_code == 200


def test_missing_model_is_a_clear_error(tmp_path):
    from whyrec.errors import ModelFormatError

    with pytest.raises(ModelFormatError, match="not found"):
        create_app({"x": tmp_path / "absent"})


def test_static_report_is_self_contained(small_model, tmp_path):
    from whyrec.explain import explain_top_k
    from whyrec.viz.report import model_report

    fs = small_model.feature_space_
    path = model_report(small_model, tmp_path / "report.html", users=[fs.user_ids[0]], k=3)
    page = path.read_text()
    assert "<script" in page and "Plotly" in page
    assert 'src="http' not in page and "src='http" not in page  # nothing is loaded from the network
    assert f"User {fs.user_ids[0]}" in page and "is recommended" in page and " because " in page
    users = np.unique(small_model.train_matrix_.nonzero()[0])[:50]
    shares = explain_top_k(small_model, users, k=1).table().field_shares()
    assert abs(shares.sum() - 1.0) < 1e-6 and "user.country" in set(shares.index)


def test_every_response_reports_its_handler_time(client, known):
    response = client.post("/explain", json={"user_id": known["user"], "item_id": known["item"]})
    timing = dict(
        entry.strip().split(";dur=")
        for value in response.headers.get_list("server-timing")
        for entry in value.split(",")
    )
    # time inside the app, and the part of it spent computing (without waiting for a compute slot)
    assert 0 < float(timing["compute"]) <= float(timing["app"])
    health = client.get("/health").headers["server-timing"]
    assert health.startswith("app;dur=") and "compute" not in health
