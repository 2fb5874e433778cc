"""Articulated 2-D figures on the BODY_25 skeleton: proportions, motions (walk, dance, wave, idle, turning) and
the per-part affine transforms and keypoints they produce at any frame.

Figure coordinates have the mid-hip at the origin, x to the image right, y down, unit = figure height (head top to
soles). A part's local frame has its axis along +y from its joint; part -> figure is a rotation by the part's
absolute angle (0 = pointing down, positive = towards +x) plus the joint position; figure -> image is the
sequence's camera/placement affine. Every pixel of a part therefore moves by one affine map between frames, which
is how the renderer gets exact flow.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

# Part names in drawing order (back to front) and their materials.
PARTS: tuple[tuple[str, str], ...] = (
    ("hair_back", "hair"), ("l_foot", "shoes"), ("l_shin", "pants"), ("l_thigh", "pants"),
    ("r_foot", "shoes"), ("r_shin", "pants"), ("r_thigh", "pants"), ("torso", "shirt"), ("neck", "skin"),
    ("head", "skin"), ("l_upper", "shirt"), ("l_lower", "sleeve"), ("l_hand", "skin"),
    ("r_upper", "shirt"), ("r_lower", "sleeve"), ("r_hand", "skin"),
)
PART_INDEX = {name: i for i, (name, _) in enumerate(PARTS)}


@dataclass(frozen=True)
class Proportions:
    torso: float = 0.30
    shoulder: float = 0.105
    hip: float = 0.065
    upper_arm: float = 0.165
    forearm: float = 0.15
    thigh: float = 0.235
    shin: float = 0.225
    head: float = 0.065
    bulk: float = 1.0  # limb thickness factor


@dataclass(frozen=True)
class Motion:
    kind: str  # "walk" | "dance" | "wave" | "idle"
    freq: float  # cycles per frame
    phase: float
    amp: float  # 0.5..1.5 scale on the kind's angles
    turn: float  # 0..0.45: horizontal squash of the whole figure, oscillating (turning towards the side)
    turn_freq: float
    direction: float  # +1 / -1 walking / facing direction (feet point this way)
    then: str | None = None  # another kind taken up from frame `switch_at` on (None: one kind throughout)
    switch_at: int = 0  # the first frame of the change; the joint angles blend over SWITCH_FRAMES frames


SWITCH_FRAMES = 4
"""Frames over which a motion with `then` blends its joint angles from `kind` into `then` (a smoothstep)."""


@dataclass(frozen=True)
class Placement:
    """Figure -> image: root at (x0 + vx t, ground) in world pixels, then the camera pans and zooms."""

    x0: float
    vx: float
    ground: float  # image y of the soles
    scale: float  # figure height in pixels
    pan: float  # camera x velocity in pixels per frame
    zoom: float  # relative zoom per frame
    cx: float
    cy: float


def _rot(theta: float) -> np.ndarray:
    """(2, 2) part -> figure rotation: local +y maps to (sin θ, cos θ)."""
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, s], [-s, c]])


def affine(linear: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """(3, 3) homogeneous matrix from a (2, 2) linear part and a (2,) offset."""
    m = np.eye(3)
    m[:2, :2] = linear
    m[:2, 2] = offset
    return m


def camera_matrix(place: Placement, t: float) -> np.ndarray:
    """World pixels -> image pixels at frame t (pan, then zoom about the image centre); (3, 3)."""
    z = 1.0 + place.zoom * t
    centre = np.array([place.cx, place.cy])
    return affine(np.eye(2) * z, centre - z * (centre + np.array([place.pan * t, 0.0])))


def angles(motion: Motion, t: float) -> dict[str, float]:
    """Absolute part angles and root offsets (figure units) at frame t; a motion with `then` blends into the other
    kind's angles (same frequency, phase and amplitude) from frame `switch_at` on."""
    own = _kind_angles(motion, t)
    if motion.then is None or t <= motion.switch_at:
        return own
    u = min(1.0, (t - motion.switch_at) / SWITCH_FRAMES)
    w = u * u * (3 - 2 * u)  # smoothstep: no jump in angle or in angular speed at either end
    other = _kind_angles(replace(motion, kind=motion.then, then=None), t)
    return {k: (1 - w) * own[k] + w * other[k] for k in own}


