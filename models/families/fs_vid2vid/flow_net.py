"""Flow-and-mask network of few-shot vid2vid (reference §3.6, `FlowGenerator`).

Input: cat(current label, source label, source image), where the source is the chosen reference or the previous
generated frame. SN-Conv3x3 (no bias) + norm (BN or IN: the generator's `norm`) + LReLU stem, `n_downsample` stride-2
blocks, `n_blocks` residual blocks (norm first: BN, LReLU, SN-Conv, BN, LReLU, SN-Conv, plus the input), as many
nearest x2 + conv blocks, then plain convs `conv_flow` (2 ch, times `multiplier`, pixels) and `conv_mask` (1 ch,
sigmoid). That is the reference's layout; `layout="legacy"` builds the one our first models were trained with (biased
convs, conv-first residual blocks, spectral-normed heads).
The flow is backward (`models.core.warp.warp(source, flow)` aligns the source with the current frame). torch only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from models.families.fs_vid2vid.blocks import (
    LRELU_SLOPE,
    SpadeNorm,
    UpsampleMode,
    conv,
    conv_bn_act,
    norm_layer,
    sn_conv,
    upsample_2x,
)

FlowLayout = Literal["original", "legacy"]


@dataclass
class FlowPrediction:
    """A flow from the current frame to a source image, and the blending mask (1 = trust the synthesised image)."""

    flow: torch.Tensor  # (B, 2, H, W) pixels, channel 0 = x
    mask: torch.Tensor  # (B, 1, H, W) in (0, 1)


class FlowResBlock(nn.Module):
    """x + [norm, LReLU, SN-Conv3x3, norm, LReLU, SN-Conv3x3](x) (the reference), or with `norm_first=False` (legacy)
    x + [SN-Conv3x3, norm, LReLU, SN-Conv3x3, norm](x)."""

    def __init__(self, channels: int, norm: SpadeNorm = "batch", norm_first: bool = True) -> None:
        super().__init__()
        if norm_first:
            self.body = nn.Sequential(
                norm_layer(norm, channels), nn.LeakyReLU(LRELU_SLOPE), sn_conv(channels, channels),
                norm_layer(norm, channels), nn.LeakyReLU(LRELU_SLOPE), sn_conv(channels, channels),
            )
        else:
            self.body = nn.Sequential(
                sn_conv(channels, channels), norm_layer(norm, channels), nn.LeakyReLU(LRELU_SLOPE),
                sn_conv(channels, channels), norm_layer(norm, channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # (B, C, H, W)


class FlowNetwork(nn.Module):
    """Predicts (flow, mask) for warping one source image onto the current label map."""

    def __init__(self, in_channels: int, ngf: int = 32, n_downsample: int = 3, n_blocks: int = 6,
                 max_channels: int = 1024, multiplier: float = 20.0, norm: SpadeNorm = "batch",
                 layout: FlowLayout = "original", upsample: UpsampleMode = "nearest") -> None:
        super().__init__()
        self.upsample = upsample
        ch = [min(max_channels, ngf * 2**i) for i in range(n_downsample + 1)]
        legacy = layout == "legacy"
        self.multiplier = multiplier
        self.first = conv_bn_act(in_channels, ch[0], norm=norm, bias=legacy)
        self.down = nn.Sequential(*[conv_bn_act(ch[i], ch[i + 1], 2, norm=norm, bias=legacy)
                                    for i in range(n_downsample)])
        self.blocks = nn.Sequential(*[FlowResBlock(ch[-1], norm, norm_first=not legacy) for _ in range(n_blocks)])
        self.up = nn.ModuleList([conv_bn_act(ch[i + 1], ch[i], norm=norm, bias=legacy)
                                 for i in reversed(range(n_downsample))])
        self.conv_flow = conv(ch[0], 2, spectral=legacy)
        self.conv_mask = conv(ch[0], 1, spectral=legacy)

    def forward(self, x: torch.Tensor) -> FlowPrediction:
        """x: (B, in_channels, H, W) with H and W divisible by 2^n_downsample."""
        y = self.blocks(self.down(self.first(x)))  # (B, ch[-1], H/2^n, W/2^n)
        for up in self.up:
            y = up(upsample_2x(y, self.upsample))  # (B, ch[i], 2h, 2w)
        flow = self.conv_flow(y) * self.multiplier  # (B, 2, H, W)
        mask = torch.sigmoid(self.conv_mask(y))  # (B, 1, H, W)
        return FlowPrediction(flow=flow, mask=mask)
