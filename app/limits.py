"""Per-key limits: jobs in flight and upload bytes per UTC day (Redis counter that expires after two days)."""

from __future__ import annotations

from datetime import UTC, datetime

import redis

from app.config import Settings
from app.contracts import KEY_PREFIX
from app.errors import ApiError
from app.jobs import jobs_in_flight


def _bytes_key(owner: str) -> str:
    return f"{KEY_PREFIX}owner:{owner}:bytes:{datetime.now(UTC):%Y%m%d}"


def check_jobs_in_flight(client: redis.Redis, owner: str, settings: Settings) -> None:
    if jobs_in_flight(client, owner) >= settings.MAX_JOBS_IN_FLIGHT:
        raise ApiError(
            429,
            "too_many_jobs",
            f"this key already has {settings.MAX_JOBS_IN_FLIGHT} jobs queued or running; wait for one",
            headers={"Retry-After": "30"},
        )


def reserve_upload_bytes(client: redis.Redis, owner: str, nbytes: int, settings: Settings) -> str:
    """Count `nbytes` against today's allowance (429 "upload_quota_exceeded"); returns its counter."""
    key = _bytes_key(owner)
    total = int(client.incrby(key, nbytes))
    client.expire(key, 2 * 24 * 3600)
    if total > settings.MAX_UPLOAD_BYTES_PER_KEY_PER_DAY:
        client.decrby(key, nbytes)
        raise ApiError(
            429,
            "upload_quota_exceeded",
            f"this key may upload {settings.MAX_UPLOAD_BYTES_PER_KEY_PER_DAY} bytes a day; try tomorrow",
        )
    return key


def refund_upload_bytes(client: redis.Redis, counter_key: str, nbytes: int) -> None:
    client.decrby(counter_key, nbytes)
