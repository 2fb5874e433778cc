"""/docs and /redoc load nothing from the internet; the OpenAPI schema documents the real error body everywhere
(422 included) and every operation has a written summary."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

ERROR_REF = "#/components/schemas/ErrorBody"


def test_docs_pages_use_only_local_assets(client: TestClient):
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
        urls += re.findall(r"""(?:url|js_url|openapi_url)\s*[:=]\s*["']([^"']+)["']""", html)
        assert urls, page
        assert not re.search(r"https?://", html.replace("http://www.w3.org", "")), f"{page} loads from the internet"
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200 and len(response.content) > 100, (page, url)
    assert client.get("/static/docs/swagger-ui-bundle.js").headers["content-type"].startswith(
        ("application/javascript", "text/javascript"))


def test_schema_documents_the_error_body_and_summaries(client: TestClient):
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components and "ErrorBody" in components
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            summary = operation.get("summary", "")
            auto = operation["operationId"].split("_")[0].replace("_", " ").title()
            assert summary and summary != auto and len(summary.split()) >= 2, (method, path, summary)
            for code, response in operation["responses"].items():
                if code[0] in "45":
                    assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (path, code)
            assert "500" in operation["responses"]
    create = schema["paths"]["/v1/jobs"]["post"]["responses"]
    assert {"400", "401", "413", "422", "429", "503"} <= set(create)


def test_a_real_422_has_the_documented_shape(client: TestClient, auth):
    response = client.get("/v1/jobs", params={"limit": 0}, headers=auth)
    assert response.status_code == 422
    assert set(response.json()) == {"error"} and response.json()["error"]["code"] == "invalid_request"
