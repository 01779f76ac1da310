"""The OpenAPI schema is the truth: schemathesis, every check, against the running app.

Bounded (a fixed number of examples per operation, derandomized) so that `make test` stays fast
and repeatable; the service holds a store so that every operation can succeed. The operations are
driven through hypothesis directly (schemathesis's pytest plugin does not load under this pytest).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from whyrec.serve import create_app

schemathesis = pytest.importorskip("schemathesis")
EXAMPLES = 30


@pytest.mark.slow
def test_every_operation_conforms(small_model, tmp_path):
    app = create_app({"shop": small_model}, store=tmp_path / "events.db", slow_workers=0, explain_timeout=60)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures, operations, calls = [], 0, [0]
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            calls[0] += 1
            case.call_and_validate()

        try:
            check()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1200]}")
    assert operations >= 12 and calls[0] >= operations * 10  # every operation really exercised
    assert not failures, "\n\n".join(failures)
