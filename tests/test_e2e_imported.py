"""End to end with checkpoints of the original code (issue 16): `v2v import` the reference fixtures' vid2vid and
few-shot checkpoints into one manifest, serve them with the API on the real Redis and a real `v2v worker`
subprocess, upload labels as a user would, and check the job's frames against the original code's recorded output."""

from __future__ import annotations

import io
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cli.main import main
from tests.models.original_fixtures import (
    FIXTURES,
    cases,
    load_case,
    png_error,
    write_cityscapes_label_zip,
    write_pose_uploads,
)
from tests.workers.helpers import wait_ready, worker_process

VID2VID_CASES = [c for c in cases("vid2vid") if load_case(c)[2].get("first_frame") == "single_G"][:1]
FEWSHOT_CASES = cases("fewshot")[:1]
VID2VID_TOLERANCE = 1 / 127.5 + 5e-4
"""8-bit output rounding plus the flow-warp rounding documented in tests/models/test_original_import.py."""
FEWSHOT_TOLERANCE = 2 / 127.5
"""8-bit rounding of the uploaded labels and references, and of the output."""

pytestmark = pytest.mark.skipif(not (VID2VID_CASES and FEWSHOT_CASES),
                                reason=f"reference fixtures not found at {FIXTURES}")


@pytest.fixture()
def manifest(tmp_path: Path) -> Path:
    """Both imported models (fp32 weights, the fixtures' sizes as the cards' defaults) in one checkpoints folder."""
    checkpoints = tmp_path / "checkpoints"
    for name, case, key in (("city", VID2VID_CASES[0], "A"), ("pose", FEWSHOT_CASES[0], "tgt_label")):
        height, width = load_case(case)[0][key].shape[-2:]
        assert main(["import", str(FIXTURES / case / "checkpoints"), "--name", name, "--dtype", "fp32",
                     "--checkpoints-dir", str(checkpoints), "--height", str(height), "--width", str(width)]) == 0
    return checkpoints / "manifest.json"


@pytest.fixture()
def worker(redis_url: str, manifest: Path, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    # fp32: the original's frames exactly (a CPU with bf16 units would otherwise serve in bf16)
    with worker_process(redis_url, manifest, tmp_path / "worker.log", V2V_PRECISION="fp32") as proc:
        yield proc


def _frames_of_finished_job(client: TestClient, auth: dict[str, str], job_id: str, folder: Path,
                            timeout: float = 240) -> list[Path]:
    deadline = time.monotonic() + timeout
    while (body := client.get(f"/v1/jobs/{job_id}", headers=auth).json())["status"] not in (
            "succeeded", "failed", "canceled"):
        assert time.monotonic() < deadline, f"job {job_id} did not finish in {timeout} s"
        time.sleep(0.2)
    assert body["status"] == "succeeded", body
    frames = client.get(f"/v1/jobs/{job_id}/frames", headers=auth)
    assert frames.status_code == 200, frames.text
    zipfile.ZipFile(io.BytesIO(frames.content)).extractall(folder)
    return sorted(folder.rglob("*.png"))


def test_imported_models_serve_the_original_frames_through_the_api(
    client: TestClient, auth: dict[str, str], worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    assert {m["name"] for m in client.get("/v1/models").json()["models"]} >= {"city", "pose"}
    wait_ready(client)
    assert {s["precision"] for s in client.get("/v1/models").json()["serving"]} == {"fp32"}
    city_inputs, city_outputs, _ = load_case(VID2VID_CASES[0])
    labels = write_cityscapes_label_zip(city_inputs, tmp_path / "city.zip", frames=3)
    response = client.post("/v1/jobs", data={"model": "city"}, headers=auth,
                           files={"video": ("labels.zip", labels.read_bytes(), "application/zip")})
    assert response.status_code == 202, response.text
    city_job = response.json()["id"]

    pose_inputs, pose_outputs, _ = load_case(FEWSHOT_CASES[0])
    (tmp_path / "pose").mkdir()
    pose_labels, ref, ref_label = write_pose_uploads(pose_inputs, tmp_path / "pose")
    response = client.post("/v1/jobs", data={"model": "pose"}, headers=auth, files=[
        ("video", ("pose.zip", pose_labels.read_bytes(), "application/zip")),
        ("references", ("ref.png", ref.read_bytes(), "image/png")),
        ("reference_labels", ("ref_label.png", ref_label.read_bytes(), "image/png")),
    ])
    assert response.status_code == 202, response.text
    pose_job = response.json()["id"]

    pngs = _frames_of_finished_job(client, auth, city_job, tmp_path / "city-frames")
    expected = [city_outputs["first_frames"][0], city_outputs["first_frames"][1], city_outputs["fake_B"][0]]
    assert len(pngs) == len(expected)
    for png, want in zip(pngs, expected, strict=True):  # two single-image-G frames, then the first video frame
        assert png_error(png, want) <= VID2VID_TOLERANCE, png.name

    pngs = _frames_of_finished_job(client, auth, pose_job, tmp_path / "pose-frames")
    assert len(pngs) == len(pose_outputs["fake_image"])
    for png, want in zip(pngs, pose_outputs["fake_image"], strict=True):
        assert png_error(png, want) < FEWSHOT_TOLERANCE, png.name
