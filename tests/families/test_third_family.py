"""A third family added from the test folder alone (`noise_family.py`, kind `generate`) runs through the real API,
Redis and worker to playable videos, survives a SIGKILL of its worker mid-job, and resumes to the identical result.

No file outside `tests/` knows this family: the worker subprocess loads it with `V2V_FAMILY_MODULES`.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from fastapi.testclient import TestClient

from tests.families.noise_family import CARD
from tests.reliability.servers import stop_process
from tests.workers.helpers import wait_ready

REPO = Path(__file__).resolve().parents[2]
FAST_LEASE = ["--heartbeat-ttl", "3", "--heartbeat-every", "0.5", "--janitor-every", "1"]
REGISTER = {"V2V_FAMILY_MODULES": "tests.families.noise_family"}  # the one line that adds the family


@pytest.fixture()
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "checkpoints" / "manifest.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"models": {"noise": CARD}}))
    return path


@pytest.fixture()
def workers(redis_url: str, manifest: Path, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        stop_process(proc)


def _start_worker(procs: list, redis_url: str, manifest: Path, tmp_path: Path, delay: float) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", V2V_MANIFEST=str(manifest), V2V_TEST_FRAME_DELAY=str(delay), **REGISTER)
    argv = [sys.executable, "-m", "tests.workers.worker_harness", "--redis-url", redis_url, "--device", "cpu",
            *FAST_LEASE]
    log = open(tmp_path / f"worker-{len(procs)}.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    procs.append(proc)
    return proc


def _status(client: TestClient, auth: dict[str, str], job_id: str) -> dict:
    return client.get(f"/v1/jobs/{job_id}", headers=auth).json()


def _wait(client: TestClient, auth: dict[str, str], job_id: str, until, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = _status(client, auth, job_id)
        if until(body):
            return body
        assert body["status"] != "failed", body
        time.sleep(0.1)
    raise AssertionError(f"job {job_id}: timed out; last status {body}")


def _submit(client: TestClient, auth: dict[str, str]) -> str:
    options = json.dumps({"num_samples": 2, "num_frames": 12, "seed": 7})
    response = client.post("/v1/jobs", data={"model": "noise", "options": options}, headers=auth)  # no files
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _frames(client: TestClient, auth: dict[str, str], job_id: str) -> dict[str, bytes]:
    response = client.get(f"/v1/jobs/{job_id}/frames", headers=auth)
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _decode(data: bytes) -> tuple[int, int, int]:
    with av.open(io.BytesIO(data)) as container:
        frames = list(container.decode(video=0))
    return len(frames), frames[0].width, frames[0].height


def test_a_generate_family_from_the_test_folder_runs_crashes_and_resumes_identically(
    client: TestClient, auth: dict[str, str], workers: list, redis_url: str, manifest: Path, tmp_path: Path
) -> None:
    assert client.get("/v1/models").json()["models"][0]["kind"] == "generate"
    slow = _start_worker(workers, redis_url, manifest, tmp_path, delay=0.4)
    wait_ready(client)
    crashed = _submit(client, auth)
    _wait(client, auth, crashed, lambda b: b["progress"]["frames_done"] >= 4)
    slow.send_signal(signal.SIGKILL)  # mid-job: its lease runs out and another worker takes the job
    slow.wait()
    done_before = _status(client, auth, crashed)["progress"]["frames_done"]
    assert 4 <= done_before < 12

    _start_worker(workers, redis_url, manifest, tmp_path, delay=0.0)
    body = _wait(client, auth, crashed, lambda b: b["status"] in ("succeeded", "failed", "canceled"))
    assert body["status"] == "succeeded", body
    assert body["kind"] == "generate" and body["samples"] == 2 and body["seeds"] == {"seed": 7}
    assert body["progress"] == {"frames_done": 12, "frames_total": 12}

    uninterrupted = _submit(client, auth)
    assert _wait(client, auth, uninterrupted, lambda b: b["status"] != "queued" and b["status"] != "running"
                 )["status"] == "succeeded"

    resumed_frames, whole_frames = _frames(client, auth, crashed), _frames(client, auth, uninterrupted)
    assert sorted(resumed_frames) == [f"frames/sample_{s:02d}/{i:06d}.png" for s in range(2) for i in range(12)]
    assert resumed_frames == whole_frames  # byte-identical after the crash and resume
    assert resumed_frames["frames/sample_00/000005.png"] != resumed_frames["frames/sample_01/000005.png"]
    for sample in range(2):
        video = client.get(f"/v1/jobs/{crashed}/result?sample={sample}", headers=auth)
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        assert _decode(video.content) == (12, 40, 32)
    assert client.get(f"/v1/jobs/{crashed}/result?sample=2", headers=auth).status_code == 404
