"""Liveness always answers; readiness needs Redis and a registered rq worker on the queue."""

from __future__ import annotations

import redis
from rq import Worker

from app.jobs import make_queue


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok", "workers": None}


def test_readyz_is_503_without_a_worker_and_200_with_one(client, redis_client: redis.Redis):
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["error"]["code"] == "no_workers"

    worker = Worker([make_queue(redis_client)], connection=redis_client)
    worker.register_birth()
    try:
        response = client.get("/readyz")
        assert response.status_code == 200 and response.json() == {"status": "ready", "workers": 1}
    finally:
        worker.register_death()
