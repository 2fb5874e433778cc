"""`v2v data street-handmade`: a labels-only test set of "hand-drawn" street label clips with exact flow.

Eight fixed scenes, each a function that paints Cityscapes class ids with flat OpenCV polygons, rectangles and
circles in painter's order (sky, buildings, vegetation, sidewalk, terrain, road, poles, traffic signs), the way a
user draws label maps in a paint program: other proportions and camera heights than the procedural renderer
(`street_render`), high and low horizons, off-centre vanishing points and one flat side view. No randomness: the
output depends only on the size and the number of frames. Coordinates are fractions of the frame; speeds are px per
frame at a width of 256 (scaled, rounded to a non-zero integer).

The camera is static and the moving objects (cars, pedestrians) are rigid sprites translated by an integer velocity
per frame, painted over the background in list order. So the backward flow t -> t-1 is exact: -velocity on a
sprite's pixels, 0 elsewhere (static background, including pixels a sprite just uncovered).

Layout (docs/conventions.md, "labels-only data sets"): `test_A/<seq>/00000.png` uint8 class ids and
`test_flow/<seq>/00001.npy` float16 flow, no frames (`test_B`); dataset.json says `"labels_only": true` and, with
`colours_from`, holds `class_colours` {class id: mean RGB of the class in a street data set's train frames}: the
reference colours of `evaluation.labels_only`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from corpora.class_colours import mean_class_colours
from corpora.layout import SequenceEntry, SequenceWriter, write_dataset_json
from corpora.synthetic.street import STREET_CLASSES
from corpora.synthetic.street_world import (
    BUILDING,
    CAR,
    PERSON,
    POLE,
    ROAD,
    SIDEWALK,
    SKY,
    TERRAIN,
    TRAFFIC_SIGN,
    VEGETATION,
)

REFERENCE_WIDTH = 256
"""Speeds in the scenes are px per frame at this width."""
"""`colours_from` reads every 5th frame of the source's train sequences."""


class Pen:
    """Paints class ids onto an (H, W) uint8 image; coordinates and radii are fractions of its width / height."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image  # (H, W) uint8 class ids
        self.height, self.width = image.shape

    def _pt(self, x: float, y: float) -> tuple[int, int]:
        return round(x * self.width), round(y * self.height)

    def poly(self, cls: int, *points: tuple[float, float]) -> None:
        pts = np.array([self._pt(x, y) for x, y in points], np.int32)  # (N, 2)
        cv2.fillPoly(self.image, [pts], int(cls))

    def rect(self, cls: int, x0: float, y0: float, x1: float, y1: float) -> None:
        cv2.rectangle(self.image, self._pt(x0, y0), self._pt(x1, y1), int(cls), thickness=-1)

    def circle(self, cls: int, x: float, y: float, r: float) -> None:
        """A disc of radius `r` (fraction of the height)."""
        cv2.circle(self.image, self._pt(x, y), max(1, round(r * self.height)), int(cls), thickness=-1)


@dataclass(frozen=True)
class Mover:
    """A rigid sprite (class ids, 0 = transparent) whose top-left corner is at (x, y) + t * (vx, vy) pixels."""

    sprite: np.ndarray  # (h, w) uint8
    x: int
    y: int
    vx: int
    vy: int = 0


@dataclass(frozen=True)
class HandmadeFrame:
    """One rendered frame."""

    ids: np.ndarray  # (H, W) uint8 class ids
    layer: np.ndarray  # (H, W) int32: 0 background, k = movers[k - 1]
    flow: np.ndarray  # (H, W, 2) float32 backward flow t -> t-1 in pixels


class Perspective:
    """Lines to a vanishing point (vx, horizon) in frame fractions."""

    def __init__(self, vx: float, horizon: float) -> None:
        self.vx, self.horizon = vx, horizon

    def y_at(self, edge_x: float, y0: float, x: float) -> float:
        """y at `x` of the line from (edge_x, y0) to the vanishing point."""
        return y0 + (self.horizon - y0) * (x - edge_x) / (self.vx - edge_x)

    def facade(self, pen: Pen, edge_x: float, base: float, blocks: tuple[tuple[float, float, float], ...]) -> None:
        """Building blocks along one side, standing on the line (edge_x, base) -> VP: each (x from, x to, top y
        at the image edge), its top on a line to the VP too."""
        for a, b, top in blocks:
            pen.poly(BUILDING, (a, self.y_at(edge_x, top, a)), (b, self.y_at(edge_x, top, b)),
                     (b, self.y_at(edge_x, base, b)), (a, self.y_at(edge_x, base, a)))

    def ground(self, pen: Pen, base_left: float, base_right: float) -> None:
        """Sidewalk below both facades' base lines."""
        pen.poly(SIDEWALK, (0, base_left), (self.vx, self.horizon), (1, base_right), (1, 1), (0, 1))

    def road(self, pen: Pen, left: float, right: float, verge: float = 0.0) -> None:
        """The road: a trapezoid from the bottom edge (x = left .. right) to the VP, with grass verges of width
        `verge` (at the bottom) on both sides."""
        top = self.horizon + 0.01
        half = 0.004
        if verge > 0:
            pen.poly(TERRAIN, (left - verge, 1), (self.vx - half, top), (self.vx + half, top), (right + verge, 1))
        pen.poly(ROAD, (left, 1), (self.vx - half, top), (self.vx + half, top), (right, 1))


