"""Pictures of a generate model for the README: a grid GIF (one row per class, one column per sample, animated over
the frames) and a PNG (the first `PNG_SAMPLES` clips of each class, one per row, every `PNG_FRAME_STEP`-th frame left
to right), tiles scaled up `SCALE` times (nearest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from corpora.layout import write_png
from evaluation.previews import _encode_gif, _replace_atomic
from models.core.labels import tensor_to_rgb

SCALE = 2
PNG_SAMPLES = 2
PNG_FRAME_STEP = 2
GAP = 2


def _tile(frame: torch.Tensor) -> np.ndarray:
    rgb = tensor_to_rgb(frame)  # (H, W, 3)
    return np.pad(rgb.repeat(SCALE, 0).repeat(SCALE, 1), ((GAP, GAP), (GAP, GAP), (0, 0)), constant_values=255)


def write_grid_previews(out_dir: Path, name: str, clips: torch.Tensor, row_titles: list[str], fps: float = 15.0
                        ) -> dict[str, str]:
    """clips (R, C, T, 3, H, W) in [-1, 1] -> `<out_dir>/<name>.gif` and `.png`; returns their paths and the rows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, cols, frames = clips.shape[:3]
    animation = np.stack([np.concatenate([np.concatenate([_tile(clips[r, c, t]) for c in range(cols)], axis=1)
                                          for r in range(rows)], axis=0) for t in range(frames)])  # (T, H', W', 3)
    gif, png = out_dir / f"{name}.gif", out_dir / f"{name}.png"
    _replace_atomic(gif, lambda p: _encode_gif(p, animation, min(fps, 10.0)))
    strip = np.concatenate([np.concatenate([_tile(clips[r, c, t]) for t in range(0, frames, PNG_FRAME_STEP)], axis=1)
                            for r in range(rows) for c in range(min(cols, PNG_SAMPLES))], axis=0)
    _replace_atomic(png, lambda p: write_png(p, strip))
    return {"gif": str(gif), "png": str(png), "rows": ", ".join(row_titles) or "unconditional"}
