"""Appearances (clothes, patterns, skin, hair, proportions) and backgrounds of synthetic people, and the
rasteriser that draws a posed figure: RGB, the part that owns each pixel, and exact backward flow.

Parts are tapered capsules or ellipses in their local frames (figure units, see `people_figure`), drawn back to
front. Textures are functions of local (part) or world (background) coordinates, so a pixel's colour moves with
the affine map of what it shows; the flow of a part pixel p is M_{t-1} M_t^{-1} p - p.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from corpora.synthetic.noise import fbm, periodic_band, smoothstep
from corpora.synthetic.people_figure import PARTS, Placement, Pose, Proportions, camera_matrix

PATTERNS = ("plain", "hstripes", "vstripes", "checks", "dots")
BACKGROUNDS = ("wall", "wallpaper", "tiles", "blobs")


@dataclass(frozen=True, eq=False)
class Appearance:
    """How one subject looks; fixed for all of that subject's sequences."""

    skin: np.ndarray  # (3,) float32 albedo
    hair: np.ndarray
    long_hair: bool
    shirt: np.ndarray
    shirt2: np.ndarray
    shirt_pattern: int
    pants: np.ndarray
    pants2: np.ndarray
    pants_pattern: int
    pattern_scale: float
    long_sleeves: bool
    shorts: bool
    shoes: np.ndarray
    proportions: Proportions
    seed: int


@dataclass(frozen=True, eq=False)
class Background:
    kind: int
    colour: np.ndarray  # (3,)
    colour2: np.ndarray  # (3,)
    scale: float  # pattern period in world pixels
    seed: int
    flat: bool = False  # no low-frequency shading noise: flat colours


def _colour(rng: np.random.Generator, lo: float = 0.05, hi: float = 0.95) -> np.ndarray:
    return rng.uniform(lo, hi, 3).astype(np.float32)


def sample_appearance(rng: np.random.Generator) -> Appearance:
    tone = rng.uniform(0.3, 1.0)
    skin = (np.array([0.92, 0.7, 0.55]) * tone + np.array([0.02, 0.0, 0.0])).astype(np.float32)
    hair = (rng.uniform(0.03, 0.6) * np.array([1.0, rng.uniform(0.6, 0.95), rng.uniform(0.3, 0.8)])).astype(np.float32)
    bulk = rng.uniform(0.8, 1.3)
    prop = Proportions(
        torso=rng.uniform(0.27, 0.33), shoulder=rng.uniform(0.09, 0.12) * np.sqrt(bulk), hip=rng.uniform(0.055, 0.075),
        upper_arm=rng.uniform(0.15, 0.18), forearm=rng.uniform(0.14, 0.16), thigh=rng.uniform(0.22, 0.25),
        shin=rng.uniform(0.21, 0.24), head=rng.uniform(0.058, 0.072), bulk=bulk,
    )
    return Appearance(
        skin=skin, hair=hair, long_hair=bool(rng.random() < 0.4), shirt=_colour(rng), shirt2=_colour(rng),
        shirt_pattern=int(rng.integers(0, len(PATTERNS))), pants=_colour(rng, 0.03, 0.7), pants2=_colour(rng),
        pants_pattern=int(rng.choice([0, 0, 0, 1, 3])), pattern_scale=float(rng.uniform(0.025, 0.06)),
        long_sleeves=bool(rng.random() < 0.55), shorts=bool(rng.random() < 0.25), shoes=_colour(rng, 0.02, 0.5),
        proportions=prop, seed=int(rng.integers(0, 2**31 - 1)),
    )


def sample_background(rng: np.random.Generator) -> Background:
    return Background(kind=int(rng.integers(0, len(BACKGROUNDS))), colour=_colour(rng, 0.2, 0.9),
                      colour2=_colour(rng, 0.1, 0.8), scale=float(rng.uniform(10.0, 40.0)),
                      seed=int(rng.integers(0, 2**31 - 1)))


