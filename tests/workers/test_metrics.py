"""`/metrics` during and after a real worker's job: the worker's frames, durations, queue wait and outcome reach the
API's scrape through Redis, next to the API's own counters and the queue/liveness gauges read at scrape time."""

from __future__ import annotations

from pathlib import Path

import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from rq.job import JobStatus

from app.config import Settings
from app.main import create_app
from app.metrics import merge_expositions
from workers.metrics import WorkerMetrics

from .helpers import make_spec, write_label_video
from .test_worker import enqueue, finished_or_failed, status, wait_for


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def test_metrics_of_a_real_worker_reach_the_api_scrape(start_worker, redis_client: redis.Redis, redis_url: str,
                                                       media_root: Path, manifest: Path) -> None:
    settings = Settings(REDIS_URL=redis_url, MEDIA_ROOT=media_root, MANIFEST=manifest)
    labels = write_label_video(media_root / "labels.mp4", frames=6, height=40, width=60)
    with TestClient(create_app(settings)) as api:
        before = scrape(api)
        assert value(before, "v2v_redis_up") == 1 and value(before, "v2v_workers_alive") == 0
        job = enqueue(redis_client, make_spec(media_root, "m1", 6, labels))
        queued = scrape(api)
        assert value(queued, "v2v_queue_depth") == 1 and value(queued, "v2v_jobs", status="queued") == 1
        start_worker()
        wait_for(lambda: finished_or_failed(job), 120, "the job to finish")
        assert status(job) == JobStatus.FINISHED

        def pushed() -> bool:
            return value(scrape(api), "v2v_jobs_finished_total", model="tiny", status="succeeded") == 1

        wait_for(pushed, 10, "the worker to push its metrics")
        after = scrape(api)
    assert value(after, "v2v_worker_frames_total", model="tiny", device="cpu") == 6
    assert value(after, "v2v_frame_duration_seconds_count", model="tiny", device="cpu") >= 3
    assert value(after, "v2v_job_duration_seconds_count", model="tiny", status="succeeded") == 1
    assert value(after, "v2v_queue_wait_seconds_count", model="tiny") == 1
    assert value(after, "v2v_jobs", status="succeeded") == 1 and value(after, "v2v_queue_depth") == 0
    assert value(after, "v2v_workers_alive") == 1
    assert any(n == "v2v_worker_frames_per_second" and dict(ls)["device"] == "cpu" for n, ls in after)
    assert any(n == "v2v_worker_heartbeat_age_seconds" for n, _ in after)


def test_two_workers_expositions_merge() -> None:
    a, b = WorkerMetrics("w-a", "cuda:0"), WorkerMetrics("w-b", "cuda:1")
    a.frames_done("street", 4, 0.4)
    b.frames_done("street", 2, None)
    b.job_ended("street", "failed", "bad_input", 1.5)
    families = {f.name: f for f in merge_expositions([a.exposition().decode(), b.exposition().decode()])}
    frames = {s.labels["device"]: s.value for s in families["v2v_worker_frames"].samples if s.name.endswith("_total")}
    assert frames == {"cuda:0": 4, "cuda:1": 2}
    finished = [s for s in families["v2v_jobs_finished"].samples if s.name.endswith("_total")]
    assert [(s.labels["code"], s.value) for s in finished] == [("bad_input", 1)]
    fps = {s.labels["worker"]: s.value for s in families["v2v_worker_frames_per_second"].samples}
    assert fps["w-a"] > 0
