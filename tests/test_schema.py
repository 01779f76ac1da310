"""The OpenAPI schema is the truth: schemathesis, every check, against the running app.

Bounded (a fixed number of examples per operation, derandomized) so that `make test` stays fast
and repeatable; the service holds a store so that every operation can succeed. Every operation is
driven with positive data (which the server must accept: 2xx, or a documented 404/409/429) and with
negative data (which it must reject with a 4xx), and the OpenAPI links are followed statefully
(store events, then read or delete the user's history). The operations are driven through
hypothesis directly (schemathesis's pytest plugin does not load under this pytest).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from whyrec.serve import create_app

schemathesis = pytest.importorskip("schemathesis")
EXAMPLES = {"positive": 40, "negative": 20}
SETTINGS = {"derandomize": True, "deadline": None, "database": None, "suppress_health_check": list(HealthCheck)}


@pytest.fixture(scope="module")
def schema(small_model, tmp_path_factory):
    store = tmp_path_factory.mktemp("schema") / "events.db"
    app = create_app({"shop": small_model}, store=store, slow_workers=0, explain_timeout=60)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_every_operation_conforms(schema, mode):
    failures, operations, calls, unsatisfiable = [], 0, [0], []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode)))
        @settings(max_examples=EXAMPLES[mode], **SETTINGS)
        def check(case):
            calls[0] += 1
            case.call_and_validate()  # every check schemathesis has, positive data acceptance included

        try:
            check()
        except Unsatisfiable:  # an operation without inputs has no negative data to send
            unsatisfiable.append(operation.path)
        except BaseException as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1200]}")
    assert not failures, "\n\n".join(failures)
    assert operations >= 12 and calls[0] >= (operations - len(unsatisfiable)) * 5  # really exercised
    if mode == "positive":
        assert not unsatisfiable
    else:  # only the operations that take no input at all
        assert set(unsatisfiable) <= {"/health", "/metrics", "/users/{user_id}/events"}


@pytest.mark.slow
def test_the_links_are_followed_statefully(small_model, tmp_path):
    from fastapi.testclient import TestClient

    app = create_app({"shop": small_model}, store=tmp_path / "events.db", slow_workers=0, explain_timeout=60)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    machine = schema.as_state_machine()  # random walks along the links, every check at each step
    machine.run(settings=settings(max_examples=40, stateful_step_count=6, **SETTINGS))
    # and the chain the links promise, followed by hand: list items, record an event, read, delete
    paths = schema.raw_schema["paths"]
    record = paths["/items"]["get"]["responses"]["200"]["links"]["RecordEvent"]
    after = paths["/events"]["post"]["responses"]["201"]["links"]
    assert record["operationId"] == "post_events"
    assert {link["operationId"] for link in after.values()} == {"user_history", "delete_user_events"}
    # on a store of its own: the random walk above may have recorded events for the same user
    chain = create_app({"shop": small_model}, store=tmp_path / "chain.db", slow_workers=0, explain_timeout=60)
    with TestClient(chain) as client:
        items = client.get("/items", params={"limit": 3}).json()
        body = {"events": [{**record["requestBody"]["events"][0], "item_id": items["items"][0]["item_id"]}]}
        stored = client.post("/events", json=body)
        assert stored.status_code == 201
        user = stored.json()["users"][0]  # $response.body#/users/0
        history = client.get(f"/users/{user}/history")
        assert history.status_code == 200 and history.json()["events"][0]["item_id"] == items["items"][0]["item_id"]
        deleted = client.delete(f"/users/{user}/events")
        assert deleted.status_code == 200 and deleted.json()["deleted"] == 1
        for response, path, method in (
            (history, "/users/{user_id}/history", "GET"),
            (deleted, "/users/{user_id}/events", "DELETE"),
        ):
            schema[path][method].validate_response(response)  # the answers the links lead to match the spec
