"""Optical flow for training supervision when a data set has no ground truth: OpenCV DIS, cached on disk.

Owns `dis_flow` (backward flow t -> t-1 in pixels, the convention of docs/conventions.md) and `FlowCache`, which
computes each frame's flow once and stores it as float16 `.npy` under DIR/cache/flow/<split>/<seq>/<frame>.npy
(written to a `.partial` file, then renamed). Frame 0 of a sequence has no flow.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np


def dis_flow(frame_t: np.ndarray, frame_prev: np.ndarray) -> np.ndarray:
    """Backward DIS flow: `warp(frame_prev, flow) ≈ frame_t`, i.e. frame_prev(p + flow(p)) ≈ frame_t(p).

    Args:
        frame_t, frame_prev: (H, W, 3) uint8 RGB frames of the same size.
    Returns:
        (H, W, 2) float32 flow in pixels, channel 0 = x, channel 1 = y.
    """
    gray_t = cv2.cvtColor(frame_t, cv2.COLOR_RGB2GRAY)
    gray_prev = cv2.cvtColor(frame_prev, cv2.COLOR_RGB2GRAY)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = dis.calc(gray_t, gray_prev, None)  # I0 = t, I1 = prev: I1(p + flow) ≈ I0(p)
    return flow.astype(np.float32)


class FlowCache:
    """DIS flows of one data set, computed on first use and read back afterwards.

    Attributes:
        computed: how many flows this instance had to compute (the rest came from disk).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root) / "cache" / "flow"
        self.computed = 0

    def path(self, split: str, sequence: str, frame_name: str) -> Path:
        """Cache file of the flow of frame `frame_name` (its stem is used) to the frame before it."""
        return self.root / split / sequence / f"{Path(frame_name).stem}.npy"

    def get(self, split: str, sequence: str, frame_name: str, frame_t: np.ndarray,
            frame_prev: np.ndarray) -> np.ndarray:
        """(H, W, 2) float32 backward flow of `frame_t` (called `frame_name`) to `frame_prev`, cached."""
        path = self.path(split, sequence, frame_name)
        if path.exists():
            return np.load(path).astype(np.float32)
        flow = dis_flow(frame_t, frame_prev)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + f".{os.getpid()}.partial")
        with open(partial, "wb") as handle:
            np.save(handle, flow.astype(np.float16))
        os.replace(partial, path)
        self.computed += 1
        return flow
