"""The app factory: every error in one JSON shape, unexpected errors are a logged 500, docs are served."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app


def test_unknown_route_and_wrong_method_use_the_error_shape(client: TestClient):
    response = client.get("/v1/nothing")
    assert response.status_code == 404 and response.json() == {
        "error": {"code": "not_found", "message": "Not Found"}
    }
    response = client.put("/v1/models")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


def test_validation_error_is_422_invalid_request(client: TestClient, auth):
    response = client.get("/v1/jobs?limit=0", headers=auth)
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"
    assert "limit" in response.json()["error"]["message"]


def test_a_job_sent_as_json_is_told_to_use_form_fields(client: TestClient, auth):
    response = client.post("/v1/jobs", json={"model": "street"}, headers=auth)
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"
    message = response.json()["error"]["message"]
    assert "body.model" in message and "application/json" in message and "multipart/form-data" in message
    as_form = client.post("/v1/jobs", data={"options": "{}"}, headers=auth)  # a form without `model`: no hint
    assert as_form.status_code == 422 and "multipart" not in as_form.json()["error"]["message"]


def test_unexpected_exception_is_500_internal_without_details(settings: Settings):
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal", "message": "internal server error"}}


def test_declared_oversized_body_is_refused_before_reading(client: TestClient, auth):
    response = client.post(
        "/v1/jobs",
        content=b"x" * 10,
        headers={**auth, "Content-Length": str(10**10), "Content-Type": "text/plain"},
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "upload_too_large"


def test_openapi_docs_are_served(client: TestClient):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/result", "/v1/models", "/readyz"} <= set(
        paths
    )


def test_redis_down_is_503_not_500(settings: Settings, auth):
    down = Settings(**{**settings.model_dump(), "REDIS_URL": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(down), raise_server_exceptions=False) as client:
        response = client.get("/v1/jobs", headers=auth)
    assert response.status_code == 503 and response.json()["error"]["code"] == "service_unavailable"
