"""Label input encoding: H.264-compressed palette video decodes to the right class ids; pose/edges shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from app.contracts import LabelSpec, LabelType
from models.core.labels import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, colorize
from workers.labels_input import LabelEncoder
from workers.video_io import H264Writer, read_label_frames

SEG_SPEC = LabelSpec(
    type=LabelType.SEGMENTATION,
    num_classes=35,
    class_names=[name for name, _ in CITYSCAPES_CLASSES],
    palette=[tuple(int(c) for c in rgb) for rgb in CITYSCAPES_PALETTE],
    channels=35,
)


def _id_map(shift: int, height: int = 64, width: int = 96) -> np.ndarray:
    """Blocky street-like layout: sky, building, road, a car moving right."""
    ids = np.full((height, width), 23, dtype=np.int64)  # sky
    ids[height // 4 : height // 2] = 11  # building
    ids[height // 2 :] = 7  # road
    ids[height // 2 + 8 : height // 2 + 24, 16 + shift : 48 + shift] = 26  # car
    return ids


def test_h264_compressed_palette_video_decodes_to_the_right_ids(tmp_path: Path) -> None:
    video = tmp_path / "labels.mp4"
    with H264Writer(video, fps=10.0, width=96, height=64) as writer:
        for t in range(4):
            writer.write(colorize(_id_map(t * 4)))
    encoder = LabelEncoder(SEG_SPEC, height=32, width=48)
    for t, frame in enumerate(read_label_frames(video, "video")):
        labels = encoder(frame)  # (1, 35, 32, 48)
        assert labels.shape == (1, 35, 32, 48)
        assert torch.all(labels.sum(1) == 1)
        ids = labels.argmax(1)[0].numpy()
        expected = _id_map(t * 4)[::2, ::2]
        assert (ids == expected).mean() > 0.97  # only block borders may blur


def test_class_id_png_frames_are_used_directly() -> None:
    encoder = LabelEncoder(SEG_SPEC, height=32, width=48)
    ids = _id_map(0).astype(np.uint8)
    labels = encoder(ids)
    assert torch.equal(labels.argmax(1)[0], torch.from_numpy(_id_map(0)[::2, ::2]))


def test_instance_channel_is_padded_with_zeros() -> None:
    spec = SEG_SPEC.model_copy(update={"channels": 36})
    labels = LabelEncoder(spec, height=16, width=16)(np.zeros((16, 16, 3), np.uint8))
    assert labels.shape == (1, 36, 16, 16) and float(labels[0, 35].abs().sum()) == 0.0


def test_pose_and_edges_shapes_and_range() -> None:
    pose = LabelEncoder(LabelSpec(type=LabelType.POSE, channels=3), height=32, width=16)
    out = pose(np.full((64, 32, 3), 255, np.uint8))
    assert out.shape == (1, 3, 32, 16) and torch.allclose(out, torch.ones_like(out))
    edges = LabelEncoder(LabelSpec(type=LabelType.EDGES, channels=1), height=24, width=32)
    out = edges(np.zeros((48, 64, 3), np.uint8))
    assert out.shape == (1, 1, 24, 32) and torch.allclose(out, -torch.ones_like(out))