def tree(pen: Pen, x: float, base: float, size: float) -> None:
    """A trunk and a crown of three blobs, standing at (x, base), `size` tall (fractions of the height)."""
    trunk = size * 0.06 * pen.height / pen.width
    pen.rect(VEGETATION, x - trunk, base - 0.5 * size, x + trunk, base)
    r = 0.28 * size
    dx = r * pen.height / pen.width
    pen.circle(VEGETATION, x, base - 0.75 * size, r)
    pen.circle(VEGETATION, x - 0.8 * dx, base - 0.55 * size, 0.8 * r)
    pen.circle(VEGETATION, x + 0.8 * dx, base - 0.58 * size, 0.85 * r)


def pole(pen: Pen, x: float, base: float, height: float, sign: str | None = None) -> None:
    """A pole at (x, base) with an optional traffic sign on top: "round", "square" or "triangle"."""
    top = base - height
    pen.rect(POLE, x, top, x + 0.5 / pen.width, base)
    if sign is None:
        return
    r = 0.12 * height
    rx = r * pen.height / pen.width
    if sign == "round":
        pen.circle(TRAFFIC_SIGN, x, top, r)
    elif sign == "square":
        pen.rect(TRAFFIC_SIGN, x - rx, top - r, x + rx, top + r)
    else:
        pen.poly(TRAFFIC_SIGN, (x - rx, top + r), (x + rx, top + r), (x, top - r))


def _sprite(height: int, width: int, draw: Callable[[Pen], None]) -> np.ndarray:
    image = np.zeros((max(height, 2), max(width, 2)), np.uint8)  # (h, w), 0 = transparent
    draw(Pen(image))
    return image


def _car_shape(pen: Pen) -> None:
    """A car silhouette facing right: cabin, body with a lower bonnet, two wheels."""
    pen.poly(CAR, (0.2, 0.45), (0.32, 0.04), (0.64, 0.04), (0.8, 0.45))
    pen.poly(CAR, (0.0, 0.5), (0.04, 0.4), (0.8, 0.4), (0.97, 0.48), (1.0, 0.58), (1.0, 0.82), (0.0, 0.82))
    pen.circle(CAR, 0.2, 0.8, 0.18)
    pen.circle(CAR, 0.8, 0.8, 0.18)


def _person_shape(pen: Pen) -> None:
    """A pedestrian mid-stride: head, torso, arms, legs."""
    pen.circle(PERSON, 0.5, 0.09, 0.08)
    pen.poly(PERSON, (0.3, 0.19), (0.7, 0.19), (0.66, 0.56), (0.34, 0.56))
    pen.poly(PERSON, (0.3, 0.2), (0.18, 0.5), (0.26, 0.52), (0.36, 0.3))
    pen.poly(PERSON, (0.7, 0.2), (0.82, 0.5), (0.74, 0.52), (0.64, 0.3))
    pen.poly(PERSON, (0.34, 0.55), (0.5, 0.55), (0.32, 1.0), (0.14, 1.0))
    pen.poly(PERSON, (0.5, 0.55), (0.66, 0.55), (0.86, 1.0), (0.68, 1.0))


