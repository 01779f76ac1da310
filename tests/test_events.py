"""Events in a real database: the same suite on SQLite and PostgreSQL, folding into training, and
the service's loop (an event changes the next recommendation), privacy, keys, bounds and limits."""

from __future__ import annotations

import json
import math
import re
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient

from whyrec.data.events import MAX_BATCH, Event, EventStore, with_events
from whyrec.errors import DataError, UnknownIdError
from whyrec.serve import create_app


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "events.db")
    return request.getfixturevalue("postgres_url")


# -- the store: one suite, both databases --------------------------------------------------------------


def test_store_round_trip(store_url):
    store = EventStore(store_url)
    assert (
        store.add([Event(1, 10), Event(1, 11, 1_700_000_000.0, 2.5), Event("u2", 10)], {"u2": {"country": "FR"}}) == 3
    )
    assert store.items_of(1) == ["10", "11"] and store.items_of("1") == ["10", "11"]  # IDs match on their text
    history = store.history(1)
    assert [h["weight"] for h in history] == [1.0, 2.5] and history[1]["timestamp"] == 1_700_000_000.0
    assert store.attributes_of("u2") == {"country": "FR"} and store.attributes_of(1) == {}
    assert store.count() == 3
    reopened = EventStore(store_url)  # durable: another connection (another replica) sees the same
    assert reopened.items_of("u2") == ["10"]
    assert reopened.delete_user(1) == 2
    assert store.items_of(1) == [] and store.count() == 1
    store.close()
    reopened.close()


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([Event(1, 10, weight=-1.0)], "weight must be a positive finite number"),
        ([Event(1, 10, weight=math.nan)], "weight must be a positive finite number"),
        ([Event(1, 10, timestamp=math.inf)], "timestamp must be seconds since the epoch"),
        ([Event(1, 10, timestamp="yesterday")], "timestamp must be seconds since the epoch"),  # type: ignore[arg-type]
        ([Event("", 10)], "user_id must be a non-empty ID"),
        ([Event(1, 10)] * (MAX_BATCH + 1), f"at most {MAX_BATCH} events"),
    ],
)
def test_bad_events_write_nothing(store_url, events, message):
    store = EventStore(store_url)
    store.add([Event(9, 1)])
    with pytest.raises(DataError, match=message):
        store.add([Event(1, 11), *events])  # the good first event is not stored either
    assert store.count() == 1 and store.items_of(1) == []
    store.close()


def test_store_that_cannot_be_opened(tmp_path):
    with pytest.raises(DataError, match=r"folder .* does not exist"):
        EventStore(tmp_path / "missing" / "events.db")
    with pytest.raises(
        DataError, match=re.escape("cannot open the event store postgresql+psycopg://nobody:***@127.0.0.1:1/x")
    ):
        EventStore("postgresql://nobody:secret@127.0.0.1:1/x")
    with pytest.raises(DataError, match="unsupported event store 'mysql'"):
        EventStore("mysql://localhost/x")


def test_events_fold_into_the_next_training_run(small_split, tmp_path):
    train = small_split.train
    fs = train.feature_space
    store = EventStore(tmp_path / "events.db")
    known_user, new_user = fs.user_ids[0], "fresh-user"
    seen = set(train.items[train.users == 0].tolist())
    unseen = [fs.item_ids[i] for i in range(fs.n_items) if i not in seen][:3]
    country = fs.field("user", "country").values[0]
    store.add(
        [
            Event(known_user, unseen[0]),
            Event(known_user, unseen[0]),
            Event(new_user, unseen[1]),
            Event(new_user, unseen[2], 123.0),
        ],
        {new_user: {"country": country}},
    )
    folded = with_events(train, store)
    assert folded.n_users == train.n_users + 1 and folded.n_interactions == train.n_interactions + 3
    new = folded.feature_space.user_index([new_user])[0]
    assert sorted(folded.items[folded.users == new]) == sorted(fs.item_index(unseen[1:]))
    assert folded.user_attributes[new].nnz == 1  # the stored attribute, encoded
    assert folded.stats["events_folded_in"] == 4
    store.add([Event(known_user, "no-such-item")])
    with pytest.raises(UnknownIdError, match="no-such-item"):
        with_events(train, store)


def test_train_cli_folds_in_events(monkeypatch, capsys, tmp_path):
    from conftest import run_cli

    spec = "synthetic:n_users=200,n_items=40,seed=4"
    store = EventStore(tmp_path / "events.db")
    store.add([Event("brand-new", 3), Event("brand-new", 5)])
    train = ("train", "--data", spec, "--param", "epochs=1", "--param", "dim=8", "--quiet")
    code, out, err = run_cli(
        monkeypatch, capsys, *train, "--events", tmp_path / "events.db", "--out", tmp_path / "model"
    )
    assert code == 0, err
    assert "2 stored events" in out
    from whyrec.models import Recommender

    model = Recommender.load(tmp_path / "model")
    assert "brand-new" in [str(u) for u in model.feature_space_.user_ids]
    code, _, err = run_cli(
        monkeypatch, capsys, *train, "--events", tmp_path / "nope" / "e.db", "--out", tmp_path / "m2"
    )
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1


