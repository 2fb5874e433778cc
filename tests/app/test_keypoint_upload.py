"""Pose models take a zip of OpenPose keypoint files: checked file by file before the job is queued (canvas from
canvas.json or the run size), refused for other models, and rendered by the worker exactly like our pose labels,
so a keypoint zip and a PNG zip of the same poses make the same video."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from app.contracts.openpose import OpenPoseFrame, openpose_json
from cli.main import main
from corpora.layout import read_png
from models.core.openpose import render_openpose
from tests.app.media import png_bytes
from tests.app.test_submit import job_dirs, post
from workers.video_io import read_label_frames

REPO = Path(__file__).resolve().parents[2]


def standing(t: int, scale: float = 1.0) -> np.ndarray:
    """(25, 3) BODY_25 keypoints of a figure standing in a 64x64 frame (arms swinging with t), times `scale`."""
    body = np.zeros((25, 3))
    joints = {0: (32, 10), 1: (32, 18), 2: (26, 18), 3: (24 - t, 26), 4: (22 - t, 34), 5: (38, 18), 6: (40 + t, 26),
              7: (42 + t, 34), 8: (32, 36), 9: (28, 36), 10: (28, 46), 11: (28, 56), 12: (36, 36), 13: (36, 46),
              14: (36, 56)}
    for j, (x, y) in joints.items():
        body[j] = (x * scale, y * scale, 0.9)
    return body


def keypoint_zip(bodies: list[np.ndarray], canvas: dict | None = None, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i, body in enumerate(bodies):
            archive.writestr(f"clip/{i:05d}_keypoints.json", json.dumps(openpose_json(OpenPoseFrame(body=body))))
        if canvas is not None:
            archive.writestr("clip/canvas.json", json.dumps(canvas))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _references() -> dict:
    pose = render_openpose(standing(0), 64, 64)
    return {"references": [("r.png", png_bytes(np.full((64, 64, 3), 180, np.uint8)))],
            "reference_labels": [("l.png", png_bytes(pose))]}


@pytest.mark.parametrize(("canvas", "expected"), [(None, [64, 64]), ({"width": 120, "height": 96}, [120, 96])])
def test_a_keypoint_zip_is_queued_for_a_pose_model(canvas, expected, client, auth, redis_client):
    upload = keypoint_zip([standing(t) for t in range(3)], canvas)
    response = post(client, auth, ("poses.zip", upload), model="people", **_references())
    assert response.status_code == 202, response.text
    spec = Job.fetch(response.json()["id"], connection=redis_client, serializer=JSONSerializer).kwargs["spec"]
    assert spec["inputs"]["labels_kind"] == "keypoints" and spec["inputs"]["labels_canvas"] == expected
    assert spec["frames_total"] == 3


@pytest.mark.parametrize(("model", "upload", "code"), [
    ("street", keypoint_zip([standing(0)]), "not_a_video"),  # only pose models take keypoints
    ("people", keypoint_zip([standing(0)], extra={"clip/00001_keypoints.json": b"{not json"}), "bad_keypoints"),
    ("people", keypoint_zip([standing(0)], extra={"clip/00001_keypoints.json": b'{"people": [{"x": 1}]}'}),
     "bad_keypoints"),
    ("people", keypoint_zip([standing(0)], extra={"clip/00001_keypoints.json": b"[1, 2]"}), "bad_keypoints"),
    ("people", keypoint_zip([standing(0)], {"width": 100000, "height": 64}), "resolution_too_large"),
    ("people", keypoint_zip([standing(0)], {"width": "64", "height": 64}), "bad_keypoints"),
    ("people", keypoint_zip([], {"width": 64, "height": 64}), "not_a_video"),
    ("people", keypoint_zip([standing(0)], extra={"clip/00001.png": png_bytes(np.zeros((8, 8, 3), np.uint8))}),
     "not_a_video"),  # PNG and JSON entries mixed: neither kind of zip
])
def test_bad_keypoint_zips_are_refused_before_queueing(model, upload, code, client, auth, media_root):
    extra = _references() if model == "people" else {}
    response = post(client, auth, ("poses.zip", upload), model=model, **extra)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert job_dirs(media_root) == []


def test_the_worker_renders_keypoints_on_the_canvas(tmp_path: Path):
    bodies = [standing(t, scale=2.0) for t in range(3)]
    path = tmp_path / "k.zip"
    path.write_bytes(keypoint_zip(bodies, {"width": 128, "height": 128}))
    frames = list(read_label_frames(path, "keypoints", (128, 128)))
    assert len(frames) == 3
    for frame, body in zip(frames, bodies, strict=True):
        assert np.array_equal(frame, render_openpose(body, 128, 128))
    assert frames[0].any() and not np.array_equal(frames[0], frames[2])  # the arms move


def test_keypoints_and_rendered_pngs_make_the_same_video(tmp_path: Path):
    """The shipped pose model, offline (`v2v generate`): a keypoint zip and a PNG zip of our renders of the same
    poses give the same frames (within a grey level or two: the CPU's convolutions may split their sums across
    threads differently from one run to the next on a loaded machine; a different pose would differ by far more)."""
    bodies = [standing(t, scale=2.0) for t in range(2)]  # 128x128 canvas
    keypoints = tmp_path / "poses.zip"
    keypoints.write_bytes(keypoint_zip(bodies, {"width": 128, "height": 128}))
    pngs = tmp_path / "pngs.zip"
    with zipfile.ZipFile(pngs, "w") as archive:
        for i, body in enumerate(bodies):
            archive.writestr(f"{i:05d}.png", png_bytes(render_openpose(body, 128, 128)))
    refs = REPO / "samples" / "people"
    outputs = []
    for labels in (keypoints, pngs):
        frames_dir = tmp_path / f"frames_{labels.stem}"
        argv = ["generate", "--model", "people", "--labels", str(labels), "--device", "cpu",
                "--references", str(refs / "ref_0.png"), "--reference-labels", str(refs / "ref_0_pose.png"),
                "-o", str(tmp_path / f"{labels.stem}.mp4"), "--frames-dir", str(frames_dir)]
        assert main(argv) == 0
        outputs.append(sorted(frames_dir.glob("*.png")))
    assert len(outputs[0]) == len(outputs[1]) == 2
    for a, b in zip(*outputs, strict=True):
        diff = np.abs(read_png(a).astype(int) - read_png(b).astype(int))  # (H, W, 3)
        assert diff.max() <= 3 and diff.mean() < 0.1
