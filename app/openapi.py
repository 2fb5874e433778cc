"""The API's docs without internet and an OpenAPI schema that tells the truth about errors.

- `/docs` (Swagger UI) and `/redoc` (ReDoc) load their scripts, styles and icon from `/static/docs/`, the assets
  the `fastapi-offline` wheel ships (MIT), instead of a CDN; ReDoc without Google Fonts.
- Every 4xx/5xx response in the schema is the one error body `{"error": {"code", "message"}}` (`ErrorBody`),
  including 422 (FastAPI would document its own `HTTPValidationError`, which this API never sends); operations that
  need a key document 401, operations with parameters or a body 422, and every operation 500 (`internal`) and, where
  it reads Redis, 503.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.schemas import ErrorBody

STATIC_PREFIX = "/static/docs"
_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_DEFAULTS = {
    "401": "unauthorized: missing or invalid API key",
    "422": "invalid_request: a parameter or form field has the wrong type or is missing",
    "500": "internal: a bug (never expected)",
    "503": "service_unavailable / redis_unavailable: the job store is down; retry shortly",
}


def docs_assets() -> Path:
    """The folder of Swagger UI and ReDoc assets inside the fastapi-offline wheel."""
    return Path(str(files("fastapi_offline") / "static"))


def _error_content() -> dict[str, Any]:
    return {"application/json": {"schema": _ERROR_REF}}


def error_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite `schema` in place so every error response is ErrorBody (see the module docstring)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(body.pop("$defs", {}))
    components["ErrorBody"] = body
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if operation.get("security"):
                responses.setdefault("401", {"description": _DEFAULTS["401"]})
            if operation.get("parameters") or operation.get("requestBody") or "422" in responses:
                responses["422"] = {"description": _DEFAULTS["422"]}
            responses.setdefault("500", {"description": _DEFAULTS["500"]})
            if path.startswith("/v1/") or path in ("/readyz", "/metrics"):
                responses.setdefault("503", {"description": _DEFAULTS["503"]})
            for code, response in responses.items():
                if code[0] in "45":
                    response["content"] = _error_content()
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def install_docs(app: FastAPI) -> None:
    """Offline /docs and /redoc, and the error-truthful schema at /openapi.json (create the app with
    docs_url=None and redoc_url=None)."""
    app.mount(STATIC_PREFIX, StaticFiles(directory=docs_assets()), name="docs-static")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = error_schema(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes,
                tags=app.openapi_tags))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    title = app.title

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{title}: API docs",
            oauth2_redirect_url="/docs/oauth2-redirect", swagger_js_url=f"{STATIC_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_PREFIX}/swagger-ui.css", swagger_favicon_url=f"{STATIC_PREFIX}/favicon.png")

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{title}: API reference",
            redoc_js_url=f"{STATIC_PREFIX}/redoc.standalone.js", redoc_favicon_url=f"{STATIC_PREFIX}/favicon.png",
            with_google_fonts=False)
