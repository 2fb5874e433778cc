"""Ray-cast renderer of the street world: labels, instances, RGB, depth and exact backward flow per frame.

For every pixel the nearest surface is found by intersecting the pixel's ray with the ground, the facade planes
and every (screen-culled) box, cylinder and sphere. The hit point's colour comes from `street_shading`; its
velocity is that of the object it lies on. The backward flow t -> t-1 is analytic: move the hit point back by
its object's per-frame velocity and project it with the camera of frame t-1 (sky: rotate the view direction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corpora.synthetic import street_shading as shade
from corpora.synthetic import street_world as sw
from corpora.synthetic.camera import Camera
from corpora.synthetic.street_geometry import (
    box_normal,
    ray_box,
    ray_cylinder,
    ray_ground,
    ray_plane_x,
    ray_sphere,
    screen_rects,
)

SKY_F, GROUND_F, FACADE_F, BOX_F, CYL_F, SPHERE_F = 0, 1, 2, 6, 7, 8  # FACADE_F..FACADE_F+3: 4 planes
MAX_DIST = 400.0


@dataclass(frozen=True, eq=False)
class StreetFrame:
    """One rendered frame."""

    rgb: np.ndarray  # (H, W, 3) uint8
    label: np.ndarray  # (H, W) uint8 Cityscapes labelIds
    instance: np.ndarray  # (H, W) uint16: labelId * 1000 + k for cars/people, else labelId
    depth: np.ndarray  # (H, W) float32 depth along the optical axis (inf for sky)
    flow: np.ndarray | None  # (H, W, 2) float32 backward flow t -> t-1 in pixels (None at t = 0)
    prev_depth: np.ndarray | None  # (H, W) float32 depth of each pixel's point in camera t-1


def _planes(world: sw.StreetWorld) -> tuple[sw.Facades, ...]:
    return world.left, world.right, world.back_left, world.back_right


def _trace(world: sw.StreetWorld, cam: Camera, t: int) -> tuple[np.ndarray, ...]:
    """Nearest hit per pixel: distance (H, W), family (H, W), object index (H, W), rays."""
    h, w = cam.height, cam.width
    d = tuple(c.reshape(h, w) for c in cam.rays())  # (H, W) each
    o = tuple(float(c) for c in cam.position)
    best = ray_ground(o, d)  # (H, W)
    family = np.where(np.isfinite(best), GROUND_F, SKY_F)
    obj = np.zeros((h, w), dtype=np.int64)
    for i, fac in enumerate(_planes(world)):
        tt = ray_plane_x(o, d, fac.x)
        finite = np.isfinite(tt)
        y = o[1] + np.where(finite, tt, 0.0) * d[1]
        z = o[2] + np.where(finite, tt, 0.0) * d[2]
        seg = fac.segment(z)
        ok = finite & (y < shade.facade_height(fac, seg, z, world.texture_seed)) & (tt < best)
        best = np.where(ok, tt, best)
        family = np.where(ok, FACADE_F + i, family)
        obj = np.where(ok, seg, obj)

    def update(rect: tuple[slice, slice], tt: np.ndarray, fam: int, index: int) -> None:
        closer = tt < best[rect]
        best[rect] = np.where(closer, tt, best[rect])
        family[rect] = np.where(closer, fam, family[rect])
        obj[rect] = np.where(closer, index, obj[rect])

    b = world.boxes
    lo, hi = b.lo + b.vel * t, b.hi + b.vel * t  # (n, 3) each, at frame t
    for i, rect in enumerate(screen_rects(cam, lo, hi)):
        if rect is not None:
            update(rect, ray_box(o, tuple(a[rect] for a in d), lo[i], hi[i]), BOX_F, i)
    c = world.cylinders
    r = c.radius
    lo = np.stack([c.x - r, np.zeros_like(r), c.z - r], axis=1)
    hi = np.stack([c.x + r, c.top, c.z + r], axis=1)
    for i, rect in enumerate(screen_rects(cam, lo, hi)):
        if rect is not None:
            update(rect, ray_cylinder(o, tuple(a[rect] for a in d), c.x[i], c.z[i], r[i], c.top[i]), CYL_F, i)
    s = world.spheres
    centre = s.centre + s.vel * t  # (n, 3)
    for i, rect in enumerate(screen_rects(cam, centre - s.radius[:, None], centre + s.radius[:, None])):
        if rect is not None:
            update(rect, ray_sphere(o, tuple(a[rect] for a in d), centre[i], s.radius[i]), SPHERE_F, i)
    family = np.where(best > MAX_DIST * 4, SKY_F, family)
    return best, family, obj, d


def _ground_shadow(world: sw.StreetWorld, cam: Camera, px: np.ndarray, pz: np.ndarray, t: int) -> np.ndarray:
    """1 where ground points (N,) see the sun, 0 in the shadow of facades, cars, people and tree crowns."""
    sun = np.array(world.light.sun)
    lit = np.ones(len(px), dtype=np.float32)
    for fac in (world.left, world.right):
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (fac.x - px) / sun[0]
        zs = pz + s * sun[2]
        seg = fac.segment(zs)
        blocked = (s > 0) & (s * sun[1] < shade.facade_height(fac, seg, zs, world.texture_seed))
        lit[blocked] = 0.0
    o = (px, np.zeros_like(px), pz)
    d = (np.full_like(px, sun[0]), np.full_like(px, sun[1]), np.full_like(px, sun[2]))
    reach = 4.0 / max(sun[1], 0.2)  # tallest caster / tan(elevation), bounds the shadow's offset
    b = world.boxes
    cz = cam.position[2]
    for i in range(len(b.part)):
        lo, hi = b.lo[i] + b.vel[i] * t, b.hi[i] + b.vel[i] * t
        if hi[2] < cz - 15 - reach or lo[2] > cz + 80:
            continue
        sel = (px > lo[0] - reach) & (px < hi[0] + reach) & (pz > lo[2] - reach) & (pz < hi[2] + reach)
        if sel.any():
            hit = np.isfinite(ray_box(tuple(a[sel] for a in o), tuple(a[sel] for a in d), lo, hi))
            lit[np.flatnonzero(sel)[hit]] = 0.0
    s = world.spheres
    for i in np.flatnonzero(s.part == sw.CROWN):
        c = s.centre[i]
        if not cz - 30 < c[2] < cz + 80:
            continue
        ox, oz = px - c[0] + sun[0] / sun[1] * c[1], pz - c[2] + sun[2] / sun[1] * c[1]
        lit[ox * ox + oz * oz < (s.radius[i] * 0.9) ** 2] = 0.0  # vertical projection of the crown disc
    return lit


def render_frame(world: sw.StreetWorld, t: int) -> StreetFrame:
    """Render frame `t` of a world (labels, instances, RGB, depth, flow to frame t-1)."""
    cam = world.path.camera(t)
    h, w = cam.height, cam.width
    dist, family, obj, d = _trace(world, cam, t)
    fam, idx = family.ravel(), obj.ravel()
    dx, dy, dz = (c.ravel() for c in d)
    dist_f = np.where(fam == SKY_F, 0.0, dist.ravel())
    px, py, pz = (cam.position[a] + dist_f * (dx, dy, dz)[a] for a in range(3))  # (P,) hit points
    n_pix = h * w
    albedo = np.zeros((n_pix, 3), dtype=np.float32)
    normal = np.zeros((n_pix, 3), dtype=np.float32)
    label = np.full(n_pix, sw.SKY, dtype=np.int64)
    inst = np.full(n_pix, sw.SKY, dtype=np.int64)
    vel = np.zeros((n_pix, 3))
    seed = world.texture_seed

    def footprint(m: np.ndarray) -> np.ndarray:
        cos = np.abs(normal[m, 0] * dx[m] + normal[m, 1] * dy[m] + normal[m, 2] * dz[m])
        return (dist_f[m] / (cam.focal * np.maximum(cos, 0.08))).astype(np.float32)

    m = fam == GROUND_F
    normal[m] = (0.0, 1.0, 0.0)
    albedo[m], label[m] = shade.ground(world, px[m], pz[m], footprint(m))
    for i, fac in enumerate(_planes(world)):
        m = fam == FACADE_F + i
        normal[m] = (-np.sign(fac.x), 0.0, 0.0)
        albedo[m], label[m] = shade.facade(fac, idx[m], pz[m], py[m], footprint(m), seed + 20 * i)
    m = fam == BOX_F
    if m.any():
        b, bi = world.boxes, idx[m]
        lo, hi = b.lo[bi] + b.vel[bi] * t, b.hi[bi] + b.vel[bi] * t  # (N, 3)
        normal[m] = box_normal((dx[m], dy[m], dz[m]), (px[m], py[m], pz[m]), lo, hi)
        local = np.stack([px[m], py[m], pz[m]], axis=1) - lo
        albedo[m] = shade.box(b, bi, local, normal[m], hi - lo, footprint(m))
        label[m], inst[m], vel[m] = b.label[bi], b.inst[bi], b.vel[bi]
    m = fam == CYL_F
    if m.any():
        c, ci = world.cylinders, idx[m]
        radial = np.stack([px[m] - c.x[ci], np.zeros(ci.shape), pz[m] - c.z[ci]], axis=1) / c.radius[ci][:, None]
        normal[m] = radial
        albedo[m] = shade.cylinder(c, ci, px[m], py[m], pz[m], footprint(m), seed)
        label[m] = inst[m] = c.label[ci]
    m = fam == SPHERE_F
    if m.any():
        s, si = world.spheres, idx[m]
        local = np.stack([px[m], py[m], pz[m]], axis=1) - (s.centre[si] + s.vel[si] * t)
        normal[m] = local / s.radius[si][:, None]
        albedo[m] = shade.sphere(s, si, local, normal[m], footprint(m), seed)
        label[m], inst[m], vel[m] = s.label[si], s.inst[si], s.vel[si]
    label[(fam != BOX_F) & (fam != SPHERE_F)] = np.where(fam == SKY_F, sw.SKY, label)[
        (fam != BOX_F) & (fam != SPHERE_F)]
    inst = np.where((fam == BOX_F) | (fam == SPHERE_F), inst, label)

    # Lighting: ambient + sun (Lambert) with ground shadows, distance fog, sky from the view direction.
    light = world.light
    sun = np.array(light.sun, dtype=np.float32)
    lambert = np.clip(normal @ sun, 0.0, 1.0)  # (P,)
    m = fam == GROUND_F
    lambert[m] *= _ground_shadow(world, cam, px[m], pz[m], t)
    rgb = albedo * (np.array(light.ambient, dtype=np.float32) + np.array(light.sun_colour, dtype=np.float32)
                    * lambert[:, None])
    fog = (1.0 - np.exp(-dist_f / light.fog_distance)).astype(np.float32)[:, None]
    rgb = rgb * (1 - fog) + np.array(light.horizon, dtype=np.float32) * fog
    m = fam == SKY_F
    rgb[m] = shade.sky(world, dx[m], dy[m], dz[m], cam.focal)
    rgb8 = (np.clip(rgb, 0.0, 1.0) ** (1 / 1.8) * 255.0 + 0.5).astype(np.uint8).reshape(h, w, 3)

    forward = cam.rotation[:, 2]
    depth = np.where(m, np.inf, dist_f * (dx * forward[0] + dy * forward[1] + dz * forward[2]))
    flow, prev_depth = None, None
    if t > 0:
        prev = world.path.camera(t - 1)
        u, v = cam.pixels
        pu, pv, pd = prev.project(px - vel[:, 0], py - vel[:, 1], pz - vel[:, 2])
        su, sv = prev.project_direction(dx[m], dy[m], dz[m])
        pu[m], pv[m], pd[m] = su, sv, np.inf
        flow = np.stack([pu - u, pv - v], axis=1).astype(np.float32).reshape(h, w, 2)
        prev_depth = pd.astype(np.float32).reshape(h, w)
    return StreetFrame(
        rgb=rgb8,
        label=label.astype(np.uint8).reshape(h, w),
        instance=inst.astype(np.uint16).reshape(h, w),
        depth=depth.astype(np.float32).reshape(h, w),
        flow=flow,
        prev_depth=prev_depth,
    )


def visible_mask(flow: np.ndarray, prev_depth: np.ndarray, depth_prev_frame: np.ndarray, tol: float = 0.03
                 ) -> np.ndarray:
    """(H, W) bool: pixels of frame t whose point is on screen and unoccluded in frame t-1.

    Compares each pixel's depth in camera t-1 (`prev_depth`) with the depth rendered at frame t-1 at the flow's
    target (nearest pixel). Sky (inf both) counts as visible.
    """
    h, w = prev_depth.shape
    v, u = np.mgrid[0:h, 0:w]
    tu, tv = u + flow[..., 0], v + flow[..., 1]
    inside = (tu >= 0) & (tu <= w - 1) & (tv >= 0) & (tv <= h - 1)
    ru = np.clip(np.rint(tu), 0, w - 1).astype(np.int64)
    rv = np.clip(np.rint(tv), 0, h - 1).astype(np.int64)
    seen = depth_prev_frame[rv, ru]  # (H, W)
    both_sky = np.isinf(seen) & np.isinf(prev_depth)
    with np.errstate(invalid="ignore"):
        close = np.abs(seen - prev_depth) <= tol * np.abs(prev_depth) + 0.05
    return inside & (close | both_sky)
