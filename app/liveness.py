"""Which workers are alive now: a heartbeat each worker process writes, read by `/readyz` and the submit path.

Every worker process writes its name into the sorted set `WORKERS_ALIVE_KEY` with the Redis server's clock as the
score, every `BEAT_EVERY_S` seconds, from a thread that runs whatever the worker is doing (idle or mid-job). A
worker that died, hangs in its start-up or cannot reach Redis stops beating and drops out after `max_age_s`.
RQ's own worker set is not used: only a live worker removes itself from it, so it still counts the dead.
"""

from __future__ import annotations

import json
from collections import Counter

import redis

from app.contracts import KEY_PREFIX

WORKERS_ALIVE_KEY = f"{KEY_PREFIX}workers:alive"
"""Sorted set: worker name -> time of its last heartbeat (Redis server time, seconds)."""

WORKERS_INFO_KEY = f"{KEY_PREFIX}workers:info"
"""Hash: worker name -> JSON {"device", "precision"} of what it serves on (published with every beat)."""

APIS_ALIVE_KEY = f"{KEY_PREFIX}apis:alive"
"""The same for API processes (each beats while it serves; `app.limits` recovers the submits of dead ones)."""

BEAT_EVERY_S = 1.0
"""How often a worker beats."""

DEFAULT_MAX_AGE_S = 5.0
"""A worker whose last beat is older than this is not alive (several missed beats)."""

FORGET_AFTER_S = 24 * 3600.0
"""Beats older than this are removed by the workers (bookkeeping only)."""


def redis_now(client: redis.Redis) -> float:
    """The Redis server's clock, so workers on other machines and the API agree on ages."""
    seconds, micros = client.time()
    return float(seconds) + micros / 1e6


def beat(client: redis.Redis, worker_name: str, key: str = WORKERS_ALIVE_KEY) -> None:
    """Record that `worker_name` (in the set `key`) is alive now (called every BEAT_EVERY_S)."""
    now = redis_now(client)
    with client.pipeline(transaction=False) as pipe:
        pipe.zadd(key, {worker_name: now})
        pipe.zremrangebyscore(key, "-inf", now - FORGET_AFTER_S)
        pipe.execute()


def forget(client: redis.Redis, worker_name: str, key: str = WORKERS_ALIVE_KEY) -> None:
    """A process that stops cleanly says so at once."""
    client.zrem(key, worker_name)
    if key == WORKERS_ALIVE_KEY:
        client.hdel(WORKERS_INFO_KEY, worker_name)


def publish_worker_info(client: redis.Redis, worker_name: str, info: dict[str, str]) -> None:
    """What a worker serves on (device, precision), for `GET /v1/models`."""
    client.hset(WORKERS_INFO_KEY, worker_name, json.dumps(info, sort_keys=True))


def serving_summary(client: redis.Redis, max_age_s: float = DEFAULT_MAX_AGE_S) -> list[dict[str, object]]:
    """The live workers grouped by what they serve on: [{"device", "precision", "workers"}]; forgets the info of
    workers that are gone from the heartbeat set."""
    alive = {m.decode() for m in client.zrangebyscore(WORKERS_ALIVE_KEY, redis_now(client) - max_age_s, "+inf")}
    known = {k.decode(): v for k, v in client.hgetall(WORKERS_INFO_KEY).items()}
    gone = [name for name in known if client.zscore(WORKERS_ALIVE_KEY, name) is None]
    if gone:
        client.hdel(WORKERS_INFO_KEY, *gone)
    groups = Counter(known[name] for name in alive if name in known)
    return [{**json.loads(info), "workers": count} for info, count in sorted(groups.items())]


def is_alive(client: redis.Redis, worker_name: str, max_age_s: float = DEFAULT_MAX_AGE_S,
             key: str = WORKERS_ALIVE_KEY) -> bool:
    """True if `worker_name` beat (in the set `key`) within the last `max_age_s` seconds."""
    score = client.zscore(key, worker_name)
    return score is not None and float(score) >= redis_now(client) - max_age_s


def live_workers(client: redis.Redis, max_age_s: float = DEFAULT_MAX_AGE_S) -> int:
    """How many worker processes beat within the last `max_age_s` seconds. Raises redis.RedisError when Redis
    does not answer (callers turn that into 503 "redis_unavailable")."""
    return int(client.zcount(WORKERS_ALIVE_KEY, redis_now(client) - max_age_s, "+inf"))
