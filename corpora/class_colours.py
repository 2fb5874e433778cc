"""Mean colour of every class of a segmentation data set: the reference colours of hand-made label clips
(`v2v data street-handmade --colours-from`) and the "flat class-mean render" baseline of `v2v eval` (each label
pixel painted with its class's mean training colour: what a model that knew nothing but the class would draw)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from corpora.layout import read_png

COLOUR_FRAME_STRIDE = 5
"""Every this-many-th frame of each sequence is read (neighbouring frames add little)."""


def mean_class_colours(root: Path, split: str = "train", stride: int = COLOUR_FRAME_STRIDE) -> dict[str, list[float]]:
    """{class id: mean RGB} over every `stride`-th frame of a segmentation data set's `split` (ids in A, RGB in B)."""
    if not (root / "dataset.json").is_file():
        raise ValueError(f"{root} is not a data set (no dataset.json)")
    meta = json.loads((root / "dataset.json").read_text())
    sums, counts = np.zeros((256, 3)), np.zeros(256)  # per class id
    for name, info in sorted(meta["sequences"].items()):
        if info.get("split") != split:
            continue
        for path in sorted((root / f"{split}_A" / name).glob("*.png"))[::stride]:
            ids = read_png(path)  # (H, W)
            if ids.ndim != 2 or ids.dtype != np.uint8:
                raise ValueError(f"{path}: expected single-channel uint8 class ids")
            rgb = read_png(root / f"{split}_B" / name / path.name).reshape(-1, 3)  # (H*W, 3)
            counts += np.bincount(ids.ravel(), minlength=256)
            for c in range(3):
                sums[:, c] += np.bincount(ids.ravel(), weights=rgb[:, c], minlength=256)
    if not counts.any():
        raise ValueError(f"no {split} frames in {root}")
    return {str(c): [round(float(v), 2) for v in sums[c] / counts[c]] for c in np.flatnonzero(counts)}
