"""probe_labels on each accepted container, and the label-content checks against a model card."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.contracts import LabelSpec, LabelType
from app.errors import ApiError
from app.probe import Limits, check_labels_match, probe_labels
from tests.app.media import PALETTE, seg_frame, write_video

LIMITS = Limits(
    max_frames=50,
    max_width=256,
    max_height=256,
    max_duration_s=10,
    max_zip_uncompressed_bytes=10**8,
    zip_fps=15,
)


@pytest.mark.parametrize(
    ("name", "codec", "fmt"),
    [
        ("a.mp4", "libx264", "mp4"),
        ("a.mkv", "libx264", "matroska"),
        ("a.webm", "libvpx-vp9", "matroska"),
        ("a.avi", "mpeg4", "avi"),
        ("a.mov", "libx264", "mov"),
    ],
)
def test_accepted_containers_are_counted(name: str, codec: str, fmt: str, tmp_path: Path):
    path = write_video(tmp_path / name, [seg_frame(i) for i in range(5)], fps=10, codec=codec)
    probe = probe_labels(path, LIMITS)
    assert (probe.kind, probe.frames, probe.fps, probe.width, probe.height) == ("video", 5, 10.0, 64, 64)
    assert probe.format == (fmt if fmt != "mov" else "mp4") and probe.first_frame.shape == (64, 64, 3)


def _labels(label_type: LabelType) -> LabelSpec:
    palette = [tuple(c) for c in PALETTE] if label_type == LabelType.SEGMENTATION else []
    return LabelSpec(type=label_type, palette=palette)


def test_segmentation_in_palette_passes_and_noise_is_refused():
    check_labels_match(seg_frame(0), _labels(LabelType.SEGMENTATION), "m", max_palette_distance=40)
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    with pytest.raises(ApiError) as err:
        check_labels_match(noise, _labels(LabelType.SEGMENTATION), "m", max_palette_distance=40)
    assert err.value.code == "labels_do_not_match_model"


def test_edges_must_be_black_and_white_and_pose_must_be_colour():
    edges = np.zeros((64, 64, 3), np.uint8)
    edges[10:12] = 255
    check_labels_match(edges, _labels(LabelType.EDGES), "m", 40)
    with pytest.raises(ApiError):
        check_labels_match(edges, _labels(LabelType.POSE), "m", 40)
    pose = np.zeros((64, 64, 3), np.uint8)
    pose[20:40, 30:34] = (255, 0, 85)
    check_labels_match(pose, _labels(LabelType.POSE), "m", 40)
    with pytest.raises(ApiError):
        check_labels_match(seg_frame(0), _labels(LabelType.EDGES), "m", 40)
