"""OpenPose rendering: the colour table of reference §5.1, confidence thresholds, JSON parsing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.contracts.openpose import OpenPoseFrame, load_openpose_json, openpose_json
from models.core.openpose import BODY_EDGES, FINGER_COLOURS, render_openpose

REFERENCE_COLOURS = {
    (17, 15): (153, 0, 153), (15, 0): (153, 0, 102), (0, 16): (102, 0, 153), (16, 18): (51, 0, 153),
    (0, 1): (153, 0, 51), (1, 8): (153, 0, 0), (1, 2): (153, 51, 0), (2, 3): (153, 102, 0), (3, 4): (153, 153, 0),
    (1, 5): (102, 153, 0), (5, 6): (51, 153, 0), (6, 7): (0, 153, 0), (8, 9): (0, 153, 51), (9, 10): (0, 153, 102),
    (10, 11): (0, 153, 153), (11, 24): (0, 153, 153), (11, 22): (0, 153, 153), (22, 23): (0, 153, 153),
    (8, 12): (0, 102, 153), (12, 13): (0, 51, 153), (13, 14): (0, 0, 153), (14, 21): (0, 0, 153),
    (14, 19): (0, 0, 153), (19, 20): (0, 0, 153),
}


def _body(points: dict[int, tuple[float, float]]) -> np.ndarray:
    kp = np.zeros((25, 3))
    for j, (x, y) in points.items():
        kp[j] = (x, y, 0.9)
    return kp


def test_table_is_the_reference_table() -> None:
    assert {(a, b): c for a, b, c in BODY_EDGES} == REFERENCE_COLOURS
    assert FINGER_COLOURS == ((204, 0, 0), (163, 204, 0), (0, 204, 82), (0, 82, 204), (163, 0, 204))


@pytest.mark.parametrize(("a", "b"), sorted(REFERENCE_COLOURS))
def test_each_limb_is_drawn_in_its_colour_with_width_3(a: int, b: int) -> None:
    image = render_openpose(_body({a: (10, 20), b: (50, 20)}), 40, 64)
    colour = REFERENCE_COLOURS[(a, b)]
    drawn = np.any(image != 0, axis=-1)
    assert np.all(image[drawn] == colour)  # no other colour, no anti-aliasing
    assert drawn[:, 30].sum() == 3  # line width 3 in the middle
    assert drawn[20, 8] and drawn[20, 52]  # endpoint discs reach past the joints


def test_low_confidence_joints_are_not_drawn() -> None:
    kp = _body({1: (10, 10), 8: (10, 50)})
    kp[8, 2] = 0.005
    assert not render_openpose(kp, 64, 32).any()
    kp[8, 2] = 0.02
    assert render_openpose(kp, 64, 32).any()


def test_hands_are_width_1_in_finger_colours_and_face_is_white() -> None:
    hand = np.zeros((21, 3))
    hand[0] = (5, 30, 1)
    hand[1:5] = [(10, 30, 1), (15, 30, 1), (20, 30, 1), (25, 30, 1)]  # thumb, horizontal
    face = np.zeros((70, 3))
    face[36:42] = [(40, 5, 1), (50, 5, 1), (50, 10, 1), (40, 10, 1), (40, 8, 1), (40, 6, 1)]
    image = render_openpose(np.zeros((25, 3)), 40, 64, hands=[hand, np.zeros((21, 3))], face=face)
    thumb = image[:, 12]
    assert (np.any(thumb != 0, axis=-1)).sum() == 1 and tuple(image[30, 12]) == (204, 0, 0)
    assert tuple(image[5, 45]) == (255, 255, 255)
    face_low = face.copy()
    face_low[:, 2] = 0.05  # face threshold is 0.1
    assert not render_openpose(np.zeros((25, 3)), 40, 64, face=face_low).any()


def test_json_round_trip_renders_identically(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    body = np.concatenate([rng.uniform(5, 60, (25, 2)), rng.uniform(0.5, 1, (25, 1))], axis=1)
    frame = OpenPoseFrame(body=body, hands=(np.zeros((21, 3)), np.zeros((21, 3))), face=np.zeros((70, 3)))
    path = tmp_path / "000_keypoints.json"
    path.write_text(json.dumps(openpose_json(frame)))
    loaded = load_openpose_json(path)
    assert np.allclose(loaded.body, body) and loaded.hands is not None and loaded.face is not None
    assert np.array_equal(render_openpose(loaded.body, 64, 64), render_openpose(body, 64, 64))


def test_json_without_people_or_with_bad_keypoints(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"version": 1.3, "people": []}))
    assert not load_openpose_json(path).body.any()
    path.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1, 2, 3]}]}))
    with pytest.raises(ValueError, match="BODY_25"):
        load_openpose_json(path)
