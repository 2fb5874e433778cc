"""Retention on a running API: its periodic sweeper removes expired job folders (uploads and results) and
records, keeps fresh and still-queued jobs; DELETE removes a job's files at once."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import redis
from rq.job import Job
from rq.job import JobStatus as RqStatus
from rq.serializers import JSONSerializer

from app.auth import create_api_key


def _finish(redis_client: redis.Redis, media_root: Path, job_id: str) -> None:
    (media_root / "jobs" / job_id / "result.mp4").write_bytes(b"\x00" * 1000)
    Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer).set_status(RqStatus.FINISHED)


def _age(folder: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(folder, (past, past))


def test_the_api_sweeper_expires_old_jobs_and_keeps_fresh_ones(
    start_api, redis_url: str, redis_client: redis.Redis, seg_mp4: Path, media_root: Path
):
    _, token = create_api_key(redis_client, "retention")
    auth = {"Authorization": f"Bearer {token}"}
    api = start_api(redis_url, RETENTION_S=60, RETENTION_SWEEP_INTERVAL_S=1, MAX_JOBS_IN_FLIGHT=10)
    with httpx.Client(base_url=api.url, timeout=30, headers=auth) as http:
        ids = []
        for _ in range(4):
            response = http.post(
                "/v1/jobs", data={"model": "street"}, files={"video": ("v.mp4", seg_mp4.read_bytes(), "video/mp4")}
            )
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        old_done, fresh_done, old_queued, deleted = ids
        for job_id in (old_done, fresh_done, deleted):
            _finish(redis_client, media_root, job_id)
        for job_id in (old_done, old_queued):
            _age(media_root / "jobs" / job_id, 3600)

        assert http.delete(f"/v1/jobs/{deleted}").status_code == 204
        assert not (media_root / "jobs" / deleted).exists()

        deadline = time.monotonic() + 15
        while (media_root / "jobs" / old_done).exists():
            assert time.monotonic() < deadline, f"the sweeper did not run: {api.log_text()}"
            time.sleep(0.2)

        assert not redis_client.exists(f"rq:job:{old_done}")
        assert http.get(f"/v1/jobs/{old_done}").status_code == 404
        assert http.get(f"/v1/jobs/{fresh_done}").json()["status"] == "succeeded"
        assert (media_root / "jobs" / fresh_done / "result.mp4").is_file()
        assert http.get(f"/v1/jobs/{old_queued}").json()["status"] == "queued"  # still waiting: never swept
        assert (media_root / "jobs" / old_queued / "input").is_dir()
        listed = sorted(j["id"] for j in http.get("/v1/jobs").json()["jobs"])
        assert listed == sorted([fresh_done, old_queued])