def _shapes(app: Appearance) -> np.ndarray:
    """(P, 5) per part: kind (0 capsule, 1 ellipse), then capsule (y0, y1, r0, r1) or ellipse (cy, rx, ry, 0)."""
    p, b = app.proportions, app.proportions.bulk
    h = p.head
    long_hair, short_hair = (1, 0.04 + 0.45 * h, 1.08 * h, 1.75 * h, 0), (1, 0.04 + 1.05 * h, 0.9 * h, 1.05 * h, 0)
    hair = long_hair if app.long_hair else short_hair
    table = {
        "hair_back": hair, "torso": (0, 0.03, p.torso - 0.055, 0.075 * b, 0.085 * b),
        "neck": (0, 0.0, 0.05, 0.026, 0.026),
        "head": (1, 0.04 + h, 0.82 * h, h, 0),
        "l_upper": (0, 0.0, p.upper_arm, 0.034 * b, 0.028 * b), "r_upper": (0, 0.0, p.upper_arm, 0.034 * b, 0.028 * b),
        "l_lower": (0, 0.0, p.forearm, 0.027 * b, 0.022 * b), "r_lower": (0, 0.0, p.forearm, 0.027 * b, 0.022 * b),
        "l_hand": (1, 0.03, 0.024, 0.036, 0), "r_hand": (1, 0.03, 0.024, 0.036, 0),
        "l_thigh": (0, 0.0, p.thigh, 0.05 * b, 0.04 * b), "r_thigh": (0, 0.0, p.thigh, 0.05 * b, 0.04 * b),
        "l_shin": (0, 0.0, p.shin, 0.037 * b, 0.03 * b), "r_shin": (0, 0.0, p.shin, 0.037 * b, 0.03 * b),
        "l_foot": (0, 0.0, 0.075, 0.026, 0.024), "r_foot": (0, 0.0, 0.075, 0.026, 0.024),
    }
    return np.array([table[name] for name, _ in PARTS], dtype=np.float64)


def _pattern(kind: int, lx: np.ndarray, ly: np.ndarray, scale: float, fp: float) -> np.ndarray:
    """Weight (N,) of the secondary colour for pattern `kind` in local coordinates (figure units)."""
    if kind == 1:
        return periodic_band(ly, scale, 0.0, scale / 2, fp)
    if kind == 2:
        return periodic_band(lx, scale, 0.0, scale / 2, fp)
    if kind == 3:
        a = periodic_band(lx, scale, 0.0, scale / 2, fp)
        b = periodic_band(ly, scale, 0.0, scale / 2, fp)
        return a + b - 2 * a * b
    if kind == 4:
        dx = np.mod(lx, scale) - scale / 2
        dy = np.mod(ly, scale) - scale / 2
        return 1 - smoothstep(0.22 * scale - fp, 0.22 * scale + fp, np.hypot(dx, dy))
    return np.zeros_like(lx, dtype=np.float32)


def _material(app: Appearance, part: int, lx: np.ndarray, ly: np.ndarray, fp: float) -> np.ndarray:
    """Albedo (N, 3) of part `part` at local coordinates."""
    name, mat = PARTS[part]
    if mat == "sleeve":
        mat = "shirt" if app.long_sleeves else "skin"
    if mat == "pants" and app.shorts and name.endswith("shin"):
        mat = "skin"
    n = len(lx)
    grain = fbm(lx * 7.0, ly * 7.0, app.seed + part, 0.5, fp * 7.0, octaves=3)[:, None]  # (N, 1)
    if mat == "shirt":
        w = _pattern(app.shirt_pattern, lx, ly, app.pattern_scale, fp)[:, None]
        return (app.shirt + (app.shirt2 - app.shirt) * w) * (0.9 + 0.2 * grain)
    if mat == "pants":
        w = _pattern(app.pants_pattern, lx, ly, app.pattern_scale * 1.3, fp)[:, None]
        return (app.pants + (app.pants2 - app.pants) * w) * (0.85 + 0.3 * grain)
    if mat == "shoes":
        return np.broadcast_to(app.shoes, (n, 3)) * (0.9 + 0.2 * grain)
    if mat == "hair":
        return np.broadcast_to(app.hair, (n, 3)) * (0.8 + 0.4 * grain)
    colour = np.broadcast_to(app.skin, (n, 3)) * (0.95 + 0.1 * grain)
    if name == "head":  # hair cap, eyes, mouth
        h = app.proportions.head
        cy = 0.04 + h
        cap = smoothstep(cy + 0.25 * h, cy + 0.4 * h, ly + 0.15 * np.abs(lx) / h * h)[:, None]
        eyes = (np.hypot(np.abs(lx) - 0.38 * h, ly - (cy + 0.12 * h)) < 0.12 * h)[:, None]
        mouth = ((np.abs(lx) < 0.3 * h) & (np.abs(ly - (cy - 0.55 * h)) < 0.06 * h))[:, None]
        colour = colour * (1 - cap) + app.hair * cap
        colour = np.where(eyes, np.float32(0.08), np.where(mouth, app.skin * 0.55, colour))
    return colour


