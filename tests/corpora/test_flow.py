"""DIS flow and its on-disk cache (models/training/flow.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from corpora.flow import FlowCache, dis_flow


def _textured(size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(1)
    small = rng.integers(0, 255, size=(size // 4, size // 4, 3)).astype(np.uint8)
    import cv2

    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def test_dis_recovers_a_known_shift_as_backward_flow() -> None:
    prev = _textured()
    current = np.roll(prev, shift=(2, 3), axis=(0, 1))  # content moved +3 px in x, +2 px in y
    flow = dis_flow(current, prev)
    centre = flow[16:48, 16:48].reshape(-1, 2)
    assert flow.shape == (64, 64, 2)
    # backward: current(p) = prev(p + flow) -> flow ≈ (-3, -2)
    assert np.allclose(np.median(centre, axis=0), (-3, -2), atol=0.5)


def test_cache_is_written_once_then_reused(tmp_path: Path) -> None:
    prev = _textured()
    current = np.roll(prev, 1, axis=1)
    cache = FlowCache(tmp_path)
    first = cache.get("train", "s0", "00001.png", current, prev)
    path = tmp_path / "cache" / "flow" / "train" / "s0" / "00001.npy"
    assert path.exists() and np.load(path).dtype == np.float16 and cache.computed == 1
    mtime = os.stat(path).st_mtime_ns
    again = FlowCache(tmp_path)
    second = again.get("train", "s0", "00001.png", current, prev)
    assert again.computed == 0 and os.stat(path).st_mtime_ns == mtime
    assert np.allclose(first, second, atol=1e-2)
    assert not list(path.parent.glob("*.partial"))