# -- the service -------------------------------------------------------------------------------------------


@pytest.fixture
def served(small_model, store_url):
    app = create_app({"shop": small_model}, store=store_url, slow_workers=0)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, small_model


def _user_and_unseen(model):
    fs = model.feature_space_
    u = next(u for u in range(fs.n_users) if model.train_matrix_[u].nnz >= 3)
    recs = model.recommend(fs.user_ids[u], k=fs.n_items - model.train_matrix_[u].nnz).item_ids[0]
    return fs.user_ids[u], recs


def test_an_event_changes_the_next_recommendation_and_explanation(served):
    client, model = served
    user, ranked = _user_and_unseen(model)
    before = client.post("/recommend", json={"user_id": user, "k": 10}).json()["items"]
    picked = ranked[0]
    explained_before = client.post("/explain", json={"user_id": user, "item_id": ranked[5]}).json()
    response = client.post("/events", json={"events": [{"user_id": user, "item_id": picked}]})
    assert response.status_code == 201 and response.json() == {"stored": 1, "users": [user]}
    after = client.post("/recommend", json={"user_id": user, "k": 10}).json()["items"]
    assert picked in [i["item_id"] for i in before] and picked not in [i["item_id"] for i in after]  # now seen
    # exactly what the model says for the history with the item added
    fs = model.feature_space_
    bag = model.with_history(model.user_profiles(fs.user_index([user])), fs.item_index([picked]))
    expected = model.top_k(model.score(bag), 10, bag[:, : fs.n_items]).item_ids[0]
    assert [i["item_id"] for i in after] == list(expected)
    explained_after = client.post("/explain", json={"user_id": user, "item_id": ranked[5], "top": 500}).json()
    assert f"item:{fs.item_names[fs.item_index([picked])[0]]}" in [r["name"] for r in explained_after["reasons"]]
    assert explained_after["score"] != explained_before["score"]
    history = client.get(f"/users/{user}/history").json()
    assert history["known_to_model"] and [e["item_id"] for e in history["events"]] == [picked]
    assert len(history["training"]) == model.train_matrix_[fs.user_index([user])[0]].nnz


def test_a_user_first_seen_through_events(served):
    client, model = served
    fs = model.feature_space_
    country = fs.field("user", "country").values[0]
    body = {
        "events": [
            {"user_id": "newcomer", "item_id": fs.item_ids[1], "timestamp": "2026-11-28T10:00:00"},
            {"user_id": "newcomer", "item_id": fs.item_ids[2], "timestamp": 1_764_324_000},
        ],
        "attributes": {"newcomer": {"country": country}},
    }
    assert client.post("/events", json=body).status_code == 201
    recs = client.post("/recommend", json={"user_id": "newcomer", "k": 5}).json()["items"]
    expected = model.recommend_profile([fs.item_ids[1], fs.item_ids[2]], {"country": country}, k=5).item_ids[0]
    assert [i["item_id"] for i in recs] == list(expected)
    history = client.get("/users/newcomer/history").json()
    assert not history["known_to_model"] and history["attributes"] == {"country": country}
    assert history["events"][0]["timestamp"] == 1_795_860_000.0  # 2026-11-28T10:00:00 read as UTC
    assert client.post("/explain", json={"user_id": "newcomer", "item_id": recs[0]["item_id"]}).status_code == 200
    # privacy: deleting the events leaves nothing, and the user is unknown again
    assert client.delete("/users/newcomer/events").json() == {"user_id": "newcomer", "deleted": 2}
    assert client.get("/users/newcomer/history").status_code == 404
    gone = client.post("/recommend", json={"user_id": "newcomer"})
    assert gone.status_code == 404 and "unknown user 'newcomer'" in gone.json()["detail"]


@pytest.mark.parametrize(
    ("events", "status", "message"),
    [
        ([{"user_id": 1, "item_id": "no-such-item"}], 404, "unknown item 'no-such-item'"),
        ([{"user_id": 1, "item_id": 1, "timestamp": "last tuesday"}], 422, "timestamp"),
        ([{"user_id": 1, "item_id": 1, "weight": -2}], 422, "greater than 0"),
        ([{"user_id": 1, "item_id": 1, "weight": 0}], 422, "greater than 0"),
        ([{"user_id": 1, "item_id": 1}] * 1001, 422, "at most 1000 items"),
        ([], 422, "at least 1 item"),
    ],
)
def test_bad_events_are_4xx_and_write_nothing(served, events, status, message):
    client, _ = served
    store = client.app.state.store
    before = store.count()
    response = client.post(
        "/events", json={"events": [{"user_id": 1, "item_id": 2}, *events]} if events else {"events": []}
    )
    assert response.status_code == status, response.text
    assert message in response.text
    assert store.count() == before


