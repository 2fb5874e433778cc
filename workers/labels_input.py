"""Uploaded label frame -> generator input, per a served model's `LabelSpec`, at the size the job runs at.

A thin adapter over the one label codec (`models.core.label_codec.LabelCodec`, shared with training and evaluation):
colour-coded segmentation decodes to the nearest palette colour (single-channel frames are class ids already), pose
maps and edge maps are scaled to [-1, 1]; see the codec for the resizing rules.
"""

from __future__ import annotations

import numpy as np
import torch

from app.contracts import LabelSpec, LabelType
from models.core.label_codec import LabelCodec

_NATURAL_CHANNELS = {LabelType.POSE: 3, LabelType.EDGES: 1}


def codec_for(spec: LabelSpec) -> LabelCodec:
    """The codec of a served model's label spec."""
    if spec.type == LabelType.SEGMENTATION and (not spec.palette or spec.num_classes <= 0):
        raise ValueError("a segmentation LabelSpec needs num_classes and a palette")
    channels = spec.channels or _NATURAL_CHANNELS.get(spec.type, spec.num_classes)
    return LabelCodec(spec.type.value, channels, spec.num_classes, tuple(tuple(c) for c in spec.palette))


class LabelEncoder:
    """Turns one label frame ((H, W, 3) RGB or (H, W) uint8) into a (1, C, height, width) float tensor."""

    def __init__(self, spec: LabelSpec, height: int, width: int) -> None:
        self.spec = spec
        self.height, self.width = height, width
        self.codec = codec_for(spec)
        self.channels = self.codec.channels

    def __call__(self, frame: np.ndarray) -> torch.Tensor:
        return self.codec.encode_at(frame, self.height, self.width).unsqueeze(0)  # (1, C, H, W)
