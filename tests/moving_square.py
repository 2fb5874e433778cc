"""A tiny data set made in the test: a textured square moving over a textured background, with exact flow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from corpora.layout import write_png


def make_moving_square(root: Path, label_type: str = "segmentation", frames: int = 6, size: int = 32,
                       with_flow: bool = True, sequences: int = 1, step: tuple[int, int] = (2, 1)) -> Path:
    """Write DIR/dataset.json, train_A/B(/flow) for `sequences` sequences; returns root."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    background = np.stack([(xx * 7 + yy * 3) % 64 + 40, (yy * 5) % 80 + 60, 90 + (xx % 8) * 8], -1).astype(np.uint8)
    side = size // 3
    meta: dict[str, object] = {"label_type": label_type, "fps": 15, "sequences": {}}
    if label_type == "segmentation":
        meta["num_classes"] = 35
    for s in range(sequences):
        name = f"seq{s:02d}"
        meta["sequences"][name] = {"split": "train", "appearance": s}  # type: ignore[index]
        texture = rng.integers(120, 255, size=(side, side, 3)).astype(np.uint8)
        texture[::2] //= 2
        for kind in ("A", "B", "flow"):
            (root / f"train_{kind}" / name).mkdir(parents=True, exist_ok=True)
        for t in range(frames):
            x0, y0 = 2 + step[0] * t + s, 3 + step[1] * t
            image = background.copy()
            image[y0 : y0 + side, x0 : x0 + side] = texture
            inside = np.zeros((size, size), bool)
            inside[y0 : y0 + side, x0 : x0 + side] = True
            if label_type == "segmentation":
                label = np.where(inside, 26, 7).astype(np.uint8)
            elif label_type == "pose":
                label = np.zeros((size, size, 3), np.uint8)
                label[inside] = (153, 51, 0)
            else:
                label = np.zeros((size, size), np.uint8)
                label[y0, x0 : x0 + side] = 255
                label[y0 + side - 1, x0 : x0 + side] = 255
            write_png(root / "train_A" / name / f"{t:05d}.png", label)
            write_png(root / "train_B" / name / f"{t:05d}.png", image)
            if with_flow and t > 0:
                flow = np.zeros((size, size, 2), np.float16)
                flow[inside] = (-step[0], -step[1])
                np.save(root / "train_flow" / name / f"{t:05d}.npy", flow)
    (root / "dataset.json").write_text(json.dumps(meta))
    return root

