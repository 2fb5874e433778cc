"""End to end: the API (create_app on the real Redis) and a real `v2v worker` subprocess: upload, poll, download."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from fastapi.testclient import TestClient

from tests.workers.helpers import (
    pose_frame,
    wait_ready,
    worker_process,
    write_label_video,
    write_manifest,
    write_pose_video,
)
from workers.video_io import write_png_atomic


@pytest.fixture()
def manifest(tmp_path: Path) -> Path:
    return write_manifest(tmp_path / "checkpoints", people=True)


@pytest.fixture()
def worker(redis_url: str, manifest: Path, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with worker_process(redis_url, manifest, tmp_path / "worker.log") as proc:
        yield proc


def _wait(client: TestClient, auth: dict[str, str], job_id: str, timeout: float = 180) -> tuple[dict, list[int]]:
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/v1/jobs/{job_id}", headers=auth).json()
        seen.append(body["progress"]["frames_done"])
        if body["status"] in ("succeeded", "failed", "canceled"):
            return body, seen
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def _decoded(data: bytes, path: Path) -> tuple[int, int, int]:
    path.write_bytes(data)
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return len(frames), frames[0].width, frames[0].height


def test_upload_poll_download(
    client: TestClient, auth: dict[str, str], worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    wait_ready(client)
    # A vid2vid job: colour-coded segmentation video in, same frame count and size out.
    labels = write_label_video(tmp_path / "labels.mp4", frames=8, height=40, width=60)
    response = client.post(
        "/v1/jobs",
        data={"model": "tiny"},
        files={"video": ("labels.mp4", labels.read_bytes(), "video/mp4")},
        headers=auth,
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    # A few-shot job with two references and their pose renderings.
    pose = write_pose_video(tmp_path / "pose.mp4", frames=3)
    refs = [("references", (f"r{i}.png", _png(tmp_path / f"r{i}.png", 80 * i), "image/png")) for i in range(2)]
    ref_labels = [
        ("reference_labels", (f"p{i}.png", _pose_png(tmp_path / f"p{i}.png", i), "image/png")) for i in range(2)
    ]
    response = client.post(
        "/v1/jobs",
        data={"model": "tiny-people"},
        files=[("video", ("pose.mp4", pose.read_bytes(), "video/mp4")), *refs, *ref_labels],
        headers=auth,
    )
    assert response.status_code == 202, response.text
    people_id = response.json()["id"]

    body, seen = _wait(client, auth, job_id)
    assert body["status"] == "succeeded", body
    assert seen == sorted(seen) and body["progress"] == {"frames_done": 8, "frames_total": 8}
    result = client.get(f"/v1/jobs/{job_id}/result", headers=auth)
    assert result.status_code == 200 and result.headers["content-type"] == "video/mp4"
    assert _decoded(result.content, tmp_path / "out.mp4") == (8, 60, 40)
    partial = client.get(f"/v1/jobs/{job_id}/result", headers={**auth, "Range": "bytes=0-99"})
    assert partial.status_code == 206 and len(partial.content) == 100

    body, _ = _wait(client, auth, people_id)
    assert body["status"] == "succeeded", body
    result = client.get(f"/v1/jobs/{people_id}/result", headers=auth)
    assert _decoded(result.content, tmp_path / "people.mp4") == (3, 40, 48)


def _png(path: Path, level: int) -> bytes:
    import numpy as np

    write_png_atomic(path, np.full((40, 30, 3), 40 + level, dtype=np.uint8))
    return path.read_bytes()


def _pose_png(path: Path, i: int) -> bytes:
    write_png_atomic(path, pose_frame(i, 40, 30))
    return path.read_bytes()
