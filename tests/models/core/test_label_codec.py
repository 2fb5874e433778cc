"""One label codec: the same label PNG gives the same generator input on the serving, training and evaluation paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from app.contracts import LabelSpec
from corpora.clips import ClipDataset, ClipSpec
from corpora.layout import read_png
from evaluation.translate import load_clip, load_sequences
from models.core.label_codec import LabelCodec
from models.core.labels import CITYSCAPES_PALETTE
from tests.moving_square import make_moving_square
from workers.labels_input import LabelEncoder, codec_for

SPECS = {
    "segmentation": LabelSpec(type="segmentation", num_classes=35, channels=35,
                              palette=[tuple(int(v) for v in c) for c in CITYSCAPES_PALETTE]),
    "pose": LabelSpec(type="pose", channels=3),
    "edges": LabelSpec(type="edges", channels=1),
}


@pytest.mark.parametrize("label_type", sorted(SPECS))
@pytest.mark.parametrize("size", [(32, 32), (16, 16), (48, 48)])  # as stored, shrunk, grown
def test_the_same_png_gives_the_same_tensor_when_served_trained_and_evaluated(
    label_type: str, size: tuple[int, int], tmp_path: Path
) -> None:
    root = make_moving_square(tmp_path / "data", label_type=label_type, frames=2, size=32)
    height, width = size
    png = read_png(root / "train_A" / "seq00" / "00001.png")

    served = LabelEncoder(SPECS[label_type], height, width)(png)[0]  # what the worker feeds the model
    spec = ClipSpec(clip_frames=2, height=height, width=width, flip=False, crop_scale_min=1.0)
    trained = ClipDataset(root, "train", spec)[0].labels[1]  # what training feeds it (no crop, no flip)
    _, sequences = load_sequences(root, "train")
    evaluated = load_clip(sequences[0], [0, 1], codec_for(SPECS[label_type]), height, width).labels[1]

    assert served.shape == (SPECS[label_type].channels, height, width)
    assert torch.equal(served, trained) and torch.equal(served, evaluated)


def test_colour_coded_and_id_segmentation_encode_alike_and_draw_back() -> None:
    import numpy as np

    codec = codec_for(SPECS["segmentation"])
    ids = np.zeros((8, 8), np.uint8)
    ids[2:6, 2:6] = 26  # a car on "unlabeled"
    ids[:, 6:] = 7  # road
    coloured = CITYSCAPES_PALETTE[ids]
    assert torch.equal(codec.encode(ids), codec.encode(coloured))
    np.testing.assert_array_equal(codec.draw(codec.encode(ids)), coloured)


def test_instance_channel_comes_from_instances_or_else_from_class_ids() -> None:
    import numpy as np

    codec = LabelCodec("segmentation", channels=36, num_classes=35)
    ids = np.full((6, 6), 7, np.uint8)
    ids[:, 3:] = 26
    instances = np.zeros((6, 6), np.int32)
    instances[:3] = 1  # splits rows, not columns
    from_ids, from_instances = codec.encode(ids)[35], codec.encode(ids, instances)[35]
    assert from_ids[:, 2:4].eq(1).all() and from_ids[:, :2].eq(0).all()  # the class boundary
    assert from_instances[2:4].eq(1).all() and from_instances[:2].eq(0).all()  # the instance boundary
