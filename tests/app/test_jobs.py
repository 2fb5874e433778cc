"""Status mapping rq -> public, progress from worker meta, error codes, cancel queued/running."""

from __future__ import annotations

import pytest
import redis
from rq.job import Job
from rq.job import JobStatus as RqStatus
from rq.serializers import JSONSerializer

from app.contracts import cancel_key
from app.jobs import public_status
from app.schemas import JobStatus


@pytest.mark.parametrize(
    ("rq_status", "meta", "public"),
    [
        (RqStatus.QUEUED, {}, JobStatus.QUEUED),
        (RqStatus.SCHEDULED, {}, JobStatus.QUEUED),
        (RqStatus.DEFERRED, {}, JobStatus.QUEUED),
        (RqStatus.STARTED, {}, JobStatus.RUNNING),
        (RqStatus.FINISHED, {}, JobStatus.SUCCEEDED),
        (RqStatus.FAILED, {}, JobStatus.FAILED),
        (RqStatus.FAILED, {"canceled": True}, JobStatus.CANCELED),
        (RqStatus.FINISHED, {"canceled": True}, JobStatus.CANCELED),
        (RqStatus.CANCELED, {}, JobStatus.CANCELED),
        (RqStatus.STOPPED, {}, JobStatus.CANCELED),
    ],
)
def test_public_status_mapping(rq_status, meta, public):
    assert public_status(rq_status, meta) is public


def _job(redis_client: redis.Redis, job_id: str) -> Job:
    return Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer)


def test_progress_and_running_status_come_from_worker_writes(client, auth, submit, redis_client):
    job_id = submit(auth)
    job = _job(redis_client, job_id)
    job.set_status(RqStatus.STARTED)
    job.meta["progress"] = {"frames_done": 3, "frames_total": 6}
    job.save_meta()

    body = client.get(f"/v1/jobs/{job_id}", headers=auth).json()

    assert body["status"] == "running"
    assert body["progress"] == {"frames_done": 3, "frames_total": 6}
    assert body["error"] is None and body["created_at"]
    assert body["links"] == {
        "self": f"/v1/jobs/{job_id}",
        "result": f"/v1/jobs/{job_id}/result",
        "frames": f"/v1/jobs/{job_id}/frames",
        "cancel": f"/v1/jobs/{job_id}/cancel",
        "results": [f"/v1/jobs/{job_id}/result?sample=0"],
    }
    assert body["kind"] == "translate" and body["samples"] == 1


def test_failed_job_shows_worker_error_without_traceback(client, auth, submit, redis_client):
    job_id = submit(auth)
    job = _job(redis_client, job_id)
    job.meta["error"] = {"code": "bad_labels", "message": "frame 3 could not be decoded"}
    job.save_meta()
    job.set_status(RqStatus.FAILED)

    body = client.get(f"/v1/jobs/{job_id}", headers=auth).json()

    assert body["status"] == "failed"
    assert body["error"] == {"code": "bad_labels", "message": "frame 3 could not be decoded"}


def test_failed_job_without_meta_error_gets_generic_code(client, auth, submit, redis_client):
    job_id = submit(auth)
    _job(redis_client, job_id).set_status(RqStatus.FAILED)
    body = client.get(f"/v1/jobs/{job_id}", headers=auth).json()
    assert body["error"]["code"] == "job_failed" and "Traceback" not in body["error"]["message"]


def test_cancel_queued_job_cancels_it_at_once(client, auth, submit, redis_client):
    job_id = submit(auth)
    response = client.post(f"/v1/jobs/{job_id}/cancel", headers=auth)
    assert response.status_code == 200 and response.json()["status"] == "canceled"
    assert redis_client.llen("rq:queue:gpu") == 0
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=auth).json()["status"] == "canceled"  # idempotent


def test_cancel_running_job_sets_the_cancel_key(client, auth, submit, redis_client, settings):
    job_id = submit(auth)
    _job(redis_client, job_id).set_status(RqStatus.STARTED)

    body = client.post(f"/v1/jobs/{job_id}/cancel", headers=auth).json()

    assert body["status"] == "running" and body["cancel_requested"] is True
    assert 0 < redis_client.ttl(cancel_key(job_id)) <= settings.CANCEL_TTL_S
    job = _job(redis_client, job_id)
    job.meta["canceled"] = True  # what the worker writes when it stops
    job.save_meta()
    job.set_status(RqStatus.FAILED)
    assert client.get(f"/v1/jobs/{job_id}", headers=auth).json()["status"] == "canceled"
