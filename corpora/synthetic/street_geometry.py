"""Ray-primitive intersections for the street renderer (planes, axis-aligned boxes, vertical cylinders, spheres).

Each function takes ray origins/directions as broadcastable float64 arrays and returns the ray parameter of the
first hit in front of the origin (np.inf where there is none). Rays are unit length, so the parameter is a
distance. `screen_rect` bounds a world box on screen so that small objects are tested only where they can appear.
"""

from __future__ import annotations

import numpy as np

from corpora.synthetic.camera import Camera

Rays = tuple[np.ndarray, np.ndarray, np.ndarray]
Origin = tuple[np.ndarray | float, np.ndarray | float, np.ndarray | float]

EPS = 1e-6


def ray_plane_x(o: Origin, d: Rays, x: float) -> np.ndarray:
    """Distance to the plane world-x = x."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (x - o[0]) / d[0]
    return np.where(t > EPS, t, np.inf)


def ray_ground(o: Origin, d: Rays) -> np.ndarray:
    """Distance to the ground plane y = 0 (from above)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -np.asarray(o[1]) / d[1]
    return np.where((d[1] < -EPS) & (t > EPS), t, np.inf)


def ray_box(o: Origin, d: Rays, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Distance to an axis-aligned box (slab test); lo, hi: (3,) or per-ray (..., 3) corners."""
    t_near = np.full(np.broadcast(d[0], o[0]).shape, -np.inf)
    t_far = np.full_like(t_near, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        for axis in range(3):
            inv = 1.0 / d[axis]
            t1 = (lo[..., axis] - o[axis]) * inv
            t2 = (hi[..., axis] - o[axis]) * inv
            t_near = np.maximum(t_near, np.minimum(t1, t2))
            t_far = np.minimum(t_far, np.maximum(t1, t2))
    hit = (t_far >= t_near) & (t_near > EPS)
    return np.where(hit, t_near, np.inf)


def box_normal(d: Rays, p: tuple[np.ndarray, ...], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Outward normal (N, 3) of the face that hit points p (on boxes lo/hi, (N, 3)) lie on."""
    dist = np.stack(
        [np.minimum(np.abs(p[a] - lo[:, a]), np.abs(p[a] - hi[:, a])) for a in range(3)], axis=1
    )  # (N, 3)
    axis = dist.argmin(axis=1)  # (N,)
    normal = np.zeros((len(axis), 3), dtype=np.float32)
    rows = np.arange(len(axis))
    centre = 0.5 * (lo + hi)  # (N, 3)
    pa = np.stack(p, axis=1)[rows, axis]
    normal[rows, axis] = np.where(pa > centre[rows, axis], 1.0, -1.0)
    return normal


def ray_cylinder(o: Origin, d: Rays, cx: float, cz: float, r: float, top: float) -> np.ndarray:
    """Distance to the side of a vertical cylinder standing on y = 0 (caps ignored)."""
    ox, oz = o[0] - cx, o[2] - cz
    a = d[0] * d[0] + d[2] * d[2]
    b = ox * d[0] + oz * d[2]
    c = ox * ox + oz * oz - r * r
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    y = o[1] + t * d[1]
    hit = (disc > 0) & (a > EPS) & (t > EPS) & (y >= 0.0) & (y <= top)
    return np.where(hit, t, np.inf)


def ray_sphere(o: Origin, d: Rays, centre: np.ndarray, r: float) -> np.ndarray:
    """Distance to a sphere (unit-length rays)."""
    ox, oy, oz = o[0] - centre[0], o[1] - centre[1], o[2] - centre[2]
    b = ox * d[0] + oy * d[1] + oz * d[2]
    c = ox * ox + oy * oy + oz * oz - r * r
    disc = b * b - c
    t = -b - np.sqrt(np.maximum(disc, 0.0))
    return np.where((disc > 0) & (t > EPS), t, np.inf)


def screen_rects(camera: Camera, lo: np.ndarray, hi: np.ndarray, margin: int = 2) -> list[tuple[slice, slice] | None]:
    """Pixel rows/columns that can see each world box [lo[i], hi[i]] ((n, 3) each); None when off screen.

    When a corner lies behind the camera the whole frame is returned (conservative).
    """
    if len(lo) == 0:
        return []
    pick = np.array(np.meshgrid([0, 1], [0, 1], [0, 1], indexing="ij")).reshape(3, -1).T  # (8, 3) 0 = lo, 1 = hi
    corners = np.where(pick[None, :, :] == 1, hi[:, None, :], lo[:, None, :])  # (n, 8, 3)
    u, v, depth = camera.project(corners[..., 0], corners[..., 1], corners[..., 2])  # (n, 8) each
    h, w = camera.height, camera.width
    behind = depth <= 0.05
    u0 = np.floor(u.min(1)).astype(np.int64) - margin
    u1 = np.ceil(u.max(1)).astype(np.int64) + margin + 1
    v0 = np.floor(v.min(1)).astype(np.int64) - margin
    v1 = np.ceil(v.max(1)).astype(np.int64) + margin + 1
    rects: list[tuple[slice, slice] | None] = []
    for i in range(len(lo)):
        if behind[i].all():
            rects.append(None)
        elif behind[i].any():
            rects.append((slice(0, h), slice(0, w)))
        elif u1[i] <= 0 or v1[i] <= 0 or u0[i] >= w or v0[i] >= h:
            rects.append(None)
        else:
            rects.append((slice(max(v0[i], 0), min(v1[i], h)), slice(max(u0[i], 0), min(u1[i], w))))
    return rects
