"""Liveness always answers; readiness needs Redis and a worker heartbeat of the last few seconds (`app.liveness`)."""

from __future__ import annotations

import redis
from rq import Worker

from app.jobs import make_queue
from app.liveness import WORKERS_ALIVE_KEY, beat, live_workers, redis_now


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok", "workers": None}


def test_readyz_needs_a_fresh_heartbeat_not_rq_worker_set_membership(client, redis_client: redis.Redis,
                                                                     live_worker: str):
    redis_client.zrem(WORKERS_ALIVE_KEY, live_worker)  # the API tests' stand-in worker: gone
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["error"]["code"] == "no_workers"

    # A worker RQ still lists (a SIGKILLed worker never unregisters) but that does not beat: not ready.
    dead = Worker([make_queue(redis_client)], connection=redis_client)
    dead.register_birth()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["error"]["code"] == "no_workers"

    beat(redis_client, "w1")
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json() == {"status": "ready", "workers": 1}

    # Its last beat 6 s ago: gone.
    redis_client.zadd(WORKERS_ALIVE_KEY, {"w1": redis_now(redis_client) - 6})
    assert live_workers(redis_client) == 0 and live_workers(redis_client, max_age_s=10) == 1
    assert client.get("/readyz").status_code == 503
