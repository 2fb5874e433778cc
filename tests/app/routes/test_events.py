"""`GET /v1/jobs/{id}/events`: server-sent events from queued to done, written the way the worker writes job meta;
`v2v wait` follows them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis
from fastapi.testclient import TestClient
from rq.job import Job
from rq.job import JobStatus as RqStatus
from rq.serializers import JSONSerializer

from app.auth import create_api_key
from app.main import create_app
from cli import client as cli_client


@pytest.fixture()
def fast_client(settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"EVENTS_INTERVAL_S": 0.05}))) as test_client:
        yield test_client


def _parse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.split("\n\n"):
        lines = block.splitlines()
        names = [line[7:] for line in lines if line.startswith("event: ")]
        data = [line[6:] for line in lines if line.startswith("data: ")]
        if names and data:
            events.append((names[0], json.loads(data[0])))
    return events


def _work(redis_url: str, job_id: str, frames: int, final: RqStatus = RqStatus.FINISHED) -> threading.Thread:
    """What the worker does to a job's record: started, progress meta every frame, then the end."""

    def run() -> None:
        client = redis.Redis.from_url(redis_url)
        time.sleep(0.3)
        job = Job.fetch(job_id, connection=client, serializer=JSONSerializer)
        job.started_at = datetime.now(UTC)
        job.save()
        job.set_status(RqStatus.STARTED)
        for done in range(1, frames + 1):
            time.sleep(0.2)
            job.meta["progress"] = {"frames_done": done, "frames_total": frames}
            job.save_meta()
        time.sleep(0.2)
        job.set_status(final)
        client.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _submit(client: TestClient, auth, seg_mp4, frames: int = 3) -> str:
    response = client.post("/v1/jobs", data={"model": "street", "options": json.dumps({"max_frames": frames})},
                           files={"video": ("v.mp4", seg_mp4.read_bytes(), "video/mp4")}, headers=auth)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def test_events_from_queued_to_done(fast_client: TestClient, auth, seg_mp4, redis_url):
    job_id = _submit(fast_client, auth, seg_mp4)
    worker = _work(redis_url, job_id, 3)
    response = fast_client.get(f"/v1/jobs/{job_id}/events", headers=auth)
    worker.join()
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = _parse(response.text)
    names = [name for name, _ in events]
    assert names[0] == "status" and events[0][1]["status"] == "queued"
    assert ("status", "running") in [(n, d["status"]) for n, d in events]
    progress = [d["progress"]["frames_done"] for n, d in events if n == "progress"]
    assert progress == sorted(progress) and progress[-1] == 3
    assert any(d["eta_s"] is not None and d["eta_s"] > 0 for n, d in events if n == "progress" and
               d["progress"]["frames_done"] < 3)
    assert names[-1] == "done" and events[-1][1]["status"] == "succeeded" and events[-1][1]["eta_s"] == 0
    assert names.count("done") == 1


def test_events_of_a_deleted_job_end_with_an_error_event(fast_client: TestClient, auth, seg_mp4):
    job_id = _submit(fast_client, auth, seg_mp4)
    threading.Timer(0.4, lambda: fast_client.delete(f"/v1/jobs/{job_id}", headers=auth)).start()
    events = _parse(fast_client.get(f"/v1/jobs/{job_id}/events", headers=auth).text)
    assert events[-1] == ("error", {"error": {"code": "not_found", "message": f"no job {job_id}"}})


def test_events_are_404_for_another_key_and_401_without_one(fast_client: TestClient, auth, seg_mp4, redis_client):
    job_id = _submit(fast_client, auth, seg_mp4)
    other = {"Authorization": f"Bearer {create_api_key(redis_client, 'other')[1]}"}
    assert fast_client.get(f"/v1/jobs/{job_id}/events", headers=other).json()["error"]["code"] == "not_found"
    assert fast_client.get(f"/v1/jobs/{job_id}/events").status_code == 401


def test_v2v_wait_follows_the_events(fast_client: TestClient, auth, seg_mp4, redis_url):
    job_id = _submit(fast_client, auth, seg_mp4)
    fast_client.headers.update(auth)
    worker = _work(redis_url, job_id, 2, final=RqStatus.FAILED)
    job = cli_client.wait(fast_client, job_id, interval=0.01, show_progress=False)
    worker.join()
    assert job["status"] == "failed" and "eta_s" in job  # the last event's data, not a poll
