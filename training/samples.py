"""Sample strips written during training: one row per generated frame, labels | output | ground truth, as PNG."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

from models.core.labels import CITYSCAPES_PALETTE, colorize, tensor_to_rgb


def label_to_rgb(labels: torch.Tensor, label_type: str) -> np.ndarray:
    """(C, H, W) encoded labels -> (H, W, 3) uint8 RGB for viewing."""
    if label_type == "segmentation":
        return colorize(labels[: len(CITYSCAPES_PALETTE)].argmax(0).numpy())
    if label_type == "pose":
        return tensor_to_rgb(labels[:3])
    return tensor_to_rgb(labels[:1].expand(3, -1, -1))


def write_sample_strip(path: Path, labels: torch.Tensor, outputs: list[torch.Tensor], truth: torch.Tensor,
                       label_type: str) -> Path:
    """Write rows [labels | output | truth] for each frame; labels (T, C, H, W), outputs T x (3, H, W),
    truth (T, 3, H, W). Returns the PNG path."""
    rows = [np.concatenate([label_to_rgb(labels[i], label_type), tensor_to_rgb(out), tensor_to_rgb(truth[i])], 1)
            for i, out in enumerate(outputs)]
    strip = np.concatenate(rows, axis=0)  # (T*H, 3W, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.png")
    if not cv2.imwrite(str(partial), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {partial}")
    os.replace(partial, path)
    return path
