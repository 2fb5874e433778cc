"""run_job inside a real (in-process) V2VWorker on the real Redis: error codes in meta, no retries for bad input,
a full disk fails only that job and leaves no partial files."""

from __future__ import annotations

import builtins
import errno
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import torch
from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

import workers.video_io
from app.contracts import JOB_FUNCTION, QUEUE_NAME, JobSpec, load_manifest
from workers.runner import Runner, make_runner
from workers.worker import V2VWorker

from .helpers import make_spec, write_label_video, write_manifest


@pytest.fixture(scope="module")
def runners(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Runner]:
    manifest = write_manifest(tmp_path_factory.mktemp("ckpt"))
    runner = make_runner(load_manifest(manifest).models["tiny"], torch.device("cpu"), manifest.parent)
    runner.setup()
    return {"tiny": runner}


@pytest.fixture()
def work(redis_client: redis.Redis, runners: dict[str, Runner]) -> Iterator[Any]:
    """Run every queued job in this process with a burst V2VWorker (signal handlers restored afterwards)."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def run() -> None:
        queue = Queue(QUEUE_NAME, connection=redis_client, serializer=JSONSerializer)
        V2VWorker([queue], connection=redis_client, runners=runners).work(burst=True)

    yield run
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def enqueue(client: redis.Redis, spec: JobSpec | dict[str, Any], job_id: str) -> Job:
    payload = spec.model_dump(mode="json") if isinstance(spec, JobSpec) else spec
    queue = Queue(QUEUE_NAME, connection=client, serializer=JSONSerializer)
    return queue.enqueue(JOB_FUNCTION, kwargs={"spec": payload}, job_id=job_id, retry=Retry(max=2))


def test_success_returns_the_job_result(work: Any, redis_client: redis.Redis, media_root: Path) -> None:
    labels = write_label_video(media_root / "labels.mp4", frames=3)
    job = enqueue(redis_client, make_spec(media_root, "ok", 3, labels), "ok")
    work()
    assert job.get_status(refresh=True) == JobStatus.FINISHED
    assert job.return_value()["frames"] == 3
    meta = job.get_meta(refresh=True)
    assert meta["progress"] == {"frames_done": 3, "frames_total": 3} and meta["attempt"] == 1


@pytest.mark.parametrize(
    ("case", "code"),
    [("garbage", "decode_failed"), ("unknown_model", "model_not_served"), ("bad_spec", "bad_spec")],
)
def test_bad_input_fails_once_with_a_code(
    work: Any, redis_client: redis.Redis, media_root: Path, case: str, code: str
) -> None:
    garbage = media_root / "garbage.mp4"
    garbage.write_bytes(b"\x00" * 300)
    spec: JobSpec | dict[str, Any] = make_spec(media_root, case, 3, garbage)
    if case == "unknown_model":
        spec = spec.model_copy(update={"model": "nope"})  # type: ignore[union-attr]
    if case == "bad_spec":
        spec = {"job_id": case}
    job = enqueue(redis_client, spec, case)
    work()
    assert job.get_status(refresh=True) == JobStatus.FAILED
    meta = job.get_meta(refresh=True)
    assert meta["error"]["code"] == code and meta["attempt"] == 1  # not retried: a re-run cannot help


class _FullDisk:
    """`open` for workers.video_io whose files accept `budget` writes, then fail with ENOSPC."""

    def __init__(self, budget: int) -> None:
        self.budget = budget

    def __call__(self, path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = builtins.open(path, mode, *args, **kwargs)
        if "w" not in mode:
            return handle
        outer = self

        class Handle:
            def __enter__(self) -> Handle:
                return self

            def __exit__(self, *exc: object) -> None:
                handle.close()

            def write(self, data: bytes) -> int:
                if outer.budget <= 0:
                    handle.write(data[: len(data) // 2])
                    raise OSError(errno.ENOSPC, "No space left on device")
                outer.budget -= 1
                return handle.write(data)

        return Handle()


def test_full_disk_fails_that_job_only_and_leaves_no_partial_files(
    work: Any, redis_client: redis.Redis, media_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = write_label_video(media_root / "labels.mp4", frames=5)
    done = enqueue(redis_client, make_spec(media_root, "before", 5, labels), "before")
    work()
    before = {p: p.read_bytes() for p in (media_root / "jobs" / "before").rglob("*") if p.is_file()}

    monkeypatch.setattr(workers.video_io, "open", _FullDisk(budget=2), raising=False)
    job = enqueue(redis_client, make_spec(media_root, "full", 5, labels), "full")
    work()
    assert job.get_status(refresh=True) == JobStatus.FAILED
    meta = job.get_meta(refresh=True)
    assert meta["error"]["code"] == "disk_full" and meta["attempt"] == 1
    files = sorted(p.name for p in (media_root / "jobs" / "full").rglob("*") if p.is_file())
    assert files == ["000000.png", "000001.png", "state.safetensors"]  # complete frames only, no temp files
    assert {p: p.read_bytes() for p in (media_root / "jobs" / "before").rglob("*") if p.is_file()} == before
    assert done.get_status(refresh=True) == JobStatus.FINISHED
