"""`GET /healthz` (the process answers) and `GET /readyz` (Redis answers, a worker listens)."""

from __future__ import annotations

import redis
from fastapi import APIRouter
from rq import Worker

from app.deps import QueueDep, RedisDep
from app.errors import ApiError
from app.schemas import ErrorBody, Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": ErrorBody}})
def readyz(client: RedisDep, queue: QueueDep) -> Health:
    try:
        client.ping()
        workers = Worker.count(connection=client, queue=queue)
    except redis.RedisError as exc:
        raise ApiError(503, "redis_unavailable", f"Redis does not answer: {type(exc).__name__}") from exc
    if workers == 0:
        raise ApiError(503, "no_workers", "no worker is listening on the job queue; start `v2v worker`")
    return Health(status="ready", workers=workers)