def background_colour(bg: Background, wx: np.ndarray, wy: np.ndarray, floor_y: float) -> np.ndarray:
    """Background albedo (N, 3) at world-pixel coordinates."""
    noise = np.full((wx.size, 1), 0.5, np.float32) if bg.flat else fbm(wx, wy, bg.seed, bg.scale * 2.0, 1.0)[:, None]
    base = bg.colour * (0.75 + 0.5 * noise)
    if bg.kind == 1:
        w = periodic_band(wx, bg.scale, 0.0, bg.scale * 0.4, 1.0)[:, None]
        base = base + (bg.colour2 - base) * w * 0.6
    elif bg.kind == 2:
        a = periodic_band(wx, bg.scale, 0.0, bg.scale / 2, 1.0)
        b = periodic_band(wy, bg.scale, 0.0, bg.scale / 2, 1.0)
        base = base + (bg.colour2 - base) * (a + b - 2 * a * b)[:, None] * 0.7
    elif bg.kind == 3:
        blobs = smoothstep(0.5, 0.6, fbm(wx, wy, bg.seed + 1, bg.scale * 4, 1.0))[:, None]
        base = base + (bg.colour2 - base) * blobs
    floor = bg.colour2 * 0.6 * (0.8 + 0.4 * noise) * (1 - 0.3 * periodic_band(wy, bg.scale * 0.7, 0, 1.5, 1.0))[:, None]
    return np.where((wy > floor_y)[:, None], floor, base).astype(np.float32)


def _part_pixels(matrix: np.ndarray, shape: np.ndarray, height: int, width: int) -> np.ndarray:
    """Flat ids of the pixels in the image bounding box of one part (its local extent mapped by `matrix`)."""
    kind, a, b, c, d = shape
    if kind == 0:
        r = max(c, d)
        x0, x1, y0, y1 = -r, r, min(a, b) - r, max(a, b) + r
    else:
        x0, x1, y0, y1 = -b, b, a - c, a + c
    corners = matrix @ np.array([[x0, x1, x0, x1], [y0, y0, y1, y1], [1.0, 1.0, 1.0, 1.0]])  # (3, 4)
    u0, u1 = max(int(np.floor(corners[0].min())) - 1, 0), min(int(np.ceil(corners[0].max())) + 2, width)
    v0, v1 = max(int(np.floor(corners[1].min())) - 1, 0), min(int(np.ceil(corners[1].max())) + 2, height)
    if u0 >= u1 or v0 >= v1:
        return np.zeros(0, dtype=np.int64)
    vv, uu = np.mgrid[v0:v1, u0:u1]
    return (vv * width + uu).ravel()


@dataclass(frozen=True, eq=False)
class BackgroundTexture:
    """A background baked once per sequence on a 1-world-pixel grid; frames sample it bilinearly (cv2.remap).

    Sampling a fixed texture at each pixel's world point keeps the background's colour attached to the world, so
    the background flow stays exact, and costs one remap per frame instead of evaluating the noise again.
    """

    image: np.ndarray  # (h, w, 3) float32 albedo
    origin: tuple[float, float]  # world (x, y) of texel (0, 0)


