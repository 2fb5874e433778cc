"""The OpenPose JSON keypoint format (BODY_25 `*_keypoints.json`, one file per frame): what a keypoint upload holds.

Parsing and writing only (json + numpy, so the API can check an upload without OpenCV); the colour rendering that pose
models take as labels is `models.core.openpose.render_openpose`. A keypoint zip holds one `*.json` file per frame
(sorted by name; the first person of each is used) and optionally `canvas.json` = {"width": W, "height": H}, the
size of the frames the keypoints were measured on (default: the job's run size).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CANVAS_ENTRY = "canvas.json"
"""The optional entry of a keypoint zip that gives the frame size (pixels) of its keypoints."""
MAX_KEYPOINT_FILE_BYTES = 1024 * 1024
"""Largest single keypoint file accepted in a zip (one frame of BODY_25 + hands + face is ~10 KB)."""


@dataclass(frozen=True, eq=False)
class OpenPoseFrame:
    """Keypoints of one person in one frame, as OpenPose writes them ([x, y, confidence] rows)."""

    body: np.ndarray  # (25, 3)
    hands: tuple[np.ndarray, np.ndarray] | None = None  # left, right: (21, 3) each
    face: np.ndarray | None = None  # (70, 3)


def _keypoints(person: dict[str, object], key: str, count: int) -> np.ndarray | None:
    values = person.get(key)
    if not isinstance(values, list) or len(values) < count * 3:
        return None
    return np.asarray(values[: count * 3], dtype=np.float64).reshape(count, 3)


def parse_openpose(payload: dict[str, object]) -> OpenPoseFrame:
    """An OpenPose JSON document -> the first person's keypoints (all zeros when nobody was detected)."""
    people = payload.get("people")
    if not isinstance(people, list):
        raise ValueError("not an OpenPose keypoint file: no 'people' list")
    if not people:
        return OpenPoseFrame(body=np.zeros((25, 3)))
    person = people[0]
    if not isinstance(person, dict):
        raise ValueError("not an OpenPose keypoint file: people[0] is not an object")
    body = _keypoints(person, "pose_keypoints_2d", 25)
    if body is None:
        raise ValueError("people[0].pose_keypoints_2d must hold 25 [x, y, confidence] triples (BODY_25)")
    left = _keypoints(person, "hand_left_keypoints_2d", 21)
    right = _keypoints(person, "hand_right_keypoints_2d", 21)
    hands = (left, right) if left is not None and right is not None else None
    return OpenPoseFrame(body=body, hands=hands, face=_keypoints(person, "face_keypoints_2d", 70))


def load_openpose_json(path: Path | str) -> OpenPoseFrame:
    """Read one OpenPose `*_keypoints.json` file (people[0]: pose, hands, face keypoints)."""
    return parse_openpose(json.loads(Path(path).read_text()))


def openpose_json(frame: OpenPoseFrame) -> dict[str, object]:
    """The OpenPose JSON document of one person (inverse of `parse_openpose`)."""
    person: dict[str, object] = {"pose_keypoints_2d": np.asarray(frame.body).ravel().tolist()}
    if frame.hands is not None:
        person["hand_left_keypoints_2d"] = np.asarray(frame.hands[0]).ravel().tolist()
        person["hand_right_keypoints_2d"] = np.asarray(frame.hands[1]).ravel().tolist()
    if frame.face is not None:
        person["face_keypoints_2d"] = np.asarray(frame.face).ravel().tolist()
    return {"version": 1.3, "people": [person]}


def keypoint_entries(names: list[str]) -> list[str]:
    """The per-frame keypoint files among a zip's entry names, in frame order (hidden and macOS entries skipped)."""
    kept = []
    for name in names:
        base = name.rsplit("/", 1)[-1]
        if name.endswith("/") or base.startswith(".") or name.startswith("__MACOSX/") or base == CANVAS_ENTRY:
            continue
        kept.append(name)
    return sorted(kept)


def parse_canvas(payload: object) -> tuple[int, int]:
    """`canvas.json` -> (width, height); ValueError unless both are positive integers."""
    if not isinstance(payload, dict):
        raise ValueError("canvas.json must be an object {\"width\": W, \"height\": H}")
    width, height = payload.get("width"), payload.get("height")
    if not (type(width) is int and type(height) is int and width > 0 and height > 0):
        raise ValueError("canvas.json needs positive integer `width` and `height`")
    return width, height
