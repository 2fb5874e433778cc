"""Pictures of what `v2v eval` measured: a PNG strip and an animated GIF per model, for the README.

The evaluation hands over the frames it already generated for the first evaluated sequence (temporal path on; few-
shot: the "right" references of the first evaluated K), the ground truth and the label inputs; nothing is run again.
Labels-only data (`evaluation.labels_only`) has no ground truth: its previews have no ground-truth column.

- `<model>.png`: up to 4 frames spread over the sequence, one row per frame, columns
  [label | generated | ground truth] (labels-only: [label | generated]; few-shot: + the first reference image),
  tiles at the model's resolution, scaled down (area) so that the picture fits in MAX_WIDTH x MAX_HEIGHT; a title
  band names the columns when tiles are wide enough for the text.
- `<model>.gif`: the same columns side by side for up to MAX_GIF_FRAMES frames at
  min(data set fps, 10) fps, looping. Written with PyAV's GIF encoder (a core dependency) from 8-bit palette frames:
  one palette for the whole clip, 256 colours found by weighted k-means over the 15-bit colour histogram
  (deterministic). If the file exceeds MAX_GIF_BYTES the tiles are scaled down and it is written again.
Both files are written atomically (hidden `.partial` name, then renamed).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch

from corpora.layout import write_png
from models.core.labels import colorize, tensor_to_rgb

MAX_WIDTH = 900
MAX_HEIGHT = 900
STRIP_ROWS = 4
MAX_GIF_FRAMES = 30
MAX_GIF_FPS = 10.0
MAX_GIF_BYTES = 1_400_000
TITLE_HEIGHT = 20
MIN_TITLE_TILE_WIDTH = 96  # narrower tiles get no title band (the text would not fit)


@dataclass(frozen=True)
class Preview:
    """The frames of one evaluated sequence, all (T, H, W, 3) uint8 RGB at the model's resolution."""

    labels: np.ndarray  # label visualisation
    generated: np.ndarray
    truth: np.ndarray | None  # None: labels-only data (no ground truth)
    reference: np.ndarray | None = None  # (H, W, 3): few-shot, the first reference image
    sequence: str = ""
    k: int | None = None  # few-shot: number of references used

    def columns(self) -> list[tuple[str, np.ndarray]]:
        """(title, (T, H, W, 3)) per column; the reference is repeated over time."""
        cols = [("label", self.labels), ("generated", self.generated)]
        if self.truth is not None:
            cols.append(("ground truth", self.truth))
        if self.reference is not None:
            cols.append(("reference 1" if self.k in (None, 1) else f"reference 1 of {self.k}",
                         np.broadcast_to(self.reference, self.generated.shape)))
        return cols


def label_images(labels: torch.Tensor, label_type: str, num_classes: int) -> np.ndarray:
    """(T, C, H, W) generator label inputs -> (T, H, W, 3) uint8 pictures.

    Segmentation: arg-max over the one-hot class channels (an instance-boundary channel is ignored), Cityscapes
    colours. Pose: the RGB skeleton rendering as is. Edges: white on black.
    """
    if label_type == "segmentation":
        ids = labels[:, :num_classes].argmax(dim=1).cpu().numpy()  # (T, H, W)
        return colorize(ids)
    if label_type == "pose":
        return np.stack([tensor_to_rgb(x[:3]) for x in labels])
    return np.stack([tensor_to_rgb(x[:1].expand(3, -1, -1)) for x in labels])


def tile_scale(columns: int, rows: int, height: int, width: int, max_width: int = MAX_WIDTH,
               max_height: int = MAX_HEIGHT) -> float:
    """Scale (<= 1) of the tiles so that a rows x columns grid of height x width tiles fits the limits."""
    return min(1.0, max_width / (columns * width), max_height / (rows * height))