def bake_background(bg: Background, place: Placement, frames: int, height: int, width: int) -> BackgroundTexture:
    """Texture covering every world point that frames -1..frames of the sequence can see."""
    corners = np.array([[0, width - 1, 0, width - 1], [0, 0, height - 1, height - 1], [1, 1, 1, 1]], float)
    seen = np.concatenate([np.linalg.inv(camera_matrix(place, t)) @ corners for t in range(-1, frames + 1)], axis=1)
    x0, y0 = np.floor(seen[0].min()) - 2, np.floor(seen[1].min()) - 2
    x1, y1 = np.ceil(seen[0].max()) + 3, np.ceil(seen[1].max()) + 3
    wy, wx = np.mgrid[y0:y1, x0:x1]  # (h, w) world texel centres
    colour = background_colour(bg, wx.ravel(), wy.ravel(), place.ground - 0.01 * place.scale)
    return BackgroundTexture(colour.reshape(*wx.shape, 3), (float(x0), float(y0)))


@dataclass(frozen=True, eq=False)
class PeopleFrame:
    rgb: np.ndarray  # (H, W, 3) uint8
    owner: np.ndarray  # (H, W) int16: part index, -1 background
    flow: np.ndarray | None  # (H, W, 2) float32 backward flow t -> t-1


def render_figure(app: Appearance, bg: Background, place: Placement, pose: Pose, t: int, height: int, width: int,
                  prev_pose: Pose | None = None, texture: BackgroundTexture | None = None) -> PeopleFrame:
    """Draw the posed figure over its background; with `prev_pose`, also the exact flow to frame t-1.

    With `texture` (from `bake_background`), the background is sampled from it instead of evaluated per pixel.
    """
    v, u = np.mgrid[0:height, 0:width]
    pix = np.stack([u.ravel(), v.ravel(), np.ones(u.size)]).astype(np.float64)  # (3, P)
    cam = camera_matrix(place, t)
    world = np.linalg.inv(cam) @ pix  # (3, P) world pixels
    floor_y = place.ground - 0.01 * place.scale
    if texture is None:
        rgb = background_colour(bg, world[0], world[1], floor_y)  # (P, 3)
    else:
        map_x = (world[0] - texture.origin[0]).astype(np.float32).reshape(height, width)
        map_y = (world[1] - texture.origin[1]).astype(np.float32).reshape(height, width)
        rgb = cv2.remap(texture.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(-1, 3)
    owner = np.full(u.size, -1, dtype=np.int16)
    shapes = _shapes(app)
    fp = 1.0 / place.scale  # one pixel in figure units
    drawn: list[tuple[np.ndarray, np.ndarray]] = []  # per part: flat pixel ids it covered, their local coords
    for i in range(len(PARTS)):
        idx = _part_pixels(pose.parts[i], shapes[i], height, width)  # (N,) flat ids inside the part's bbox
        local = np.linalg.inv(pose.parts[i]) @ pix[:, idx]  # (3, N)
        lx, ly = local[0], local[1]
        kind, a, b, c, d = shapes[i]
        if kind == 0:
            s = np.clip((ly - a) / max(b - a, 1e-9), 0.0, 1.0)
            r = c + (d - c) * s
            inside = np.hypot(lx, ly - (a + s * (b - a))) < r
            across = np.clip(lx / np.maximum(r, 1e-9), -1, 1)
        else:
            inside = np.hypot(lx / b, (ly - a) / c) < 1.0
            across = np.clip(lx / b, -1, 1)
        if not inside.any():
            drawn.append((idx[:0], local[:, :0]))
            continue
        shade = (0.72 + 0.28 * np.sqrt(1 - across[inside] ** 2))[:, None]  # rounded limbs
        ids = idx[inside]
        rgb[ids] = _material(app, i, lx[inside], ly[inside], fp) * shade
        owner[ids] = i
        drawn.append((ids, local[:, inside]))
    flow = None
    if prev_pose is not None:
        target = camera_matrix(place, t - 1) @ world  # background: the world point seen by camera t-1
        for i, (ids, local) in enumerate(drawn):
            keep = owner[ids] == i  # not covered by a later part
            target[:, ids[keep]] = prev_pose.parts[i] @ local[:, keep]
        flow = (target[:2] - pix[:2]).T.reshape(height, width, 2).astype(np.float32)
    rgb8 = (np.clip(rgb, 0, 1) ** (1 / 1.8) * 255 + 0.5).astype(np.uint8).reshape(height, width, 3)
    return PeopleFrame(rgb=rgb8, owner=owner.reshape(height, width), flow=flow)
