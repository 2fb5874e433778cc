"""A bounded schemathesis run against the OpenAPI schema, in process (ASGI): no request may produce a 5xx."""

from __future__ import annotations

import redis
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

EXAMPLES_PER_OPERATION = 8


def test_no_generated_request_is_a_server_error(
    client: TestClient, auth: dict[str, str], redis_client: redis.Redis
):
    # `client` comes with a live worker heartbeat: /readyz 200; its 503 is tested in routes/test_health.py.
    # `client` ran the lifespan (Redis pool); schemathesis calls the same app object in process.
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9

    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers=auth)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}"
                )

        check()
    assert failures == []
