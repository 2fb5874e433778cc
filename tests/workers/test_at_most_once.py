"""A job runs to `succeeded` at most once: through a Redis outage longer than its lease (the worker's own janitor
must not re-queue the job it is running), and a job deleted while it runs stays deleted (no record, no folder)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from app.config import Settings
from app.jobs import delete_job
from app.liveness import live_workers
from app.storage import MediaStorage
from cli.redis_server import RedisServer

from .helpers import make_spec, write_label_video
from .test_worker import (
    REPO,
    enqueue,
    finished_or_failed,
    frames_done,
    manifest,
    start_worker,
    status,
    wait_for,
)

__all__ = ["manifest", "start_worker"]  # fixtures


OUTAGE_LEASE = ["--heartbeat-ttl", "3", "--heartbeat-every", "2", "--janitor-every", "0.5"]
"""A short lease, and a janitor that runs more often than the lease is renewed (as can happen with any timings)."""


def _harness(redis_url: str, manifest: Path, log: Path, delay: float) -> subprocess.Popen[bytes]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", V2V_MANIFEST=str(manifest))
    env.update(V2V_TEST_FRAME_DELAY=str(delay), V2V_TEST_CRASH_AT_FRAME="0")
    argv = [sys.executable, "-m", "tests.workers.worker_harness", "--redis-url", redis_url, "--device", "cpu"]
    argv += [*OUTAGE_LEASE]
    with open(log, "wb") as out:
        return subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_a_redis_outage_longer_than_the_lease_does_not_run_the_job_twice(
    manifest: Path, media_root: Path, tmp_path: Path
) -> None:
    labels = write_label_video(media_root / "labels.mp4", frames=40)
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    worker = _harness(server.url, manifest, tmp_path / "worker.log", delay=0.25)
    try:
        client = redis.Redis.from_url(server.url)
        job = enqueue(client, make_spec(media_root, "outage", 40, labels), attempts=3)
        wait_for(lambda: frames_done(job) >= 4, 120, "the job to get going")
        server.stop()  # SIGTERM: the AOF is flushed
        time.sleep(8)  # > the 3 s lease of FAST_LEASE (the default lease is 20 s)
        server = RedisServer(tmp_path / "redis", port=server.port, appendonly=True).start()
        client = redis.Redis.from_url(server.url)
        job = Job.fetch("outage", connection=client, serializer=JSONSerializer)
        wait_for(lambda: finished_or_failed(job), 120, "the job to finish after the outage")
        time.sleep(4)  # a wrongly re-queued copy would be picked up by now
        assert status(job) == JobStatus.FINISHED, job.get_meta(refresh=True)
        assert job.get_meta(refresh=True)["attempt"] == 1, (tmp_path / "worker.log").read_text()[-3000:]
        assert job.return_value()["resumed_from_frame"] == 0
        assert client.llen("rq:queue:gpu") == 0
        assert live_workers(client) == 1
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        server.stop()


def test_a_job_deleted_while_it_runs_stays_deleted(
    start_worker, redis_client: redis.Redis, media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = write_label_video(media_root / "labels.mp4", frames=40)
    job_id = "0123456789abcdef0123456789abcdef"
    job = enqueue(redis_client, make_spec(media_root, job_id, 40, labels))
    start_worker(harness=True, delay=0.2)
    wait_for(lambda: frames_done(job) >= 2, 120, "the job to get going")

    monkeypatch.setenv("V2V_MEDIA_ROOT", str(media_root))
    settings = Settings()
    delete_job(redis_client, Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer), "test", settings)
    MediaStorage(media_root).remove_job(job_id)

    def worker_idle() -> bool:
        workers = Worker.all(connection=redis_client)
        return len(workers) == 1 and workers[0].get_state() == "idle"

    wait_for(worker_idle, 30, "the worker to drop the deleted job")
    time.sleep(1.0)
    with pytest.raises(NoSuchJobError):
        Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer)
    assert not (media_root / "jobs" / job_id).exists()
    assert redis_client.zcard("rq:wip:gpu") == 0 and redis_client.zcard("rq:failed:gpu") == 0
