"""Per-key limits, race-free: jobs in flight and upload bytes per UTC day, checked and reserved in one step.

A submit reserves a slot in the owner's in-flight set (`v2v:owner:<key_id>:inflight`, a sorted set of job ids
scored by reservation time) and its bytes in today's counter (expires after two days) in one Lua script, so N
concurrent submits against a limit of k get exactly k slots. A refused or failed submit releases both. A slot
is released lazily: before reserving, the owner's set is reconciled against the jobs' rq statuses (a job that
ended, or whose record is gone, no longer counts; a reservation without a record counts until it is
`RESERVATION_GRACE_S` old, which covers the time a submit spends probing before it enqueues).

Crash safety: the same script journals the reservation in `PENDING_SUBMITS_KEY` under the name of the API process
that took it (each API process beats in `app.liveness.APIS_ALIVE_KEY` while it serves). A submit that ends, queued
(`settle`) or refused (`release`), removes its entry. An API process killed mid-submit (e.g. while copying an upload)
leaves its entry behind: `recover_abandoned` (run by every API process, also at start-up) gives such a reservation's
slot and bytes back and removes the partial job folder, once its process has stopped beating. Each step is one Lua
script, so two API processes never give the same bytes back twice.
"""

from __future__ import annotations

import json
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
from app.liveness import APIS_ALIVE_KEY, is_alive
from app.schemas import TERMINAL
from app.storage import MediaStorage

RESERVATION_GRACE_S = 600
BYTES_COUNTER_TTL_S = 2 * 24 * 3600
PENDING_SUBMITS_KEY = f"{KEY_PREFIX}submits:pending"
"""Hash: job id -> JSON {owner, counter_key, nbytes, api} of every submit between reserve and settle/release."""

_RESERVE = """
-- KEYS[1]: owner's in-flight zset; KEYS[2]: owner's bytes counter for today; KEYS[3]: pending submits hash
-- ARGV: job_id, now, max_jobs, nbytes, max_bytes, counter_ttl, journal entry
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
redis.call('HSET', KEYS[3], ARGV[1], ARGV[7])
return 1
"""

_GIVE_BACK = """
-- KEYS[1]: pending submits hash; KEYS[2]: owner's in-flight zset; KEYS[3]: the bytes counter
-- ARGV: job_id, nbytes. Only the caller that removes the journal entry gives anything back.
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
if tonumber(ARGV[2]) > 0 then
  redis.call('DECRBY', KEYS[3], ARGV[2])
end
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


def reserve(client: redis.Redis, owner: str, job_id: str, nbytes: int, settings: Settings, api_name: str
            ) -> Reservation:
    """Atomically take a job slot and `nbytes` of today's allowance, or raise 429; journaled under `api_name` (the
    calling API process) until `settle` or `release`.

    Codes: "too_many_jobs" (MAX_JOBS_IN_FLIGHT queued or running) and "upload_quota_exceeded".
    """
    reconcile_in_flight(client, owner)
    counter = bytes_key(owner)
    outcome = int(
        client.eval(  # type: ignore[no-untyped-call]
            _RESERVE,
            3,
            inflight_key(owner),
            counter,
            PENDING_SUBMITS_KEY,
            job_id,
            time.time(),
            settings.MAX_JOBS_IN_FLIGHT,
            nbytes,
            settings.MAX_UPLOAD_BYTES_PER_KEY_PER_DAY,
            BYTES_COUNTER_TTL_S,
            json.dumps({"owner": owner, "counter_key": counter, "nbytes": nbytes, "api": api_name}),
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


def settle(client: redis.Redis, reservation: Reservation) -> None:
    """The job is queued: its reservation now lives with the job (released when it ends); drop the journal entry."""
    client.hdel(PENDING_SUBMITS_KEY, reservation.job_id)


def release(client: redis.Redis, reservation: Reservation) -> None:
    """Give back a reservation whose job was not queued (refused upload, failed enqueue)."""
    _give_back(client, reservation.job_id, reservation.owner, reservation.counter_key, reservation.nbytes)


def _give_back(client: redis.Redis, job_id: str, owner: str, counter_key: str, nbytes: int) -> bool:
    return bool(client.eval(  # type: ignore[no-untyped-call]
        _GIVE_BACK, 3, PENDING_SUBMITS_KEY, inflight_key(owner), counter_key, job_id, nbytes))


def recover_abandoned(client: redis.Redis, storage: MediaStorage, dead_after_s: float, skip: str = "") -> list[str]:
    """Give back the reservations of submits whose API process died mid-submit, and remove their partial job
    folders; returns their job ids. A job that was queued before its process died keeps its slot (only the journal
    entry goes). An API process is dead when it has not beaten for `dead_after_s` (several missed beats, so a short
Redis blip is not a death). `skip`: the calling API process (its own submits are never abandoned while it runs)."""
    recovered = []
    for raw_id, raw_entry in client.hgetall(PENDING_SUBMITS_KEY).items():
        job_id, entry = raw_id.decode(), json.loads(raw_entry)
        api = str(entry["api"])
        if api == skip or is_alive(client, api, max_age_s=dead_after_s, key=APIS_ALIVE_KEY):
            continue
        if Job.exists(job_id, connection=client):
            client.hdel(PENDING_SUBMITS_KEY, job_id)
            continue
        if _give_back(client, job_id, str(entry["owner"]), str(entry["counter_key"]), int(entry["nbytes"])):
            storage.remove_job(job_id)
            recovered.append(job_id)
    return recovered