def _tile_size(height: int, width: int, scale: float) -> tuple[int, int]:
    return max(2, int(height * scale) // 2 * 2), max(2, int(width * scale) // 2 * 2)


def _fit(img: np.ndarray, h: int, w: int) -> np.ndarray:
    if img.shape[:2] == (h, w):
        return np.ascontiguousarray(img)
    return cv2.resize(np.ascontiguousarray(img), (w, h), interpolation=cv2.INTER_AREA)


def _title_band(titles: list[str], tile_w: int) -> np.ndarray:
    band = np.full((TITLE_HEIGHT, tile_w * len(titles), 3), 255, np.uint8)
    for i, text in enumerate(titles):
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        x = i * tile_w + max(0, (tile_w - tw) // 2)
        cv2.putText(band, text, (x, (TITLE_HEIGHT + th) // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return band


def strip_indices(frames: int, rows: int = STRIP_ROWS) -> list[int]:
    """Up to `rows` frame indices spread evenly over [0, frames)."""
    return sorted({int(round(v)) for v in np.linspace(0, frames - 1, min(rows, frames))})


def strip(preview: Preview, rows: int = STRIP_ROWS) -> np.ndarray:
    """The PNG picture: one row per chosen frame, one column per `Preview.columns` entry."""
    cols = preview.columns()
    picks = strip_indices(len(preview.generated), rows)
    h0, w0 = preview.generated.shape[1:3]
    th, tw = _tile_size(h0, w0, tile_scale(len(cols), len(picks), h0, w0,
                                           max_height=MAX_HEIGHT - TITLE_HEIGHT))
    grid = np.concatenate([np.concatenate([_fit(c[t], th, tw) for _, c in cols], axis=1) for t in picks], axis=0)
    if tw >= MIN_TITLE_TILE_WIDTH:
        grid = np.concatenate([_title_band([title for title, _ in cols], tw), grid], axis=0)
    return grid


def _palette(frames: np.ndarray, iterations: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, 3) uint8 -> (256, 3) uint8 palette and the (32768,) uint8 lookup table 15-bit colour -> index."""
    q = frames.reshape(-1, 3) >> 3
    bins = (q[:, 0].astype(np.int64) << 10) | (q[:, 1].astype(np.int64) << 5) | q[:, 2]
    hist = np.bincount(bins, minlength=1 << 15).astype(np.float64)
    grid = np.stack(np.meshgrid(np.arange(32), np.arange(32), np.arange(32), indexing="ij"), -1).reshape(-1, 3)
    colours = grid.astype(np.float64) * 8 + 4  # bin centres, index = r << 10 | g << 5 | b
    used = np.flatnonzero(hist)
    if len(used) <= 256:
        centres = colours[used]
    else:  # weighted k-means on the histogram, started from the most frequent colours
        pts, wts = colours[used], hist[used]
        centres = pts[np.argsort(-wts, kind="stable")[:256]].copy()
        for _ in range(iterations):
            assign = _nearest(pts, centres)
            sums = np.zeros_like(centres)
            np.add.at(sums, assign, pts * wts[:, None])
            counts = np.bincount(assign, weights=wts, minlength=len(centres))
            keep = counts > 0
            centres[keep] = sums[keep] / counts[keep, None]
    palette = np.zeros((256, 3), np.uint8)
    palette[: len(centres)] = np.clip(np.round(centres), 0, 255).astype(np.uint8)
    lut = _nearest(colours, palette[: len(centres)].astype(np.float64)).astype(np.uint8)
    return palette, lut


def _nearest(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    out = np.empty(len(points), np.int64)
    for s in range(0, len(points), 4096):
        d = ((points[s : s + 4096, None, :] - centres[None]) ** 2).sum(-1)
        out[s : s + 4096] = d.argmin(1)
    return out


def _encode_gif(path: Path, frames: np.ndarray, fps: float) -> None:
    """Write (T, H, W, 3) uint8 (even H, W) as a looping GIF with one 256-colour palette."""
    import av

    palette, lut = _palette(frames)
    argb = np.concatenate([np.full((256, 1), 255, np.uint8), palette], axis=1)
    rate = Fraction(fps).limit_denominator(100)
    with av.open(str(path), "w", format="gif") as container:
        stream = container.add_stream("gif", rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "pal8"
        for frame in frames:
            q = frame >> 3
            idx = lut[(q[..., 0].astype(np.int64) << 10) | (q[..., 1].astype(np.int64) << 5) | q[..., 2]]
            for packet in stream.encode(av.VideoFrame.from_ndarray((idx, argb), format="pal8")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def animation(preview: Preview, scale: float) -> np.ndarray:
    """(T, H, W, 3) GIF frames: the columns side by side, tiles scaled by `scale`, T <= MAX_GIF_FRAMES."""
    cols = preview.columns()
    t_total = min(len(preview.generated), MAX_GIF_FRAMES)
    th, tw = _tile_size(*preview.generated.shape[1:3], scale)
    return np.stack([np.concatenate([_fit(c[t], th, tw) for _, c in cols], axis=1) for t in range(t_total)])


def _replace_atomic(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    write(tmp)
    os.replace(tmp, path)


def write_previews(out_dir: Path, name: str, preview: Preview, fps: float = 15.0) -> dict[str, str]:
    """Write `out_dir/<name>.png` and `out_dir/<name>.gif`; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png, gif = out_dir / f"{name}.png", out_dir / f"{name}.gif"
    picture = strip(preview)
    _replace_atomic(png, lambda p: write_png(p, picture))
    h0, w0 = preview.generated.shape[1:3]
    scale = tile_scale(len(preview.columns()), 1, h0, w0)
    gif_fps = min(float(fps), MAX_GIF_FPS)
    for _ in range(6):  # shrink until the file fits the budget
        frames = animation(preview, scale)
        _replace_atomic(gif, lambda p, f=frames: _encode_gif(p, f, gif_fps))
        if gif.stat().st_size <= MAX_GIF_BYTES:
            break
        scale *= 0.75
    return {"png": str(png), "gif": str(gif)}
