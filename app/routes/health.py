"""`GET /healthz` (the process answers) and `GET /readyz` (Redis answers and a worker is alive now)."""

from __future__ import annotations

import redis
from fastapi import APIRouter

from app.deps import RedisDep
from app.errors import ApiError
from app.liveness import live_workers
from app.schemas import ErrorBody, Health

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the API process answers", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", summary="Readiness: Redis answers and a worker is alive", response_model=Health,
            responses={503: {"model": ErrorBody}})
def readyz(client: RedisDep) -> Health:
    """Ready: Redis answers and at least one worker sent a heartbeat in the last few seconds (`app.liveness`)."""
    try:
        workers = live_workers(client)
    except redis.RedisError as exc:
        raise ApiError(503, "redis_unavailable", f"Redis does not answer: {type(exc).__name__}") from exc
    if workers == 0:
        raise ApiError(503, "no_workers", "no worker is alive (no heartbeat in the last seconds); start `v2v worker`")
    return Health(status="ready", workers=workers)
