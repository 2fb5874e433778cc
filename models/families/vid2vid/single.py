"""The single-image generator that makes vid2vid's first frames (reference §1.6, `--use_single_G`).

A pix2pixHD generator on one frame's labels (one-hot without instance edges, instance norm): the `global` kind
(Cityscapes 512 / 1024, face), or the `local` kind (Cityscapes 2048: a global generator of twice the width at half
resolution, whose features a local enhancer adds to its own, as pix2pixHD's `LocalEnhancer` with one enhancer). It is a
separate network with its own config and weights: `build_generator` never includes it. Use it to prime a
`Vid2VidGenerator` stream with `first_frames_from_single_image` + `Vid2VidGenerator.start(first_frames=...)`,
or frame by frame with `Vid2VidGenerator.observe`. torch only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from models.core.warp import downsample
from models.families.vid2vid.blocks import GlobalBranch, decoder_stack, encoder_stack, local_stem
from models.families.vid2vid.layers import NormKind, conv7_head, init_weights, res_blocks, up_block


@dataclass(frozen=True)
class SingleImageConfig:
    """pix2pixHD generator settings (Cityscapes 512: global, ngf 64, 3 downs; 1024: global, ngf 64, 4 downs,
    182.5 M; 2048: local, ngf 32, 4 downs, 182.85 M)."""

    input_channels: int = 35
    """Label channels of one frame; the first `input_channels` channels of a vid2vid label frame are used."""
    ngf: int = 64
    n_downsample: int = 3
    n_blocks: int = 9
    norm: NormKind = "instance"
    kind: Literal["global", "local"] = "global"
    """"local": one local enhancer of width ngf around a global generator of width 2·ngf run at half resolution."""
    n_blocks_local: int = 3
    """ResBlocks of the local enhancer (kind "local" only)."""

    @property
    def size_multiple(self) -> int:
        """Height and width must be multiples of this."""
        return 2 ** (self.n_downsample + int(self.kind == "local"))


class LocalEnhancerBranch(nn.Module):
    """pix2pixHD LocalEnhancer with one enhancer: global generator (width 2·ngf, without its output layer) on the
    AvgPool-halved input; its features are added to the enhancer's down stem; ResBlocks, ConvT, Conv7 tanh."""

    def __init__(self, in_ch: int, ngf: int, n_downsample: int, n_blocks: int, n_blocks_local: int,
                 norm: NormKind) -> None:
        super().__init__()
        self.global_encoder = encoder_stack(in_ch, 2 * ngf, n_downsample, 0, norm)
        self.global_decoder = decoder_stack(2 * ngf, n_downsample, n_blocks, norm)
        self.local_down = local_stem(in_ch, ngf, norm)
        self.local_up = nn.Sequential(res_blocks(2 * ngf, n_blocks_local, norm), up_block(2 * ngf, ngf, norm))
        self.head = conv7_head(ngf, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        coarse = self.global_decoder(self.global_encoder(downsample(x)))  # (B, 2·ngf, H/2, W/2)
        features = self.local_up(self.local_down(x) + coarse)  # (B, ngf, H, W)
        return torch.tanh(self.head(features))  # (B, 3, H, W)


class SingleImageGenerator(nn.Module):
    """labels (B, input_channels, H, W) -> image (B, 3, H, W) in [-1, 1]."""

    def __init__(self, config: SingleImageConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.net: nn.Module
        if c.kind == "local":
            self.net = LocalEnhancerBranch(c.input_channels, c.ngf, c.n_downsample, c.n_blocks, c.n_blocks_local,
                                           c.norm)
        else:
            self.net = GlobalBranch(c.input_channels, c.ngf, c.n_downsample, c.n_blocks, c.norm)
        init_weights(self)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return self.net(labels[:, : self.config.input_channels])  # (B, 3, H, W)


def first_frames_from_single_image(single: SingleImageGenerator, first_labels: torch.Tensor) -> torch.Tensor:
    """Generate each of the L first frames independently: (B, L, C, H, W) labels -> (B, L, 3, H, W) frames."""
    b, n, c, h, w = first_labels.shape
    frames = single(first_labels.reshape(b * n, c, h, w))  # (B·L, 3, H, W)
    return frames.view(b, n, 3, h, w)