def _kind_angles(motion: Motion, t: float) -> dict[str, float]:
    phi = 2 * np.pi * motion.freq * t + motion.phase
    a, d = motion.amp, motion.direction
    out = {"lean": 0.0, "tilt": 0.0, "bob": 0.0, "sway": 0.0,
           "r_upper": -0.12, "l_upper": 0.12, "r_bend": -0.15, "l_bend": 0.15,
           "r_thigh": -0.04, "l_thigh": 0.04, "r_knee": 0.0, "l_knee": 0.0}
    if motion.kind == "walk":
        swing = 0.45 * a * np.sin(phi)
        out.update(r_thigh=-0.04 + swing, l_thigh=0.04 - swing,
                   r_knee=-d * 0.5 * a * max(0.0, np.sin(phi + 1.2)),
                   l_knee=-d * 0.5 * a * max(0.0, -np.sin(phi + 1.2)),
                   r_upper=-0.12 - 0.35 * a * np.sin(phi), l_upper=0.12 + 0.35 * a * np.sin(phi),
                   r_bend=-0.2 - d * 0.2 * a, l_bend=0.2 - d * 0.2 * a,
                   bob=-0.012 * abs(np.cos(phi)), lean=0.04 * d)
    elif motion.kind == "dance":
        up_r = 0.3 + 1.1 * a * (0.5 + 0.5 * np.sin(phi))
        up_l = 0.3 + 1.1 * a * (0.5 + 0.5 * np.sin(phi + np.pi * 0.7))
        dip = 0.25 * a * (0.5 + 0.5 * np.sin(2 * phi))
        out.update(r_upper=-up_r, l_upper=up_l, r_bend=-0.6 * np.sin(phi + 1), l_bend=0.6 * np.sin(phi + 2),
                   r_thigh=-0.1 - dip, l_thigh=0.1 + dip, r_knee=dip * 1.8, l_knee=-dip * 1.8,
                   lean=0.12 * a * np.sin(phi), sway=0.04 * a * np.sin(phi), bob=0.03 * dip, tilt=0.15 * np.sin(phi))
    elif motion.kind == "wave":
        out.update(r_upper=-2.2 - 0.2 * a * np.sin(phi), r_bend=-0.9 * a * np.sin(3 * phi) - 0.3,
                   l_upper=0.1 + 0.05 * np.sin(phi), lean=0.03 * np.sin(phi), tilt=0.1 * np.sin(phi))
    else:  # idle: breathing and a little shifting of weight
        out.update(lean=0.02 * np.sin(phi), sway=0.01 * np.sin(phi), r_upper=-0.1 - 0.05 * a * np.sin(phi),
                   l_upper=0.1 + 0.05 * a * np.sin(phi + 1))
    return out


@dataclass(frozen=True, eq=False)
class Pose:
    """One frame of a figure: image-space part matrices (local -> image, (P, 3, 3)) and BODY_25 keypoints."""

    parts: np.ndarray  # (P, 3, 3)
    keypoints: np.ndarray  # (25, 3) [x, y, confidence]