def _speed(v: int, width: int) -> int:
    return int(np.sign(v)) * max(1, round(abs(v) * width / REFERENCE_WIDTH))


def car(pen: Pen, x: float, ground: float, length: float, v: int) -> Mover:
    """A car `length` long (fraction of the width), its wheels on `ground`, its left end at `x`, facing its motion."""
    w = max(4, round(length * pen.width))
    sprite = _sprite(round(0.42 * w), w, _car_shape)
    sprite = sprite if v > 0 else sprite[:, ::-1].copy()
    return Mover(sprite, round(x * pen.width), round(ground * pen.height) - sprite.shape[0], _speed(v, pen.width))


def person(pen: Pen, x: float, ground: float, height: float, v: int) -> Mover:
    """A pedestrian `height` tall (fraction of the height), feet on `ground`, left side at `x`."""
    h = max(4, round(height * pen.height))
    sprite = _sprite(h, round(0.42 * h), _person_shape)
    return Mover(sprite, round(x * pen.width), round(ground * pen.height) - h, _speed(v, pen.width))


def avenue(pen: Pen) -> list[Mover]:
    """Eye-level avenue, centred vanishing point, facades on both sides, a cross street."""
    p = Perspective(0.5, 0.42)
    pen.rect(BUILDING, 0.36, 0.3, 0.45, 0.43)
    pen.rect(BUILDING, 0.52, 0.25, 0.62, 0.43)
    p.facade(pen, 0, 0.62, ((0, 0.12, -0.1), (0.12, 0.24, 0.12), (0.24, 0.34, 0.0), (0.34, 0.42, 0.2)))
    p.facade(pen, 1, 0.6, ((1, 0.86, 0.05), (0.86, 0.72, -0.15), (0.72, 0.58, 0.15)))
    tree(pen, 0.28, 0.53, 0.22)
    p.ground(pen, 0.62, 0.6)
    p.road(pen, 0.12, 0.88)
    pen.rect(ROAD, 0, 0.66, 1, 0.76)
    pole(pen, 0.08, 0.9, 0.45, "round")
    pole(pen, 0.93, 0.86, 0.4, "square")
    return [car(pen, 0.05, 0.74, 0.2, 3), car(pen, 0.7, 0.95, 0.3, -2), person(pen, 0.86, 0.64, 0.18, -1)]


def high_camera(pen: Pen) -> list[Mover]:
    """A camera high above the street: high horizon, wide road, buildings left, trees on a verge right."""
    p = Perspective(0.62, 0.24)
    p.facade(pen, 0, 0.5, ((0, 0.15, -0.3), (0.15, 0.3, -0.05), (0.3, 0.45, -0.2), (0.45, 0.56, 0.1)))
    pen.rect(VEGETATION, 0.66, 0.14, 1.0, 0.25)
    p.ground(pen, 0.5, 0.26)
    p.road(pen, 0.05, 1.15, verge=0.15)
    for x, base in ((0.8, 0.34), (0.9, 0.46), (0.98, 0.62)):
        tree(pen, x, base, 0.2 + 0.3 * (base - 0.3))
    pole(pen, 0.2, 0.72, 0.3, "triangle")
    return [car(pen, 0.1, 0.62, 0.18, 4), car(pen, 0.55, 0.88, 0.24, -3), person(pen, 0.02, 0.58, 0.14, 1)]


def low_camera(pen: Pen) -> list[Mover]:
    """A camera near the ground: low horizon, much sky, tall blocks, the road filling the bottom."""
    p = Perspective(0.4, 0.64)
    for x, top in ((0.3, 0.42), (0.42, 0.35), (0.5, 0.5)):
        pen.rect(BUILDING, x, top, x + 0.07, 0.65)
    p.facade(pen, 0, 0.8, ((0, 0.1, -0.2), (0.1, 0.22, 0.05), (0.22, 0.3, -0.1)))
    p.facade(pen, 1, 0.82, ((1, 0.8, -0.3), (0.8, 0.66, 0.1), (0.66, 0.55, -0.05)))
    p.ground(pen, 0.8, 0.82)
    p.road(pen, -0.3, 1.1)
    pole(pen, 0.62, 0.74, 0.5, "round")
    return [car(pen, 0.75, 0.98, 0.36, -3)]


