"""Idempotent create: `POST /v1/jobs` with an `Idempotency-Key` header makes at most one job per key and caller.

The first request claims `v2v:owner:<key_id>:idem:<sha256(header)>` ("pending") with SET NX; when its job is
queued the claim holds the job id for `IDEMPOTENCY_TTL_S`. A repeat gets the same job back (200, header
`Idempotent-Replayed: true`) whatever its body; a repeat while the first is still uploading gets 409
`idempotency_in_progress`; a refused first request frees the key, so a corrected retry can use it again.
"""

from __future__ import annotations

import hashlib

import redis

from app.contracts import KEY_PREFIX
from app.errors import ApiError

MAX_KEY_LENGTH = 255
PENDING = b"pending"


def _key(owner: str, header: str) -> str:
    return f"{KEY_PREFIX}owner:{owner}:idem:{hashlib.sha256(header.encode()).hexdigest()}"


def claim(client: redis.Redis, owner: str, header: str, ttl_s: int) -> str | None:
    """None: the caller owns the key now and makes the job; else the id of the job made earlier with it."""
    if not header or len(header) > MAX_KEY_LENGTH:
        raise ApiError(400, "bad_idempotency_key", f"Idempotency-Key must be 1..{MAX_KEY_LENGTH} characters")
    key = _key(owner, header)
    if client.set(key, PENDING, nx=True, ex=ttl_s):
        return None
    value = client.get(key)
    if value is None:  # expired between the two calls: claim again
        return claim(client, owner, header, ttl_s)
    if value == PENDING:
        raise ApiError(409, "idempotency_in_progress", "a request with this Idempotency-Key is still being "
                                                       "processed; retry in a moment")
    return value.decode()


def settle(client: redis.Redis, owner: str, header: str, job_id: str, ttl_s: int) -> None:
    client.set(_key(owner, header), job_id, ex=ttl_s)


def release(client: redis.Redis, owner: str, header: str) -> None:
    client.delete(_key(owner, header))
