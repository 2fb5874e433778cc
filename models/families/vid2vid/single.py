"""The single-image generator that makes vid2vid's first frames (reference §1.6, `--use_single_G`).

A pix2pixHD global generator on one frame's labels (one-hot without instance edges, instance norm). It is a
separate network with its own config and weights: `build_generator` never includes it. Use it to prime a
`Vid2VidGenerator` stream with `first_frames_from_single_image` + `Vid2VidGenerator.start(first_frames=...)`,
or frame by frame with `Vid2VidGenerator.observe`. torch only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.families.vid2vid.blocks import GlobalBranch
from models.families.vid2vid.layers import NormKind, init_weights


@dataclass(frozen=True)
class SingleImageConfig:
    """pix2pixHD GlobalGenerator settings (Cityscapes 512: ngf 64, 3 downs; 1024: 4 downs, 182.5 M)."""

    input_channels: int = 35
    """Label channels of one frame; the first `input_channels` channels of a vid2vid label frame are used."""
    ngf: int = 64
    n_downsample: int = 3
    n_blocks: int = 9
    norm: NormKind = "instance"


class SingleImageGenerator(nn.Module):
    """labels (B, input_channels, H, W) -> image (B, 3, H, W) in [-1, 1]."""

    def __init__(self, config: SingleImageConfig) -> None:
        super().__init__()
        self.config = config
        self.net = GlobalBranch(
            config.input_channels, config.ngf, config.n_downsample, config.n_blocks, config.norm
        )
        init_weights(self)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return self.net(labels[:, : self.config.input_channels])  # (B, 3, H, W)


def first_frames_from_single_image(single: SingleImageGenerator, first_labels: torch.Tensor) -> torch.Tensor:
    """Generate each of the L first frames independently: (B, L, C, H, W) labels -> (B, L, 3, H, W) frames."""
    b, n, c, h, w = first_labels.shape
    frames = single(first_labels.reshape(b * n, c, h, w))  # (B·L, 3, H, W)
    return frames.view(b, n, 3, h, w)