def side_view(pen: Pen) -> list[Mover]:
    """A flat side view, no perspective: a row of houses, trees, a hedge, sidewalk, grass strip, two lanes."""
    for x0, x1, top in ((0, 0.18, 0.15), (0.18, 0.3, 0.3), (0.3, 0.52, 0.08), (0.62, 0.8, 0.22), (0.8, 1, 0.12)):
        pen.rect(BUILDING, x0, top, x1, 0.58)
    tree(pen, 0.57, 0.58, 0.4)
    pen.rect(VEGETATION, 0.3, 0.5, 0.52, 0.58)
    pen.rect(SIDEWALK, 0, 0.58, 1, 0.68)
    pen.rect(TERRAIN, 0, 0.68, 1, 0.72)
    pen.rect(ROAD, 0, 0.72, 1, 1)
    pole(pen, 0.12, 0.66, 0.36, "square")
    pole(pen, 0.7, 0.66, 0.4, "round")
    return [person(pen, 0.2, 0.66, 0.2, 1), car(pen, 0.1, 0.85, 0.26, 3), car(pen, 0.6, 1.0, 0.3, -4)]


def park_road(pen: Pen) -> list[Mover]:
    """A road through a park, vanishing point off to the left, trees and grass instead of buildings."""
    p = Perspective(0.3, 0.45)
    pen.rect(VEGETATION, 0, 0.33, 1, 0.46)
    pen.rect(TERRAIN, 0, 0.45, 1, 1)
    p.road(pen, -0.05, 0.7)
    pen.poly(SIDEWALK, (0.7, 1), (0.31, 0.46), (0.33, 0.46), (0.86, 1))
    for x, base, size in ((0.5, 0.56, 0.26), (0.66, 0.62, 0.36), (0.92, 0.7, 0.5), (0.1, 0.55, 0.3)):
        tree(pen, x, base, size)
    pole(pen, 0.8, 0.9, 0.45, "triangle")
    return [car(pen, 0.0, 0.78, 0.22, 2), person(pen, 0.74, 0.92, 0.28, -1)]


def narrow_street(pen: Pen) -> list[Mover]:
    """A narrow old-town street: tall facades close on both sides, a narrow road, two pedestrians."""
    p = Perspective(0.55, 0.5)
    p.facade(pen, 0, 0.75, ((0, 0.14, -0.3), (0.14, 0.3, -0.1), (0.3, 0.46, -0.25)))
    p.facade(pen, 1, 0.78, ((1, 0.84, -0.2), (0.84, 0.7, -0.35), (0.7, 0.62, 0.0)))
    p.ground(pen, 0.75, 0.78)
    p.road(pen, 0.3, 0.78)
    pole(pen, 0.2, 0.82, 0.3, "square")
    return [person(pen, 0.05, 0.9, 0.3, 1), car(pen, 0.6, 0.86, 0.22, -2), person(pen, 0.8, 0.97, 0.36, -1)]


def corner(pen: Pen) -> list[Mover]:
    """A street corner: high horizon, vanishing point far right, a large building left, a fast car."""
    p = Perspective(0.78, 0.34)
    p.facade(pen, 0, 0.7, ((0, 0.25, -0.4), (0.25, 0.5, -0.1), (0.5, 0.7, 0.15)))
    tree(pen, 0.88, 0.36, 0.2)
    p.ground(pen, 0.7, 0.38)
    p.road(pen, 0.35, 1.3)
    pole(pen, 0.3, 0.85, 0.4, "round")
    pole(pen, 0.36, 0.8, 0.36, "triangle")
    return [car(pen, 0.0, 0.72, 0.2, 5), person(pen, 0.12, 0.86, 0.2, 1)]


def suburb(pen: Pen) -> list[Mover]:
    """A suburb: low houses, hedges and grass verges, two cars passing each other."""
    p = Perspective(0.5, 0.55)
    pen.rect(VEGETATION, 0.3, 0.44, 0.7, 0.56)
    p.facade(pen, 0, 0.68, ((0, 0.14, 0.3), (0.2, 0.34, 0.38), (0.38, 0.46, 0.46)))
    p.facade(pen, 1, 0.7, ((1, 0.82, 0.34), (0.78, 0.62, 0.42)))
    pen.poly(VEGETATION, (0, 0.6), (0.46, 0.55), (0.46, 0.57), (0, 0.7))
    tree(pen, 0.16, 0.66, 0.34)
    tree(pen, 0.9, 0.68, 0.38)
    p.ground(pen, 0.7, 0.72)
    p.road(pen, 0.15, 0.85, verge=0.1)
    pen.rect(ROAD, 0, 0.74, 1, 0.84)
    pole(pen, 0.96, 0.92, 0.35, "square")
    return [car(pen, 0.75, 0.8, 0.2, -3), car(pen, 0.0, 0.84, 0.24, 2), person(pen, 0.3, 0.7, 0.14, 1)]


