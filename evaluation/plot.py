"""Line plots as PNG without matplotlib (not installed): axes, ticks, one polyline per series and a legend, drawn
with OpenCV on a numpy canvas. Used for the predict protocol's metric-vs-time-step figures."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
"""RGB colours of the series, in order."""


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    step = (hi - lo) / max(count - 1, 1)
    return [lo + i * step for i in range(count)]


def line_plot(path: Path, title: str, xs: Sequence[float], series: dict[str, Sequence[float]], x_label: str,
              y_label: str, size: tuple[int, int] = (480, 820), dashed: Sequence[str] = ()) -> Path:
    """Write a plot of each `series` (label -> y per x) against `xs`; NaNs are skipped. Returns `path`."""
    height, width = size
    canvas = np.full((height, width, 3), 255, np.uint8)  # (H, W, 3) RGB
    left, right, top, bottom = 70, 250, 40, 50
    values = [v for ys in series.values() for v in ys if not math.isnan(v)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (hi - lo) * 0.05 or 0.5
    lo, hi = lo - pad, hi + pad
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1

    def at(x: float, y: float) -> tuple[int, int]:
        px = left + (x - x0) / (x1 - x0) * (width - left - right)
        py = top + (hi - y) / (hi - lo) * (height - top - bottom)
        return int(round(px)), int(round(py))

    black, grey = (0, 0, 0), (220, 220, 220)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for y in _ticks(lo, hi):
        p = at(x0, y)
        cv2.line(canvas, (left, p[1]), (width - right, p[1]), grey, 1)
        cv2.putText(canvas, f"{y:.3g}", (5, p[1] + 4), font, 0.4, black, 1, cv2.LINE_AA)
    for x in xs:
        p = at(x, lo)
        cv2.line(canvas, (p[0], height - bottom), (p[0], height - bottom + 4), black, 1)
        if len(xs) <= 12 or int(x) % 2 == 1:
            cv2.putText(canvas, f"{x:g}", (p[0] - 6, height - bottom + 18), font, 0.4, black, 1, cv2.LINE_AA)
    cv2.rectangle(canvas, (left, top), (width - right, height - bottom), black, 1)
    cv2.putText(canvas, title, (left, 25), font, 0.55, black, 1, cv2.LINE_AA)
    cv2.putText(canvas, x_label, ((left + width - right) // 2 - 30, height - 12), font, 0.45, black, 1, cv2.LINE_AA)
    cv2.putText(canvas, y_label, (5, top - 8), font, 0.45, black, 1, cv2.LINE_AA)
    for i, (label, ys) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        points = [at(x, y) for x, y in zip(xs, ys, strict=True) if not math.isnan(y)]
        for a, b in zip(points, points[1:], strict=False):
            if label in dashed:
                mid = ((a[0] + b[0]) // 2, (a[1] + b[1]) // 2)
                cv2.line(canvas, a, mid, colour, 2, cv2.LINE_AA)
            else:
                cv2.line(canvas, a, b, colour, 2, cv2.LINE_AA)
        for p in points:
            cv2.circle(canvas, p, 2, colour, -1)
        ly = top + 12 + 18 * i
        cv2.line(canvas, (width - right + 10, ly), (width - right + 30, ly), colour, 2)
        cv2.putText(canvas, label[:34], (width - right + 35, ly + 4), font, 0.4, black, 1, cv2.LINE_AA)
    return write_png(path, canvas)


def write_png(path: Path, rgb: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 RGB image atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.png")
    if not cv2.imwrite(str(partial), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {partial}")
    os.replace(partial, path)
    return path