def test_nan_weight_is_refused(served):
    client, _ = served
    raw = b'{"events": [{"user_id": 1, "item_id": 1, "weight": NaN}]}'
    response = client.post("/events", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422 and client.app.state.store.count() == 0


def test_without_a_store_events_are_refused(small_model):
    with TestClient(create_app({"shop": small_model}, slow_workers=0), raise_server_exceptions=False) as client:
        response = client.post("/events", json={"events": [{"user_id": 1, "item_id": 1}]})
        assert response.status_code == 400 and "--store" in response.json()["detail"]


def test_api_key_is_enforced(small_model, tmp_path):
    app = create_app({"shop": small_model}, store=tmp_path / "e.db", api_key="s3cret", slow_workers=0)
    user = small_model.feature_space_.user_ids[0]
    with TestClient(app, raise_server_exceptions=False) as client:
        for method, path, body in [
            ("post", "/events", {"events": [{"user_id": 1, "item_id": 1}]}),
            ("post", "/recommend", {"user_id": user}),
            ("get", f"/users/{user}/history", None),
            ("delete", f"/users/{user}/events", None),
        ]:
            call = getattr(client, method)
            kwargs = {"json": body} if body else {}
            missing = call(path, **kwargs)
            assert missing.status_code == 401 and "X-API-Key" in missing.json()["detail"]
            wrong = call(path, headers={"X-API-Key": "guess"}, **kwargs)
            assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong API key"
            right = call(path, headers={"X-API-Key": "s3cret"}, **kwargs)
            assert right.status_code < 300, right.text
        assert client.get("/health").status_code == 200  # no personal data: open
        assert client.get("/model").json()["requires_api_key"] is True
        schema = client.get("/openapi.json").json()
        assert "401" in schema["paths"]["/events"]["post"]["responses"]
        assert "APIKeyHeader" in schema["components"]["securitySchemes"]


def test_slow_work_is_bounded_and_timed(small_model):
    user = small_model.feature_space_.user_ids[0]
    item = small_model.recommend(user, k=1).item_ids[0][0]
    slow = {"user_id": user, "item_id": item, "method": "kernel_shap"}
    app = create_app({"shop": small_model}, slow_workers=0, slow_queue=0, explain_timeout=30)
    with TestClient(app, raise_server_exceptions=False) as client:
        statuses: list[int] = []

        def ask() -> None:
            statuses.append(client.post("/explain", json=slow).status_code)

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert 200 in statuses and 429 in statuses  # one at a time; the rest refused at once
        assert client.post("/explain", json={**slow, "method": "lrp"}).status_code == 200
    app = create_app({"shop": small_model}, slow_workers=0, explain_timeout=0.001)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/explain", json=slow)
        assert response.status_code == 503 and "--explain-timeout" in response.json()["detail"]


def test_metrics(served):
    client, model = served
    user = model.feature_space_.user_ids[0]
    client.post("/recommend", json={"user_id": user})
    client.post("/recommend", json={"user_id": "nobody"})
    client.post("/events", json={"events": [{"user_id": user, "item_id": model.feature_space_.item_ids[0]}]})
    text = client.get("/metrics").text
    assert 'whyrec_requests_total{endpoint="/recommend",method="POST",status="200"} 1.0' in text
    assert 'whyrec_request_errors_total{endpoint="/recommend",method="POST",status="404"} 1.0' in text
    assert "whyrec_event_store_write_seconds_count 1.0" in text
    assert "whyrec_slow_in_flight" in text


def test_history_for_an_unknown_user_is_404(served):
    client, _ = served
    response = client.get("/users/nobody/history")
    assert response.status_code == 404 and json.loads(response.text)["detail"].startswith("unknown user 'nobody'")


def test_known_user_bag_matches_model_with_history(small_model):
    fs = small_model.feature_space_
    bag = small_model.user_profiles(np.array([0]))
    grown = small_model.with_history(bag, np.array([1, 2]))
    items = [fs.item_ids[i] for i in small_model.train_matrix_[0].indices] + [fs.item_ids[1], fs.item_ids[2]]
    attrs = {f.name: None for f in fs.user_fields}
    assert set(grown[:, : fs.n_items].indices) == set(fs.item_index(list(dict.fromkeys(items))))
    assert attrs  # the user's attribute tokens are kept as they were
    user_part = small_model.user_attribute_tokens(bag)
    assert set(small_model.user_attribute_tokens(grown).indices) == set(user_part.indices)
