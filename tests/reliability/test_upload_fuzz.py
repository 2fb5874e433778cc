"""Fuzz of the upload path: every malformed or unusual label upload gets 202 or a clear 4xx JSON error with a
stable code, never a 5xx; a refusal leaves nothing on disk and nothing queued."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.reliability.malformed import cases, encode, png_bomb

MAX_FRAMES = 40
STABLE_CODES = {
    400: {
        "empty_file",
        "not_a_video",
        "corrupt_video",
        "too_many_frames",
        "resolution_too_large",
        "too_long",
        "labels_do_not_match_model",
        "unsafe_zip_entry",
    },
    413: {"upload_too_large"},
    415: {"unsupported_container"},
}
MUST = {  # cases whose outcome is certain
    "valid": 202,
    "zip-valid": 202,
    "zero-length": "empty_file",
    "zip-text-entries": "not_a_video",
    "zip-bomb-deflate": "upload_too_large",
    "zip-bomb-forged-size": "upload_too_large",
    "zip-png-bomb": "resolution_too_large",
    "zip-traversal": "unsafe_zip_entry",
    "zip-absolute": "unsafe_zip_entry",
    "odd-size-33x17-x264-444": 202,
    "fps-7.3": 202,
    "vfr": 202,
    "with-audio": 202,
    "webm-vp8": 202,
    "mkv-h264": 202,
    "avi-mpeg4": 202,
    "mov-h264": 202,
    "one-frame": 202,
    "too-many-frames": "too_many_frames",
    "too-wide": "resolution_too_large",
    "mpegts": "unsupported_container",
}


@pytest.fixture()
def fuzz_client(settings: Settings):
    roomy = settings.model_copy(
        update={
            "MAX_UPLOAD_BYTES": 400_000,
            "MAX_FRAMES": MAX_FRAMES,
            "MAX_DURATION_S": 30.0,
            "MAX_JOBS_IN_FLIGHT": 10_000,
            "MAX_ZIP_UNCOMPRESSED_BYTES": 20_000_000,
        }
    )
    with TestClient(create_app(roomy), raise_server_exceptions=False) as client:
        yield client


def test_malformed_uploads_get_202_or_a_stable_4xx(
    fuzz_client: TestClient, auth: dict[str, str], media_root: Path, redis_client: redis.Redis
):
    accepted: list[str] = []
    problems: list[str] = []
    outcomes: Counter[str] = Counter()
    all_cases = cases(MAX_FRAMES)
    assert len(all_cases) >= 80
    for name, filename, data in all_cases:
        response = fuzz_client.post(
            "/v1/jobs",
            data={"model": "street"},
            files={"video": (filename, data, "application/octet-stream")},
            headers=auth,
        )
        status = response.status_code
        if status == 202:
            accepted.append(response.json()["id"])
            outcome: int | str = 202
        else:
            try:
                code = response.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                problems.append(f"{name}: {status} without the JSON error shape: {response.text[:200]}")
                continue
            if code not in STABLE_CODES.get(status, set()):
                problems.append(f"{name}: {status} {code!r} is not a stable upload error")
            outcome = code
        outcomes[str(outcome)] += 1
        if name in MUST and MUST[name] != outcome:
            problems.append(f"{name}: expected {MUST[name]}, got {status} {outcome}: {response.text[:200]}")
        # Nothing left behind by a refusal: only accepted jobs have folders, no partial files anywhere.
        on_disk = sorted(p.name for p in (media_root / "jobs").iterdir()) if (media_root / "jobs").exists() else []
        if on_disk != sorted(accepted):
            problems.append(f"{name}: folders on disk {on_disk} != accepted {accepted}")
        if list(media_root.rglob("*.partial")):
            problems.append(f"{name}: partial files left: {list(media_root.rglob('*.partial'))}")
    print(f"{len(all_cases)} uploads: {dict(sorted(outcomes.items()))}")  # noqa: T201 - a measured figure for the log
    assert problems == []
    assert redis_client.llen("rq:queue:gpu") == len(accepted)
    assert not (media_root.parent / "x.png").exists() and not Path("/tmp/x.png").exists()


def _jpeg_bomb(width: int = 15_000, height: int = 15_000) -> bytes:
    """JPEG markers up to a start-of-frame that declares a huge image (no pixel data follows)."""
    sof = b"\xff\xc0" + (17).to_bytes(2, "big") + b"\x08" + height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return b"\xff\xd8" + b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + sof + b"\x03" + b"\x00" * 9


@pytest.mark.parametrize(
    ("reference", "code"),
    [
        (png_bomb(), "resolution_too_large"),
        (_jpeg_bomb(), "resolution_too_large"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "bad_reference_image"),
        (b"\xff\xd8\xff\xd9", "bad_reference_image"),
    ],
    ids=["png-bomb", "jpeg-bomb", "png-without-ihdr", "jpeg-without-sof"],
)
def test_reference_image_bombs_are_refused_before_decoding(
    reference: bytes, code: str, fuzz_client: TestClient, auth: dict[str, str], media_root: Path
):
    pose = np.zeros((64, 64, 3), np.uint8)
    pose[20:40, 30:34] = (255, 0, 85)
    response = fuzz_client.post(
        "/v1/jobs",
        data={"model": "people"},
        files=[
            ("video", ("v.mp4", encode([pose] * 3), "video/mp4")),
            ("references", ("r.png", reference, "image/png")),
            ("reference_labels", ("l.png", reference, "image/png")),
        ],
        headers=auth,
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == code, response.text
    assert not (media_root / "jobs").exists() or list((media_root / "jobs").iterdir()) == []