def pose_at(prop: Proportions, motion: Motion, place: Placement, t: float) -> Pose:
    """Part matrices and keypoints at frame t."""
    a = angles(motion, t)
    sx = 1.0 - motion.turn * (0.5 - 0.5 * np.cos(2 * np.pi * motion.turn_freq * t))
    legs = prop.thigh + prop.shin
    root = np.array([place.x0 + place.vx * t + a["sway"] * place.scale, place.ground - (legs + 0.03) * place.scale
                     + a["bob"] * place.scale])
    to_image = camera_matrix(place, t) @ affine(np.diag([sx, 1.0]) * place.scale, root)  # figure -> image
    lean = a["lean"]
    up = np.array([-np.sin(lean), -np.cos(lean)])  # torso axis, hips -> neck
    side = np.array([-np.cos(lean), np.sin(lean)])  # towards the figure's right = image left
    neck = prop.torso * up
    joints: dict[str, np.ndarray] = {"neck": neck, "mid_hip": np.zeros(2),
                                     "r_shoulder": neck + prop.shoulder * side,
                                     "l_shoulder": neck - prop.shoulder * side,
                                     "r_hip": prop.hip * side, "l_hip": -prop.hip * side}
    local: dict[str, np.ndarray] = {}  # part -> figure matrices

    def limb(name: str, joint: np.ndarray, theta: float, length: float) -> np.ndarray:
        local[name] = affine(_rot(theta), joint)
        return joint + length * np.array([np.sin(theta), np.cos(theta)])

    local["torso"] = affine(_rot(np.pi + lean), np.zeros(2))
    head_theta = np.pi + lean + a["tilt"]
    local["neck"] = affine(_rot(head_theta), neck)
    local["head"] = local["neck"]
    local["hair_back"] = local["neck"]
    for s in ("r", "l"):
        elbow = limb(f"{s}_upper", joints[f"{s}_shoulder"], a[f"{s}_upper"], prop.upper_arm)
        wrist = limb(f"{s}_lower", elbow, a[f"{s}_upper"] + a[f"{s}_bend"], prop.forearm)
        limb(f"{s}_hand", wrist, a[f"{s}_upper"] + a[f"{s}_bend"], 0.06)
        knee = limb(f"{s}_thigh", joints[f"{s}_hip"], a[f"{s}_thigh"], prop.thigh)
        ankle = limb(f"{s}_shin", knee, a[f"{s}_thigh"] + a[f"{s}_knee"], prop.shin)
        limb(f"{s}_foot", ankle - np.array([0.0, -0.005]), motion.direction * (np.pi / 2 - 0.15), 0.075)
        joints.update({f"{s}_elbow": elbow, f"{s}_wrist": wrist, f"{s}_knee": knee, f"{s}_ankle": ankle})
    parts = np.stack([to_image @ local[name] for name, _ in PARTS])  # (P, 3, 3)

    def in_part(name: str, x: float, y: float) -> np.ndarray:
        return (to_image @ local[name] @ np.array([x, y, 1.0]))[:2]

    def fig(name: str) -> np.ndarray:
        return (to_image @ np.array([*joints[name], 1.0]))[:2]

    h = prop.head
    centre = 0.04 + h
    facing = 1.0 - 0.6 * (1.0 - sx)  # eyes converge a little when turned
    kp = np.zeros((25, 3))
    named = {
        0: in_part("head", 0.0, centre - 0.3 * h), 1: fig("neck"), 2: fig("r_shoulder"), 3: fig("r_elbow"),
        4: fig("r_wrist"), 5: fig("l_shoulder"), 6: fig("l_elbow"), 7: fig("l_wrist"), 8: fig("mid_hip"),
        9: fig("r_hip"), 10: fig("r_knee"), 11: fig("r_ankle"), 12: fig("l_hip"), 13: fig("l_knee"),
        14: fig("l_ankle"), 15: in_part("head", 0.38 * h * facing, centre + 0.12 * h),
        16: in_part("head", -0.38 * h * facing, centre + 0.12 * h), 17: in_part("head", 0.9 * h, centre),
        18: in_part("head", -0.9 * h, centre), 19: in_part("l_foot", 0.01, 0.075), 20: in_part("l_foot", -0.012, 0.06),
        21: in_part("l_foot", 0.0, -0.02), 22: in_part("r_foot", 0.01, 0.075), 23: in_part("r_foot", -0.012, 0.06),
        24: in_part("r_foot", 0.0, -0.02),
    }
    for j, xy in named.items():
        kp[j] = (xy[0], xy[1], 0.95)
    return Pose(parts=parts, keypoints=kp)
