"""Materials of the street world: albedo (and labels where a surface carries several) per hit point.

Every texture is a function of coordinates fixed to the surface (world coordinates for static things, box-local
coordinates for moving boxes), so a surface point keeps its colour from frame to frame. `fp` is the pixel
footprint in metres (see `noise.fbm`).
"""

from __future__ import annotations

import numpy as np

from corpora.synthetic import street_world as sw
from corpora.synthetic.noise import fbm, periodic_band, smoothstep, soft_band, value_noise


def _mix(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Blend (N, 3) colours a -> b by weights (N,)."""
    return a + (b - a) * w[:, None]


def ground(world: sw.StreetWorld, x: np.ndarray, z: np.ndarray, fp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ground points (N,) -> albedo (N, 3) float32 and labelIds (N,) (road, sidewalk or terrain by |x|)."""
    seed, rh = world.texture_seed, world.road_half
    ax = np.abs(x)
    label = np.where(ax < rh, sw.ROAD, np.where(ax < rh + world.sidewalk, sw.SIDEWALK, sw.TERRAIN))
    n = len(x)
    # Road: asphalt noise + dashed centre line + solid edge lines.
    asphalt = world.road_colour[None, :] * (0.75 + 0.5 * fbm(x, z, seed + 1, 2.0, fp))[:, None]  # (N, 3)
    marks = soft_band(x, -0.08, 0.08, fp) * periodic_band(z, 6.0, 0.0, 3.0, fp)
    marks = np.maximum(marks, soft_band(ax, rh - 0.35, rh - 0.22, fp))
    road = _mix(asphalt, np.broadcast_to(world.mark_colour, (n, 3)), marks)
    # Sidewalk: tiles with dark grout, a lighter curb.
    grout = np.maximum(periodic_band(x, world.tile, 0.0, 0.04, fp), periodic_band(z, world.tile, 0.0, 0.04, fp))
    side = world.sidewalk_colour[None, :] * ((0.85 + 0.3 * fbm(x, z, seed + 2, 1.0, fp)) * (1 - 0.35 * grout))[:, None]
    side = side * (1.0 + 0.25 * soft_band(ax, rh, rh + 0.2, fp))[:, None]
    # Terrain: grass/earth noise.
    terrain = world.terrain_colour[None, :] * (0.55 + 0.9 * fbm(x, z, seed + 3, 1.5, fp))[:, None]
    albedo = np.where((label == sw.ROAD)[:, None], road, np.where((label == sw.SIDEWALK)[:, None], side, terrain))
    return albedo.astype(np.float32), label


def facade_height(fac: sw.Facades, seg: np.ndarray, z: np.ndarray, seed: int) -> np.ndarray:
    """Height of the facade at z; vegetation segments get a ragged top (a function of z only)."""
    wobble = 1.2 * (value_noise(z * 0.7, seg * 7.0, seed + 11) - 0.5)
    return fac.height[seg] + np.where(fac.kind[seg] == 1, wobble, 0.0)


def facade(
    fac: sw.Facades, seg: np.ndarray, z: np.ndarray, y: np.ndarray, fp: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Facade points -> albedo (N, 3) and labelIds (building with windows, or vegetation)."""
    veg = fac.kind[seg] == 1
    base = fac.colour[seg]  # (N, 3)
    wall = base * (0.85 + 0.3 * fbm(z, y, seed + 4, 4.0, fp))[:, None]
    sx, sy, fw, fh = (fac.window[seg, i] for i in range(4))
    local = z - fac.bounds[seg]
    wx = soft_band(np.mod(local, sx), sx * (1 - fw) / 2, sx * (1 + fw) / 2, fp)
    wy = soft_band(np.mod(y, sy), sy * (1 - fh) / 2, sy * (1 + fh) / 2, fp)
    fade = np.clip(np.minimum(sx, sy) / (3 * fp) - 1, 0, 1)  # far away: average window coverage
    win = (wx * wy * fade + fw * fh * (1 - fade)) * (y > 1.0) * (y < fac.height[seg] - 0.8)
    glass = fac.glass[seg] * (0.6 + 0.8 * fbm(z * 0.5, y, seed + 5, 5.0, fp))[:, None]
    building = _mix(wall, glass, win.astype(np.float32))
    leaves = base * (0.45 + 1.1 * fbm(z, y, seed + 6, 1.2, fp))[:, None]
    albedo = np.where(veg[:, None], leaves, building)
    return albedo.astype(np.float32), np.where(veg, sw.VEGETATION, sw.BUILDING)


def box(
    boxes: sw.Boxes, idx: np.ndarray, local: np.ndarray, normal: np.ndarray, size: np.ndarray, fp: np.ndarray
) -> np.ndarray:
    """Box surface points -> albedo (N, 3). local: position relative to the box's lo corner (N, 3)."""
    part = boxes.part[idx]
    base = boxes.colour[idx].copy()  # (N, 3)
    second = boxes.colour2[idx]
    lx, ly, lz = local[:, 0], local[:, 1], local[:, 2]
    w, length = size[:, 0], size[:, 2]
    side_face = np.abs(normal[:, 0]) > 0.5
    z_face = np.abs(normal[:, 2]) > 0.5
    front = z_face & (normal[:, 2] * boxes.heading[idx] > 0)
    # Car body: wheels on the sides, lights on the ends, a darker bumper band.
    body = part == sw.CAR_BODY
    wz = np.minimum(np.abs(lz - 0.75), np.abs(lz - (length - 0.75)))
    wheel = (1 - smoothstep(0.3 - fp, 0.3 + fp, np.sqrt(wz**2 + (ly - 0.21) ** 2))) * side_face
    lamp = soft_band(ly, 0.45, 0.62, fp) * np.maximum(soft_band(lx, 0.1, 0.4, fp), soft_band(lx, w - 0.4, w - 0.1, fp))
    lamp_colour = np.where(front[:, None], np.array([0.95, 0.95, 0.85]), np.array([0.75, 0.05, 0.05]))
    car = _mix(base * np.where(ly < 0.25, 0.55, 1.0)[:, None], lamp_colour, lamp * z_face)
    car = _mix(car, np.full_like(car, 0.04), wheel)
    # Cabin: glass on all sides, pillars at the ends, roof in body colour.
    cabin_glass = np.abs(normal[:, 1]) < 0.5
    pillar = np.maximum(soft_band(lz, -1, 0.12, fp), soft_band(lz, length - 0.12, length + 1, fp)) * side_face
    cabin = np.where(cabin_glass[:, None], _mix(second, base, pillar), base)
    # People: legs split in the middle, torsos with optional stripes.
    split = soft_band(lx, 0.45 * w, 0.55 * w, fp) * z_face
    legs = _mix(base, second, split)
    torso = _mix(base, second, periodic_band(ly, 0.12, 0.0, 0.06, fp))
    # Signs: coloured plate with a light border on the face towards the road.
    inner = soft_band(lx, 0.06, w - 0.06, fp) * soft_band(ly, 0.06, size[:, 1] - 0.06, fp)
    sign = np.where(front[:, None], _mix(second, base, inner), np.full_like(base, 0.45))
    out = np.select(
        [(body)[:, None], (part == sw.CAR_CABIN)[:, None], (part == sw.PERSON_LEGS)[:, None],
         (part == sw.PERSON_TORSO)[:, None], (part == sw.SIGN)[:, None]],
        [car, cabin, legs, torso, sign], base,
    )
    return out.astype(np.float32)


def cylinder(cyl: sw.Cylinders, idx: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray,
             fp: np.ndarray, seed: int) -> np.ndarray:
    """Pole / trunk surface points -> albedo (N, 3)."""
    angle = np.arctan2(x - cyl.x[idx], z - cyl.z[idx]) * cyl.radius[idx]  # arc length around the axis
    bark = 0.6 + 0.8 * fbm(angle * 3.0, y, seed + 7, 0.4, fp)
    metal = 0.9 + 0.2 * fbm(angle, y, seed + 8, 2.0, fp)
    gain = np.where(cyl.part[idx] == sw.TRUNK, bark, metal)
    return (cyl.colour[idx] * gain[:, None]).astype(np.float32)


def sphere(sph: sw.Spheres, idx: np.ndarray, local: np.ndarray, normal: np.ndarray, fp: np.ndarray,
           seed: int) -> np.ndarray:
    """Head / tree-crown surface points -> albedo (N, 3). local: offset from the (moving) centre."""
    leaves = 0.45 + 1.1 * fbm(local[:, 0] + 0.5 * local[:, 1], local[:, 2] - 0.7 * local[:, 1], seed + 9, 0.8, fp)
    crown = sph.colour[idx] * leaves[:, None]
    hair = smoothstep(0.15, 0.35, normal[:, 1])
    head = _mix(sph.colour[idx], sph.colour2[idx], hair)
    return np.where((sph.part[idx] == sw.CROWN)[:, None], crown, head).astype(np.float32)


def sky(world: sw.StreetWorld, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray, focal: float) -> np.ndarray:
    """Sky colour (N, 3) from view directions only (points at infinity): gradient plus clouds."""
    light = world.light
    up = np.clip(dy, 0.0, 1.0)
    grad = np.clip(up * 3.0, 0.0, 1.0) ** 0.7
    horizon, zenith = np.array(light.horizon), np.array(light.zenith)
    colour = horizon[None, :] + (zenith - horizon)[None, :] * grad[:, None]  # (N, 3)
    h = np.maximum(dy, 0.03)
    fp = 1.0 / (focal * h * h)
    density = fbm(dx / h * 2.0, dz / h * 2.0, world.texture_seed + 10, 3.0, fp, octaves=5)
    cloud = smoothstep(0.62 - 0.25 * light.clouds, 0.85 - 0.2 * light.clouds, density) * light.clouds
    cloud = cloud * smoothstep(0.0, 0.08, dy)
    return _mix(colour, np.full_like(colour, 0.93), cloud).astype(np.float32)
