"""The procedural street world: what is where, how it moves, how it is lit. Sampled from a numpy Generator.

A straight road along +z (world x right, y up), sidewalks, a terrain strip, facade planes on both sides split into
segments along z (buildings with window grids, or hedges/tree lines), a vegetation backdrop behind them, poles with
traffic signs, trees (trunk + crown), parked / oncoming / leading cars (two boxes each) and pedestrians (two boxes +
a head sphere). Objects move by constant per-frame velocities, so their positions and the camera pose at any frame
are closed-form, which is what makes the renderer's flow exact. All distances are metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corpora.synthetic.camera import Camera, rotation

# Cityscapes labelIds used by the street world.
ROAD, SIDEWALK, BUILDING, POLE, TRAFFIC_SIGN = 7, 8, 11, 17, 20
VEGETATION, TERRAIN, SKY, PERSON, CAR = 21, 22, 23, 24, 26

# Box / sphere / cylinder part kinds (select the material).
CAR_BODY, CAR_CABIN, PERSON_LEGS, PERSON_TORSO, SIGN, HEAD, CROWN, POLE_PART, TRUNK = range(9)


@dataclass(frozen=True, eq=False)
class Facades:
    """One side of the street: a facade plane at x = `x`, split into segments along z."""

    x: float
    bounds: np.ndarray  # (n+1,) segment z boundaries, increasing
    kind: np.ndarray  # (n,) 0 building, 1 vegetation
    height: np.ndarray  # (n,)
    colour: np.ndarray  # (n, 3) float32 albedo
    glass: np.ndarray  # (n, 3) float32 window colour
    window: np.ndarray  # (n, 4) spacing along z, spacing in y, width fraction, height fraction

    def segment(self, z: np.ndarray) -> np.ndarray:
        """Segment index of each z (clipped to the sampled range)."""
        return np.clip(np.searchsorted(self.bounds, z, side="right") - 1, 0, len(self.kind) - 1)


@dataclass(frozen=True, eq=False)
class Boxes:
    """Axis-aligned boxes at frame 0 moving with constant per-frame velocity."""

    lo: np.ndarray  # (n, 3)
    hi: np.ndarray  # (n, 3)
    vel: np.ndarray  # (n, 3) metres per frame
    part: np.ndarray  # (n,) part kind
    label: np.ndarray  # (n,) labelId
    inst: np.ndarray  # (n,) instance id (labelId * 1000 + k for things, labelId for stuff)
    colour: np.ndarray  # (n, 3) main albedo
    colour2: np.ndarray  # (n, 3) secondary albedo (glass, stripes)
    heading: np.ndarray  # (n,) +1 / -1: which z face is the front


@dataclass(frozen=True, eq=False)
class Spheres:
    centre: np.ndarray  # (n, 3) at frame 0
    radius: np.ndarray  # (n,)
    vel: np.ndarray  # (n, 3)
    part: np.ndarray
    label: np.ndarray
    inst: np.ndarray
    colour: np.ndarray  # (n, 3)
    colour2: np.ndarray  # (n, 3) hair for heads


@dataclass(frozen=True, eq=False)
class Cylinders:
    """Static vertical cylinders standing on the ground."""

    x: np.ndarray
    z: np.ndarray
    radius: np.ndarray
    top: np.ndarray
    part: np.ndarray
    label: np.ndarray
    colour: np.ndarray  # (n, 3)


@dataclass(frozen=True)
class Lighting:
    sun: tuple[float, float, float]  # unit direction towards the sun
    sun_colour: tuple[float, float, float]
    ambient: tuple[float, float, float]
    zenith: tuple[float, float, float]
    horizon: tuple[float, float, float]
    clouds: float  # 0..1 cloud cover
    fog_distance: float


@dataclass(frozen=True)
class CameraPath:
    """Camera driving along the road: x sways sinusoidally, yaw and pitch oscillate, z advances linearly."""

    speed: float  # metres per frame
    x0: float
    height: float
    sway: float
    sway_freq: float
    yaw_amp: float
    yaw_freq: float
    pitch_amp: float
    phase: float
    focal: float
    cx: float
    cy: float
    image_height: int
    image_width: int

    def camera(self, t: float) -> Camera:
        x = self.x0 + self.sway * np.sin(self.sway_freq * t + self.phase)
        pos = np.array([x, self.height, self.speed * t])
        yaw = self.yaw_amp * np.sin(self.yaw_freq * t + 2 * self.phase)
        pitch = -0.02 + self.pitch_amp * np.sin(1.7 * self.yaw_freq * t + self.phase)
        return Camera(pos, rotation(yaw, pitch), self.focal, self.cx, self.cy, self.image_height, self.image_width)


@dataclass(frozen=True, eq=False)
class StreetWorld:
    road_half: float
    sidewalk: float
    left: Facades
    right: Facades
    back_left: Facades
    back_right: Facades
    boxes: Boxes
    spheres: Spheres
    cylinders: Cylinders
    light: Lighting
    path: CameraPath
    road_colour: np.ndarray  # (3,)
    mark_colour: np.ndarray  # (3,)
    sidewalk_colour: np.ndarray  # (3,)
    terrain_colour: np.ndarray  # (3,)
    tile: float
    texture_seed: int


_FACADE_TONES = np.array(
    [[0.75, 0.68, 0.55], [0.62, 0.33, 0.25], [0.55, 0.55, 0.55], [0.85, 0.83, 0.78], [0.7, 0.6, 0.45],
     [0.45, 0.42, 0.4], [0.8, 0.72, 0.6], [0.6, 0.65, 0.7], [0.72, 0.5, 0.38]], dtype=np.float32)
_CAR_TONES = np.array(
    [[0.8, 0.8, 0.82], [0.1, 0.1, 0.12], [0.6, 0.05, 0.05], [0.1, 0.2, 0.5], [0.5, 0.5, 0.52], [0.9, 0.9, 0.88],
     [0.2, 0.35, 0.25], [0.7, 0.55, 0.1], [0.3, 0.3, 0.35]], dtype=np.float32)


def _jitter(rng: np.random.Generator, base: np.ndarray, amount: float) -> np.ndarray:
    return np.clip(base * rng.uniform(1 - amount, 1 + amount, size=base.shape), 0.02, 1.0).astype(np.float32)


def _facades(rng: np.random.Generator, x: float, z0: float, z1: float, backdrop: bool) -> Facades:
    bounds = [z0]
    while bounds[-1] < z1:
        bounds.append(bounds[-1] + rng.uniform(8.0, 30.0))
    n = len(bounds) - 1
    kind = np.ones(n, dtype=np.int64) if backdrop else (rng.random(n) > 0.75).astype(np.int64)
    height = np.where(kind == 0, rng.uniform(6.0, 25.0, n), rng.uniform(2.0, 7.0, n))
    if backdrop:
        height = rng.uniform(7.0, 16.0, n)
    tones = _FACADE_TONES[rng.integers(0, len(_FACADE_TONES), n)]
    green = np.array([0.18, 0.32, 0.12], dtype=np.float32) * rng.uniform(0.7, 1.3, (n, 1))
    colour = np.where(kind[:, None] == 0, _jitter(rng, tones, 0.12), green).astype(np.float32)
    glass = _jitter(rng, np.tile(np.array([0.15, 0.2, 0.27], dtype=np.float32), (n, 1)), 0.4)
    window = np.stack(
        [rng.uniform(2.0, 4.0, n), rng.uniform(2.8, 3.6, n), rng.uniform(0.35, 0.65, n), rng.uniform(0.4, 0.65, n)],
        axis=1,
    )
    return Facades(x, np.array(bounds), kind, height, colour, glass, window)


BoxRow = tuple
"""One box as sample_street_world collects them: (lo, hi, vel, part, label, inst, colour, colour2, heading)."""
SphereRow = tuple
"""One sphere: (centre, radius, vel, part, label, inst, colour, colour2)."""


def car_parts(rng: np.random.Generator, x: float, z: float, vel: np.ndarray, heading: float, inst: int,
              along_x: bool = False) -> list[BoxRow]:
    """A car's body and cabin boxes centred on (x, z), long along z (or x when `along_x`: crossing the road);
    `heading` ±1 says which z face is the front (0: none)."""
    length, w = rng.uniform(3.8, 4.8), rng.uniform(1.7, 1.9)
    body_top = rng.uniform(0.95, 1.1)
    colour = _jitter(rng, _CAR_TONES[rng.integers(0, len(_CAR_TONES))], 0.1)
    glass = np.array([0.07, 0.09, 0.12], dtype=np.float32)
    cl = length * rng.uniform(0.45, 0.6)
    cabin_top = body_top + rng.uniform(0.4, 0.55)
    c = z - heading * length * 0.05  # the cabin's centre along the car
    body = ((x - w / 2, 0.12, z - length / 2), (x + w / 2, body_top, z + length / 2))
    cabin = ((x - w / 2 + 0.1, body_top, c - cl / 2), (x + w / 2 - 0.1, cabin_top, c + cl / 2))
    if along_x:  # the same boxes with their x and z extents swapped about (x, z)
        body, cabin = (tuple((x + (q[2] - z), q[1], z + (q[0] - x)) for q in box) for box in (body, cabin))
    return [(*body, vel, CAR_BODY, CAR, inst, colour, glass, heading),
            (*cabin, vel, CAR_CABIN, CAR, inst, colour, glass, heading)]


def person_parts(rng: np.random.Generator, x: float, z: float, vel: np.ndarray, inst: int
                 ) -> tuple[list[BoxRow], SphereRow]:
    """A pedestrian standing on (x, z): legs and torso boxes, and the head sphere."""
    s = rng.uniform(0.85, 1.1)
    shirt = rng.uniform(0.05, 0.95, 3).astype(np.float32)
    pants = rng.uniform(0.05, 0.6, 3).astype(np.float32)
    skin = _jitter(rng, np.array([0.75, 0.55, 0.42], dtype=np.float32) * rng.uniform(0.45, 1.15), 0.05)
    hair = rng.uniform(0.03, 0.5) * np.array([1.0, 0.8, 0.6], dtype=np.float32)
    legs = ((x - 0.17 * s, 0.0, z - 0.12 * s), (x + 0.17 * s, 0.85 * s, z + 0.12 * s), vel, PERSON_LEGS, PERSON, inst,
            pants, pants * 0.6, 1.0)
    stripes = rng.uniform(0.05, 0.95, 3).astype(np.float32) if rng.random() < 0.4 else shirt
    torso = ((x - 0.23 * s, 0.85 * s, z - 0.14 * s), (x + 0.23 * s, 1.45 * s, z + 0.14 * s), vel, PERSON_TORSO,
             PERSON, inst, shirt, stripes, 1.0)
    return [legs, torso], ((x, 1.58 * s, z), 0.12 * s, vel, HEAD, PERSON, inst, skin, hair)


def sample_street_world(rng: np.random.Generator, frames: int, height: int, width: int) -> StreetWorld:
    """Sample one sequence's world, camera path and lighting."""
    road_half = rng.uniform(4.5, 6.5)
    sidewalk = rng.uniform(2.2, 4.5)
    strip = rng.choice([0.0, rng.uniform(1.0, 4.0)])
    speed = rng.uniform(0.3, 1.1) if rng.random() > 0.12 else rng.uniform(0.0, 0.1)
    z0, z1 = -40.0, speed * frames + 260.0
    fx = road_half + sidewalk + strip
    left, right = _facades(rng, -fx, z0, z1, False), _facades(rng, fx, z0, z1, False)
    back_left, back_right = _facades(rng, -fx - 25.0, z0, z1, True), _facades(rng, fx + 25.0, z0, z1, True)

    boxes: list[tuple] = []  # (lo, hi, vel, part, label, inst, colour, colour2, heading)
    spheres: list[tuple] = []  # (centre, r, vel, part, label, inst, colour, colour2)
    cyl: list[tuple] = []  # (x, z, r, top, part, label, colour)
    cam_x = road_half * 0.3

    def add_car(x: float, z: float, vz: float, heading: float, k: int) -> None:
        boxes.extend(car_parts(rng, x, z, np.array([0.0, 0.0, vz]), heading, CAR * 1000 + k))

    k = 1
    for side in (-1.0, 1.0):  # parked cars
        z = z0 + rng.uniform(0, 8)
        while z < z1:
            if rng.random() < 0.45:
                add_car(side * (road_half - 1.1), z, 0.0, float(rng.choice([-1.0, 1.0])), k)
                k += 1
            z += rng.uniform(5.5, 12.0)
    for _ in range(rng.integers(0, 4)):  # leading cars in the camera's lane, never slower than the camera
        add_car(cam_x, rng.uniform(12.0, 120.0) + speed * 0, speed + rng.uniform(0.05, 0.6), 1.0, k)
        k += 1
    for _ in range(rng.integers(1, 7)):  # oncoming traffic
        vz = -rng.uniform(0.3, 1.0)
        add_car(-road_half * 0.3, rng.uniform(10.0, z1 - vz * frames), vz, -1.0, k)
        k += 1

    p = 1
    for side in (-1.0, 1.0):  # pedestrians on the sidewalks
        for _ in range(rng.poisson(max(1.0, (z1 - z0) / 18.0))):
            x = side * rng.uniform(road_half + 0.6, road_half + sidewalk - 0.4)
            z = rng.uniform(z0 + 20, z1)
            vz = 0.0 if rng.random() < 0.25 else rng.choice([-1.0, 1.0]) * rng.uniform(0.06, 0.11)
            person_boxes, head = person_parts(rng, x, z, np.array([0.0, 0.0, vz]), PERSON * 1000 + p)
            boxes.extend(person_boxes)
            spheres.append(head)
            p += 1

    for side in (-1.0, 1.0):  # poles (some with a sign) and trees
        z = z0 + rng.uniform(0, 10)
        while z < z1:
            x = side * (road_half + 0.35)
            top = rng.uniform(4.5, 7.5)
            cyl.append((x, z, rng.uniform(0.07, 0.12), top, POLE_PART, POLE, np.full(3, rng.uniform(0.35, 0.6))))
            if rng.random() < 0.4:
                sy = rng.uniform(2.2, 3.0)
                sign = np.array([[0.1, 0.25, 0.7], [0.8, 0.1, 0.1], [0.9, 0.75, 0.1]], dtype=np.float32)[
                    rng.integers(0, 3)]
                sx = x - side * 0.35
                boxes.append(((sx - 0.3, sy, z - 0.15), (sx + 0.3, sy + 0.6, z - 0.11), np.zeros(3), SIGN,
                              TRAFFIC_SIGN, TRAFFIC_SIGN, sign, np.full(3, 0.9, dtype=np.float32), -1.0))
            z += rng.uniform(12.0, 28.0)
        z = z0 + rng.uniform(0, 10)
        while z < z1:
            if rng.random() < 0.5:
                x = side * (road_half + sidewalk + (strip / 2 if strip > 0 else -0.5))
                r = rng.uniform(1.2, 2.4)
                trunk = rng.uniform(2.0, 3.5)
                cyl.append((x, z, rng.uniform(0.1, 0.2), trunk + r * 0.5, TRUNK, VEGETATION,
                            np.array([0.3, 0.22, 0.15]) * rng.uniform(0.7, 1.2)))
                green = _jitter(rng, np.array([0.2, 0.36, 0.12], dtype=np.float32), 0.25)
                spheres.append(((x, trunk + r * 0.8, z), r, np.zeros(3), CROWN, VEGETATION, VEGETATION, green, green))
            z += rng.uniform(7.0, 18.0)

    elevation = rng.uniform(np.radians(20), np.radians(65))
    azimuth = rng.uniform(0, 2 * np.pi)
    overcast = rng.random() < 0.2
    sun = (np.cos(elevation) * np.sin(azimuth), np.sin(elevation), np.cos(elevation) * np.cos(azimuth))
    warm = rng.uniform(0.0, 0.15)
    intensity = rng.uniform(0.25, 0.4) if overcast else rng.uniform(0.8, 1.1)
    zenith = np.array([0.5, 0.52, 0.55]) if overcast else np.array([0.22, 0.42, 0.78]) * rng.uniform(0.85, 1.1)
    horizon = np.array([0.72, 0.74, 0.76]) if overcast else np.array([0.7, 0.8, 0.9]) * rng.uniform(0.9, 1.05)
    light = Lighting(
        sun=tuple(float(v) for v in sun),
        sun_colour=(intensity, intensity * (1 - warm * 0.5), intensity * (1 - warm)),
        ambient=tuple(float(v) for v in (0.55 if overcast else 0.38) * (0.5 * zenith + 0.5 * horizon) / 0.6),
        zenith=tuple(float(v) for v in zenith),
        horizon=tuple(float(v) for v in horizon),
        clouds=float(rng.uniform(0.0, 0.8)),
        fog_distance=float(rng.uniform(250.0, 500.0)),
    )
    hfov = np.radians(rng.uniform(62.0, 78.0))
    focal = (width / 2) / np.tan(hfov / 2)
    path = CameraPath(
        speed=float(speed), x0=float(cam_x), height=float(rng.uniform(1.3, 1.7)), sway=float(rng.uniform(0, 0.3)),
        sway_freq=float(rng.uniform(0.05, 0.2)), yaw_amp=float(rng.uniform(0.0, 0.06)),
        yaw_freq=float(rng.uniform(0.05, 0.25)), pitch_amp=float(rng.uniform(0.0, 0.015)),
        phase=float(rng.uniform(0, 2 * np.pi)), focal=float(focal), cx=(width - 1) / 2,
        cy=(height - 1) * float(rng.uniform(0.42, 0.5)), image_height=height, image_width=width,
    )

    def stack(rows: list[tuple], i: int, dtype: type = np.float64) -> np.ndarray:
        return np.array([row[i] for row in rows], dtype=dtype)

    box_arrays = Boxes(*(stack(boxes, i, dt) for i, dt in enumerate(
        (np.float64, np.float64, np.float64, np.int64, np.int64, np.int64, np.float32, np.float32, np.float64))))
    sphere_arrays = Spheres(*(stack(spheres, i, dt) for i, dt in enumerate(
        (np.float64, np.float64, np.float64, np.int64, np.int64, np.int64, np.float32, np.float32))))
    cyl_arrays = Cylinders(*(stack(cyl, i, dt) for i, dt in enumerate(
        (np.float64, np.float64, np.float64, np.float64, np.int64, np.int64, np.float32))))
    asphalt = rng.uniform(0.22, 0.36)
    return StreetWorld(
        road_half=float(road_half), sidewalk=float(sidewalk), left=left, right=right, back_left=back_left,
        back_right=back_right, boxes=box_arrays, spheres=sphere_arrays, cylinders=cyl_arrays, light=light, path=path,
        road_colour=np.array([asphalt, asphalt, asphalt * 1.04], dtype=np.float32),
        mark_colour=np.array([0.9, 0.9, 0.85] if rng.random() < 0.7 else [0.9, 0.75, 0.2], dtype=np.float32),
        sidewalk_colour=_jitter(rng, np.array([0.62, 0.6, 0.57], dtype=np.float32), 0.15),
        terrain_colour=_jitter(rng, np.array([0.35, 0.42, 0.2], dtype=np.float32), 0.2),
        tile=float(rng.uniform(0.4, 0.8)), texture_seed=int(rng.integers(0, 2**31 - 1)),
    )
