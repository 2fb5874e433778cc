"""Real worker subprocesses against the session's real Redis: end to end, cancel, SIGKILL + resume, crash loop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue, Retry, Worker
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from app.contracts import JOB_FUNCTION, QUEUE_NAME, JobSpec, cancel_key
from cli.redis_server import RedisServer
from workers.video_io import read_label_frames

from .helpers import make_spec, write_label_video, write_manifest

REPO = Path(__file__).resolve().parents[2]
V2V = Path(sys.executable).parent / "v2v"
FAST_LEASE = ["--heartbeat-ttl", "3", "--heartbeat-every", "0.5", "--janitor-every", "1"]

StartWorker = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture()
def manifest(tmp_path: Path) -> Path:
    return write_manifest(tmp_path / "checkpoints")


@pytest.fixture()
def start_worker(redis_url: str, manifest: Path, tmp_path: Path) -> Iterator[StartWorker]:
    """Start worker subprocesses (the real `v2v worker`, or the test harness with slow-downs); all stopped after."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(harness: bool = False, delay: float = 0.0, crash_at: int = 0, precision: str = "fp32"
              ) -> subprocess.Popen[bytes]:
        # A fixed precision: "auto" times a probe at start-up, and two workers on a loaded machine may choose apart.
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", V2V_MANIFEST=str(manifest),
                   V2V_PRECISION=precision)
        env.update(V2V_TEST_FRAME_DELAY=str(delay), V2V_TEST_CRASH_AT_FRAME=str(crash_at))
        argv = [sys.executable, "-m", "tests.workers.worker_harness"] if harness else [str(V2V), "worker"]
        argv += ["--redis-url", redis_url, "--device", "cpu", *FAST_LEASE]
        log = open(tmp_path / f"worker-{len(procs)}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def enqueue(client: redis.Redis, spec: JobSpec, attempts: int = 3) -> Job:
    queue = Queue(QUEUE_NAME, connection=client, serializer=JSONSerializer)
    return queue.enqueue(
        JOB_FUNCTION,
        kwargs={"spec": spec.model_dump(mode="json")},
        job_id=spec.job_id,
        retry=Retry(max=attempts - 1) if attempts > 1 else None,
        job_timeout=300,
    )


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def frames_done(job: Job) -> int:
    return int(job.get_meta(refresh=True).get("progress", {}).get("frames_done", 0))


def status(job: Job) -> JobStatus:
    return job.get_status(refresh=True)


def finished_or_failed(job: Job) -> bool:
    return status(job) in (JobStatus.FINISHED, JobStatus.FAILED)


def test_worker_runs_a_job_end_to_end(start_worker: StartWorker, redis_client: redis.Redis, media_root: Path) -> None:
    labels = write_label_video(media_root / "labels.mp4", frames=10, height=40, width=60)
    job = enqueue(redis_client, make_spec(media_root, "e2e", 10, labels))
    start_worker()  # the real `v2v worker`
    seen: list[int] = []

    def done() -> bool:
        seen.append(frames_done(job))
        return finished_or_failed(job)

    wait_for(done, 120, "the job to finish")
    assert status(job) == JobStatus.FINISHED, job.get_meta(refresh=True)
    assert seen == sorted(seen) and seen[-1] == 10
    result = job.return_value()
    assert (result["frames"], result["width"], result["height"]) == (10, 60, 40)
    frames = list(read_label_frames(result["video_path"], "video"))
    assert len(frames) == 10 and frames[0].shape == (40, 60, 3)
    assert job.get_meta(refresh=True)["attempt"] == 1


def test_progress_rises_and_cancel_stops_within_a_few_frames(
    start_worker: StartWorker, redis_client: redis.Redis, media_root: Path
) -> None:
    labels = write_label_video(media_root / "labels.mp4", frames=40)
    job = enqueue(redis_client, make_spec(media_root, "cancel", 40, labels))
    start_worker(harness=True, delay=0.15)
    wait_for(lambda: frames_done(job) >= 1, 120, "first progress")
    first = frames_done(job)
    wait_for(lambda: frames_done(job) > first, 30, "progress to rise")
    redis_client.set(cancel_key(job.id), "1")
    asked_at = frames_done(job)
    wait_for(lambda: finished_or_failed(job), 30, "the canceled job to stop")
    meta = job.get_meta(refresh=True)
    assert status(job) == JobStatus.FAILED and meta["canceled"] is True
    written = len(list((media_root / "jobs" / "cancel" / "frames").iterdir()))
    assert written <= asked_at + 5  # progress is saved every few frames, the check runs after every frame
    assert not (media_root / "jobs" / "cancel" / "result.mp4").exists()


def test_killed_worker_loses_nothing_and_the_video_is_identical(
    start_worker: StartWorker, redis_client: redis.Redis, media_root: Path
) -> None:
    labels = write_label_video(media_root / "labels.mp4", frames=16)
    job = enqueue(redis_client, make_spec(media_root, "killed", 16, labels))
    victim = start_worker(harness=True, delay=0.2, precision="bf16")
    wait_for(lambda: frames_done(job) >= 5, 120, "the job to get going")
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert status(job) == JobStatus.STARTED

    # A healthy worker that serves in another precision; its janitor re-queues the abandoned job within ~lease +
    # janitor period, and it continues the job in the precision of the frames already made.
    healthy = start_worker(precision="fp32")
    wait_for(lambda: finished_or_failed(job), 120, "the re-queued job to finish")
    assert status(job) == JobStatus.FINISHED, job.get_meta(refresh=True)
    result = job.return_value()
    assert result["frames"] == 16 and result["resumed_from_frame"] >= 5
    assert job.get_meta(refresh=True)["attempt"] == 2
    healthy.terminate()
    healthy.wait(timeout=30)

    start_worker(precision="bf16")  # the uninterrupted reference, made as the job was started
    reference = enqueue(redis_client, make_spec(media_root, "reference", 16, labels))
    wait_for(lambda: finished_or_failed(reference), 120, "the uninterrupted reference job")
    killed = sorted((media_root / "jobs" / "killed" / "frames").iterdir())
    whole = sorted((media_root / "jobs" / "reference" / "frames").iterdir())
    assert [p.name for p in killed] == [p.name for p in whole] and len(killed) == 16
    for a, b in zip(killed, whole, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert len(list(read_label_frames(result["video_path"], "video"))) == 16


def test_job_that_keeps_killing_workers_fails_with_worker_crashed(
    start_worker: StartWorker, redis_client: redis.Redis, media_root: Path
) -> None:
    labels = write_label_video(media_root / "labels.mp4", frames=8)
    job = enqueue(redis_client, make_spec(media_root, "doomed", 8, labels), attempts=2)
    started = 0
    current: subprocess.Popen[bytes] | None = None

    def settle() -> bool:
        nonlocal started, current
        if finished_or_failed(job):
            return True
        if current is None or current.poll() is not None:
            current = start_worker(harness=True, crash_at=2)
            started += 1
        return False

    wait_for(settle, 150, "the crash-looping job to fail")
    assert status(job) == JobStatus.FAILED
    meta = job.get_meta(refresh=True)
    assert meta["error"]["code"] == "worker_crashed" and meta["attempt"] == 2
    assert started >= 2


def test_worker_reconnects_after_a_redis_restart_and_stops_on_sigterm(
    manifest: Path, media_root: Path, tmp_path: Path
) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", V2V_MANIFEST=str(manifest))
    with RedisServer(tmp_path / "redis") as server:
        port = server.port
        log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
        worker = subprocess.Popen(
            [str(V2V), "worker", "--redis-url", server.url, "--device", "cpu", *FAST_LEASE],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            client = redis.Redis.from_url(server.url)
            wait_for(lambda: len(Worker.all(connection=client)) == 1, 60, "the worker to register")
            client.close()
            server.stop()
            time.sleep(3)  # the worker sees the connection drop and backs off
            assert worker.poll() is None
            with RedisServer(tmp_path / "redis", port=port) as again:
                client = redis.Redis.from_url(again.url)
                labels = write_label_video(media_root / "labels.mp4", frames=3)
                job = enqueue(client, make_spec(media_root, "after-restart", 3, labels))
                wait_for(lambda: finished_or_failed(job), 90, "a job after the Redis restart")
                assert status(job) == JobStatus.FINISHED
                worker.send_signal(signal.SIGTERM)
                assert worker.wait(timeout=20) == 0
                client.close()
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            log.close()
