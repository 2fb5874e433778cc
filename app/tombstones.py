"""Deleted jobs stay deleted: `DELETE /v1/jobs/{id}` leaves a tombstone key the worker checks before it writes.

The API sets the tombstone before it removes the job's record and folder. A worker still running the job sees it
between frames (it stops, as on cancel), never saves the job's meta, result or failure while it exists, and
removes whatever the run wrote after the delete (`workers.worker`). The key expires after `ttl_s`.
"""

from __future__ import annotations

import redis

from app.contracts import KEY_PREFIX


def deleted_key(job_id: str) -> str:
    """Redis key whose presence says job `job_id` was deleted by its owner."""
    return f"{KEY_PREFIX}deleted:{job_id}"


def mark_deleted(client: redis.Redis, job_id: str, ttl_s: int) -> None:
    client.set(deleted_key(job_id), "1", ex=ttl_s)


def is_deleted(client: redis.Redis, job_id: str) -> bool:
    return bool(client.exists(deleted_key(job_id)))
