"""`GET /metrics`: Prometheus text format (`app.metrics`); optionally behind `V2V_METRICS_TOKEN`."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.errors import ApiError
from app.schemas import ErrorBody

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics (API, queue and every worker)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text exposition"},
               401: {"model": ErrorBody, "description": "unauthorized (only when V2V_METRICS_TOKEN is set)"}},
)
def metrics(request: Request, authorization: Annotated[str | None, Header()] = None) -> Response:
    """Jobs by status and error code, queue depth and wait, job and per-frame durations, frames/s per worker and
    device, worker liveness, upload bytes. Workers on any machine are included (they push through Redis).
    Unauthenticated unless `V2V_METRICS_TOKEN` is set (then `Authorization: Bearer <token>`)."""
    token = request.app.state.settings.METRICS_TOKEN
    if token and not hmac.compare_digest((authorization or "").encode(), f"Bearer {token}".encode()):
        raise ApiError(401, "unauthorized", "send `Authorization: Bearer <V2V_METRICS_TOKEN>`",
                       headers={"WWW-Authenticate": "Bearer"})
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