SCENES: dict[str, Callable[[Pen], list[Mover]]] = {
    f.__name__: f for f in (avenue, high_camera, low_camera, side_view, park_road, narrow_street, corner, suburb)
}


@dataclass(frozen=True)
class Scene:
    background: np.ndarray  # (H, W) uint8 class ids
    movers: tuple[Mover, ...]  # painted in this order over the background


def compose(name: str, height: int, width: int) -> Scene:
    """Paint scene `name` at height x width: sky first, then the scene function's background and its movers."""
    background = np.full((height, width), SKY, np.uint8)  # (H, W)
    movers = SCENES[name](Pen(background))
    return Scene(background, tuple(movers))


def render(scene: Scene, t: int) -> HandmadeFrame:
    """Frame `t`: the movers pasted at their positions over the background, and the exact backward flow."""
    ids = scene.background.copy()  # (H, W)
    layer = np.zeros(ids.shape, np.int32)  # (H, W)
    h, w = ids.shape
    for k, m in enumerate(scene.movers, start=1):
        x, y = m.x + m.vx * t, m.y + m.vy * t
        sh, sw = m.sprite.shape
        y0, y1, x0, x1 = max(y, 0), min(y + sh, h), max(x, 0), min(x + sw, w)
        if y0 >= y1 or x0 >= x1:
            continue
        part = m.sprite[y0 - y : y1 - y, x0 - x : x1 - x]  # (y1 - y0, x1 - x0)
        drawn = part > 0
        ids[y0:y1, x0:x1][drawn] = part[drawn]
        layer[y0:y1, x0:x1][drawn] = k
    flow = np.zeros((h, w, 2), np.float32)  # (H, W, 2)
    for k, m in enumerate(scene.movers, start=1):
        flow[layer == k] = (-m.vx, -m.vy)
    return HandmadeFrame(ids, layer, flow)


@dataclass(frozen=True)
class HandmadeConfig:
    """What `v2v data street-handmade` makes."""

    out: Path
    frames: int = 24
    height: int = 128
    width: int = 256
    fps: float = 15.0
    colours_from: Path | None = None

    def __post_init__(self) -> None:
        if self.frames < 2:
            raise ValueError("need at least 2 frames")


def sequence_name(index: int, scene: str) -> str:
    return f"handmade_{index:02d}_{scene}"


def generate_handmade_dataset(config: HandmadeConfig, progress: Callable[[int], None] | None = None
                              ) -> dict[str, object]:
    """Write every scene as a test sequence (label ids + exact flow), then dataset.json."""
    colours = None if config.colours_from is None else mean_class_colours(config.colours_from)
    entries = []
    for index, name in enumerate(SCENES):
        scene = compose(name, config.height, config.width)
        seq = sequence_name(index, name)
        with SequenceWriter(config.out, "test", seq, kinds=("A", "flow")) as writer:
            for t in range(config.frames):
                frame = render(scene, t)
                writer.write(t, label=frame.ids, flow=frame.flow if t > 0 else None)
        entries.append(SequenceEntry(seq, "test", index))
        if progress:
            progress(config.frames)
    extra: dict[str, object] = {
        "labels_only": True,
        "generator": {"name": "street-handmade", "height": config.height, "width": config.width,
                      "frames": config.frames, "scenes": list(SCENES), "classes": list(STREET_CLASSES)},
    }
    if colours is not None:
        extra.update(class_colours=colours, class_colours_source=str(config.colours_from))
    write_dataset_json(config.out, "segmentation", entries, fps=config.fps, num_classes=35, extra=extra)
    return {"sequences": len(entries), "frames": len(entries) * config.frames, "class_colours": len(colours or {})}
