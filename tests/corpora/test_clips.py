"""Training clips over the data set layout (models/training/data.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from corpora.clips import ClipDataset, ClipSpec, collate_clips
from models.core.warp import warp
from tests.moving_square import make_moving_square


@pytest.mark.parametrize(("label_type", "channels"), [("segmentation", 36), ("pose", 3), ("edges", 1)])
def test_clip_shapes_for_each_label_type(tmp_path: Path, label_type: str, channels: int) -> None:
    root = make_moving_square(tmp_path, label_type=label_type, frames=8, size=40)
    spec = ClipSpec(clip_frames=4, height=32, width=32, max_t_step=2, use_instance=True, references=2)
    data = ClipDataset(root, "train", spec)
    clip = data[3]
    assert data.channels == channels
    assert clip.labels.shape == (4, channels, 32, 32)
    assert clip.frames.shape == (4, 3, 32, 32) and clip.frames.min() >= -1 and clip.frames.max() <= 1
    assert clip.flows.shape == (4, 2, 32, 32) and torch.all(clip.flows[0] == 0)
    assert clip.references is not None and clip.references.shape == (2, 3, 32, 32)
    assert clip.reference_labels is not None and clip.reference_labels.shape == (2, channels, 32, 32)
    batch = collate_clips([data[0], data[1]])
    assert batch.frames.shape == (2, 4, 3, 32, 32) and batch.references is not None


def test_items_are_deterministic_and_flows_explain_the_frames(square_data: Path) -> None:
    spec = ClipSpec(clip_frames=4, height=32, width=32, max_t_step=1, crop_scale_min=1.0, flip=False)
    data = ClipDataset(square_data, "train", spec)
    a, b = data[5], data[5]
    assert torch.equal(a.frames, b.frames)
    warped = warp(a.frames[:-1], a.flows[1:])  # (T-1, 3, H, W)
    assert (warped - a.frames[1:]).abs().mean() < 0.02


def test_missing_flow_falls_back_to_cached_dis(tmp_path: Path) -> None:
    root = make_moving_square(tmp_path, frames=5, size=48, with_flow=False)
    spec = ClipSpec(clip_frames=3, height=48, width=48, crop_scale_min=1.0, flip=False)
    data = ClipDataset(root, "train", spec)
    clip = data[0]
    assert data.flow_cache.computed == 2
    assert len(list((root / "cache" / "flow" / "train" / "seq00").glob("*.npy"))) == 2
    again = ClipDataset(root, "train", spec)
    assert torch.allclose(again[0].flows, clip.flows, atol=1e-2) and again.flow_cache.computed == 0


def test_still_clips_hold_their_first_frame_with_zero_flow_at_the_share_asked(square_data: Path) -> None:
    spec = ClipSpec(clip_frames=4, height=32, width=32, crop_scale_min=1.0, flip=False, still_share=0.5)
    data = ClipDataset(square_data, "train", spec)
    still = 0
    for i in range(40):
        clip = data[i]
        held = all(torch.equal(clip.frames[t], clip.frames[0]) and torch.equal(clip.labels[t], clip.labels[0])
                   for t in range(1, 4))
        if held:
            still += 1
            assert torch.all(clip.flows == 0)
        else:  # the square moves in every other clip, with its flow
            assert clip.flows[1:].abs().sum() > 0
    assert 10 <= still <= 30
