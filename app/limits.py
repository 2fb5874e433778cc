"""Per-key limits, race-free: jobs in flight and upload bytes per UTC day, checked and reserved in one step.

A submit reserves a slot in the owner's in-flight set (`v2v:owner:<key_id>:inflight`, a sorted set of job ids
scored by reservation time) and its bytes in today's counter (expires after two days) in one Lua script, so N
concurrent submits against a limit of k get exactly k slots. A refused or failed submit releases both. A slot
is released lazily: before reserving, the owner's set is reconciled against the jobs' rq statuses (a job that
ended, or whose record is gone, no longer counts; a reservation without a record counts until it is
`RESERVATION_GRACE_S` old, which covers the time a submit spends probing before it enqueues).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from rq.job import Job
from rq.serializers import JSONSerializer

from app.config import Settings
from app.contracts import KEY_PREFIX
from app.errors import ApiError
from app.jobs import inflight_key, public_status
from app.schemas import TERMINAL

RESERVATION_GRACE_S = 600
BYTES_COUNTER_TTL_S = 2 * 24 * 3600

_RESERVE = """
-- KEYS[1]: owner's in-flight zset; KEYS[2]: owner's bytes counter for today
-- ARGV: job_id, now, max_jobs, nbytes, max_bytes, counter_ttl
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return -1
end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if used + tonumber(ARGV[4]) > tonumber(ARGV[5]) then
  return -2
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('INCRBY', KEYS[2], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return 1
"""


@dataclass(frozen=True)
class Reservation:
    """What `reserve` took for one job: release it if the job is not queued after all."""

    owner: str
    job_id: str
    counter_key: str
    nbytes: int


def bytes_key(owner: str) -> str:
    return f"{KEY_PREFIX}owner:{owner}:bytes:{datetime.now(UTC):%Y%m%d}"


def reconcile_in_flight(client: redis.Redis, owner: str, now: float | None = None) -> int:
    """Drop ended (or vanished and stale) jobs from the owner's in-flight set; returns how many remain."""
    now = time.time() if now is None else now
    key = inflight_key(owner)
    members = [(m.decode(), score) for m, score in client.zrange(key, 0, -1, withscores=True)]
    if not members:
        return 0
    jobs = Job.fetch_many([m for m, _ in members], connection=client, serializer=JSONSerializer)
    ended = []
    for (job_id, reserved_at), job in zip(members, jobs, strict=True):
        if job is None:
            if reserved_at < now - RESERVATION_GRACE_S:
                ended.append(job_id)
        elif public_status(job.get_status(refresh=False), job.meta) in TERMINAL:
            ended.append(job_id)
    if ended:
        client.zrem(key, *ended)
    return len(members) - len(ended)


def reserve(client: redis.Redis, owner: str, job_id: str, nbytes: int, settings: Settings) -> Reservation:
    """Atomically take a job slot and `nbytes` of today's allowance, or raise 429.

    Codes: "too_many_jobs" (MAX_JOBS_IN_FLIGHT queued or running) and "upload_quota_exceeded".
    """
    reconcile_in_flight(client, owner)
    counter = bytes_key(owner)
    outcome = int(
        client.eval(  # type: ignore[no-untyped-call]
            _RESERVE,
            2,
            inflight_key(owner),
            counter,
            job_id,
            time.time(),
            settings.MAX_JOBS_IN_FLIGHT,
            nbytes,
            settings.MAX_UPLOAD_BYTES_PER_KEY_PER_DAY,
            BYTES_COUNTER_TTL_S,
        )
    )
    if outcome == -1:
        raise ApiError(
            429,
            "too_many_jobs",
            f"this key already has {settings.MAX_JOBS_IN_FLIGHT} jobs queued or running; wait for one",
            headers={"Retry-After": "30"},
        )
    if outcome == -2:
        raise ApiError(
            429,
            "upload_quota_exceeded",
            f"this key may upload {settings.MAX_UPLOAD_BYTES_PER_KEY_PER_DAY} bytes a day; try tomorrow",
        )
    return Reservation(owner=owner, job_id=job_id, counter_key=counter, nbytes=nbytes)


def release(client: redis.Redis, reservation: Reservation) -> None:
    """Give back a reservation whose job was not queued (refused upload, failed enqueue)."""
    pipe = client.pipeline(transaction=True)
    pipe.zrem(inflight_key(reservation.owner), reservation.job_id)
    if reservation.nbytes:
        pipe.decrby(reservation.counter_key, reservation.nbytes)
    pipe.execute()
