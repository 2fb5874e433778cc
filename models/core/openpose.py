"""OpenPose keypoints -> the OpenPose-coloured skeleton rendering that pose models take as labels.

Colours and widths follow reference §5.1 (the vid2vid convention): BODY_25 limbs drawn as width-3 lines with
endpoint discs in the limb's colour, hand fingers (thumb..pinky colours) width 1, face edges white width 1.
Confidence thresholds: body 0.01, face 0.1, hands 0.01. OpenPose JSON files are parsed by
`app.contracts.openpose`, so uploaded keypoint zips render exactly like our training labels. Body limbs are
rasterised with numpy (pixels within 1.5 px of the segment: 3 px wide whatever the OpenCV version; OpenCV 5 draws
`thickness=3` 5 px wide), thin lines with cv2 (1 px); nothing is anti-aliased, so every drawn pixel carries an
exact table colour.
"""

from __future__ import annotations

import cv2
import numpy as np

BODY_CONF = 0.01
FACE_CONF = 0.1
HAND_CONF = 0.01

# (joint a, joint b, RGB colour) for BODY_25, in drawing order.
BODY_EDGES: tuple[tuple[int, int, tuple[int, int, int]], ...] = (
    (17, 15, (153, 0, 153)), (15, 0, (153, 0, 102)), (0, 16, (102, 0, 153)), (16, 18, (51, 0, 153)),
    (0, 1, (153, 0, 51)), (1, 8, (153, 0, 0)),
    (1, 2, (153, 51, 0)), (2, 3, (153, 102, 0)), (3, 4, (153, 153, 0)),
    (1, 5, (102, 153, 0)), (5, 6, (51, 153, 0)), (6, 7, (0, 153, 0)),
    (8, 9, (0, 153, 51)), (9, 10, (0, 153, 102)), (10, 11, (0, 153, 153)),
    (11, 24, (0, 153, 153)), (11, 22, (0, 153, 153)), (22, 23, (0, 153, 153)),
    (8, 12, (0, 102, 153)), (12, 13, (0, 51, 153)), (13, 14, (0, 0, 153)),
    (14, 21, (0, 0, 153)), (14, 19, (0, 0, 153)), (19, 20, (0, 0, 153)),
)
FINGER_COLOURS: tuple[tuple[int, int, int], ...] = (
    (204, 0, 0), (163, 204, 0), (0, 204, 82), (0, 82, 204), (163, 0, 204),
)
"""Thumb, index, middle, ring, pinky (hand keypoints 1-4, 5-8, 9-12, 13-16, 17-20 from the wrist 0)."""
FACE_COLOUR = (255, 255, 255)
BODY_WIDTH = 3
DISC_RADIUS = 2.0


def _face_edges() -> list[tuple[int, int]]:
    chains = [range(0, 17), range(17, 22), range(22, 27), range(27, 31), range(31, 36)]
    loops = [range(36, 42), range(42, 48), range(48, 60), range(60, 68)]
    edges = [(a, a + 1) for chain in chains for a in list(chain)[:-1]]
    for loop in loops:
        ids = list(loop)
        edges += [(ids[i], ids[(i + 1) % len(ids)]) for i in range(len(ids))]
    return edges


FACE_EDGES = tuple(_face_edges())


def _draw_thick(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, colour: tuple[int, int, int]) -> None:
    """Fill pixels within BODY_WIDTH / 2 of segment a-b, and discs of DISC_RADIUS at both ends."""
    h, w = canvas.shape[:2]
    reach = max(BODY_WIDTH / 2, DISC_RADIUS) + 1
    x0, x1 = int(max(np.floor(min(a[0], b[0]) - reach), 0)), int(min(np.ceil(max(a[0], b[0]) + reach) + 1, w))
    y0, y1 = int(max(np.floor(min(a[1], b[1]) - reach), 0)), int(min(np.ceil(max(a[1], b[1]) + reach) + 1, h))
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)  # (h', w') pixel centres
    ab = b[:2] - a[:2]
    length2 = float(ab @ ab)
    s = np.clip(((xs - a[0]) * ab[0] + (ys - a[1]) * ab[1]) / max(length2, 1e-12), 0.0, 1.0)
    d_line = np.hypot(xs - (a[0] + s * ab[0]), ys - (a[1] + s * ab[1]))
    d_end = np.minimum(np.hypot(xs - a[0], ys - a[1]), np.hypot(xs - b[0], ys - b[1]))
    inside = (d_line <= BODY_WIDTH / 2) | (d_end <= DISC_RADIUS)  # (h', w')
    canvas[y0:y1, x0:x1][inside] = colour


def _point(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def render_openpose(
    keypoints: np.ndarray,
    height: int,
    width: int,
    hands: tuple[np.ndarray, ...] | list[np.ndarray] | None = None,
    face: np.ndarray | None = None,
) -> np.ndarray:
    """Draw a BODY_25 skeleton (plus optional hands and face) on black.

    Args:
        keypoints: (25, 3) [x, y, confidence] in pixels.
        height, width: canvas size.
        hands: optional (21, 3) arrays (left, right).
        face: optional (70, 3) array.
    Returns:
        (H, W, 3) uint8 RGB.
    """
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 3)
    if kp.shape[0] != 25:
        raise ValueError(f"BODY_25 needs 25 keypoints, got {kp.shape[0]}")
    canvas = np.zeros((height, width, 3), dtype=np.uint8)  # drawn in RGB order directly
    for a, b, colour in BODY_EDGES:
        if kp[a, 2] > BODY_CONF and kp[b, 2] > BODY_CONF:
            _draw_thick(canvas, kp[a], kp[b], colour)
    for hand in hands or ():
        h = np.asarray(hand, dtype=np.float64).reshape(-1, 3)
        for finger, colour in enumerate(FINGER_COLOURS):
            chain = [0] + list(range(1 + 4 * finger, 5 + 4 * finger))
            for a, b in zip(chain[:-1], chain[1:], strict=True):
                if h[a, 2] > HAND_CONF and h[b, 2] > HAND_CONF:
                    cv2.line(canvas, _point(h[a]), _point(h[b]), colour, 1, lineType=cv2.LINE_8)
    if face is not None:
        f = np.asarray(face, dtype=np.float64).reshape(-1, 3)
        for a, b in FACE_EDGES:
            if f[a, 2] > FACE_CONF and f[b, 2] > FACE_CONF:
                cv2.line(canvas, _point(f[a]), _point(f[b]), FACE_COLOUR, 1, lineType=cv2.LINE_8)
    return canvas
