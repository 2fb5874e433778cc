"""Discriminators for both model families (training only; never served).

Owns the PatchGAN building block (`NLayerDiscriminator`), its multi-scale wrapper (`MultiscaleDiscriminator`), the
vid2vid image discriminator D_I and video discriminator D_V (reference doc §2.1-2.2), the few-shot image
discriminator (§3.7) and `with_motion`, the frame differences that SAVP's and MoCoGAN's video discriminators may also
see (ours). Every discriminator returns *all* intermediate activations so the generator can be trained with feature
matching; the last entry of each scale's list is the patch prediction. Pure torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from models.core.warp import warp

Norm = Literal["batch", "instance", "none"]

Features = list[torch.Tensor]
"""One scale's activations, input side first; the last tensor is the (B, 1, h, w) patch prediction."""

MultiscaleFeatures = list[Features]
"""One `Features` list per spatial scale, finest first."""


@dataclass(frozen=True)
class PatchGANConfig:
    """Shape of one multi-scale PatchGAN.

    Attributes:
        ndf: filters of the first conv (doubled per stride-2 layer, capped at 512).
        n_layers: number of stride-2 convs (vid2vid: 3, few-shot: 4).
        num_D: spatial scales; the input is average-pooled by 2 between scales.
        norm: normalisation after every conv except the first and the last.
        spectral: spectral norm on the normalised convs (few-shot D).
        norm_eps: epsilon of the normalisation (few-shot: 0.1).
        antialias: (ours, off in both papers) a fixed binomial blur before every stride-2 conv, so that the
            gradient the generator receives carries no pattern on the strides' 2/4/8-pixel lattices.
    """

    ndf: int = 64
    n_layers: int = 3
    num_D: int = 2
    norm: Norm = "batch"
    spectral: bool = False
    norm_eps: float = 1e-5
    antialias: bool = False


VID2VID_D = PatchGANConfig()
FEW_SHOT_D = PatchGANConfig(ndf=32, n_layers=4, num_D=1, norm="instance", spectral=True, norm_eps=0.1)


class BinomialBlur(nn.Module):
    """Depthwise [1, 2, 1]ᵀ[1, 2, 1] / 16 blur with reflect padding: size kept, zero response at the Nyquist
    frequency of either axis. No parameters; nothing in the state dict."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = (taps[:, None] * taps[None, :]) / 16.0  # (3, 3)
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, H, W)
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        return F.conv2d(padded, self.kernel.to(x.dtype), groups=x.shape[1])  # (B, C, H, W)


def _norm_layer(norm: Norm, channels: int, eps: float) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels, eps=eps)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=True, eps=eps)
    return nn.Identity()


class NLayerDiscriminator(nn.Module):
    """One PatchGAN scale: Conv4 s2 + LReLU, (n_layers-1) x [Conv4 s2 + Norm + LReLU], Conv4 s1 + Norm + LReLU,
    Conv4 s1 -> 1. Padding 2 (as the reference), so a 32x32 input gives a 7x7 patch map with n_layers=3."""

    def __init__(self, in_channels: int, config: PatchGANConfig) -> None:
        super().__init__()
        c = config

        def conv(cin: int, cout: int, stride: int, normed: bool) -> nn.Module:
            layer: nn.Module = nn.Conv2d(cin, cout, kernel_size=4, stride=stride, padding=2)
            layer = spectral_norm(layer) if (normed and c.spectral) else layer
            return nn.Sequential(BinomialBlur(cin), layer) if (c.antialias and stride == 2) else layer

        blocks: list[nn.Module] = [nn.Sequential(conv(in_channels, c.ndf, 2, False), nn.LeakyReLU(0.2))]
        channels = c.ndf
        for n in range(1, c.n_layers + 1):
            stride = 2 if n < c.n_layers else 1
            out = min(channels * 2, 512)
            blocks.append(
                nn.Sequential(conv(channels, out, stride, True), _norm_layer(c.norm, out, c.norm_eps),
                              nn.LeakyReLU(0.2))
            )
            channels = out
        blocks.append(nn.Conv2d(channels, 1, kernel_size=4, stride=1, padding=2))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> Features:  # x: (B, C, H, W)
        features: Features = []
        for block in self.blocks:
            x = block(x)
            features.append(x)
        return features  # n_layers + 2 tensors; the last is (B, 1, h, w)


class MultiscaleDiscriminator(nn.Module):
    """`num_D` PatchGANs with their own weights; scale i sees the input average-pooled i times
    (AvgPool(3, 2, 1, count_include_pad=False))."""

    def __init__(self, in_channels: int, config: PatchGANConfig) -> None:
        super().__init__()
        self.config = config
        self.scales = nn.ModuleList(NLayerDiscriminator(in_channels, config) for _ in range(config.num_D))

    def forward(self, x: torch.Tensor) -> MultiscaleFeatures:  # x: (B, C, H, W)
        outputs: MultiscaleFeatures = []
        for i, scale in enumerate(self.scales):
            if i > 0:
                x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)  # (B, C, H/2^i, W/2^i)
            outputs.append(scale(x))
        return outputs


class ImageDiscriminator(nn.Module):
    """D_I of vid2vid (and of few-shot when `reference_channels` > 0): a multi-scale PatchGAN on
    cat([reference label, reference image,] label, image)."""

    def __init__(self, label_channels: int, config: PatchGANConfig, with_reference: bool = False) -> None:
        super().__init__()
        self.with_reference = with_reference
        in_channels = (label_channels + 3) * (2 if with_reference else 1)
        self.net = MultiscaleDiscriminator(in_channels, config)

    def forward(
        self,
        labels: torch.Tensor,  # (B, C, H, W)
        image: torch.Tensor,  # (B, 3, H, W)
        reference_label: torch.Tensor | None = None,  # (B, C, H, W), few-shot only
        reference_image: torch.Tensor | None = None,  # (B, 3, H, W), few-shot only
    ) -> MultiscaleFeatures:
        parts = [labels, image]
        if self.with_reference:
            if reference_label is None or reference_image is None:
                raise ValueError("this discriminator judges (reference, frame) pairs: pass reference_label/_image")
            parts = [reference_label, reference_image, *parts]
        return self.net(torch.cat(parts, dim=1))  # input: (B, 2(C+3) or C+3, H, W)


def few_shot_image_discriminator(label_channels: int, num_D: int = 1) -> ImageDiscriminator:
    """The few-shot D_I (§3.7): first conv plain, then SN-conv + InstanceNorm(affine, eps 0.1), ndf 32, 4 strided."""
    config = PatchGANConfig(
        ndf=FEW_SHOT_D.ndf, n_layers=FEW_SHOT_D.n_layers, num_D=num_D, norm="instance", spectral=True, norm_eps=0.1
    )
    return ImageDiscriminator(label_channels, config, with_reference=True)


def compose_flows(flow_near: torch.Tensor, flow_far: torch.Tensor) -> torch.Tensor:
    """Chain two backward flows: `flow_near` maps frame t to t-a, `flow_far` maps t-a to t-a-b; the result maps t to
    t-a-b (pixels, align_corners=True convention of `models.core.warp`)."""
    return flow_near + warp(flow_far, flow_near)  # (B, 2, H, W)


def with_motion(clip: torch.Tensor, scale: float) -> torch.Tensor:
    """clip (B, C, T, H, W) → itself (scale 0) or cat(clip, scale · (x_t − x_{t−1})) on channels, (B, 2C, T, H, W),
    the first frame's difference zero."""
    if scale <= 0:
        return clip
    diff = torch.diff(clip, dim=2, prepend=clip[:, :, :1])  # (B, C, T, H, W)
    return torch.cat([clip, scale * diff], dim=1)


class TemporalDiscriminator(nn.Module):
    """D_V of vid2vid (§2.2): for each temporal scale s (frame stride n_frames^s), a multi-scale PatchGAN on
    `n_frames` frames plus the n_frames-1 ground-truth flows between them (divided by 20)."""

    def __init__(self, config: PatchGANConfig, n_frames: int = 3, n_scales_temporal: int = 2) -> None:
        super().__init__()
        if n_frames < 2:
            raise ValueError("the video discriminator needs n_frames >= 2")
        self.n_frames = n_frames
        in_channels = 3 * n_frames + 2 * (n_frames - 1)
        self.scales = nn.ModuleList(MultiscaleDiscriminator(in_channels, config) for _ in range(n_scales_temporal))

    def stride(self, scale: int) -> int:
        """Frame stride of temporal scale `scale` (1, K, K^2, ...)."""
        return self.n_frames**scale

    def span(self, scale: int) -> int:
        """Consecutive original frames a clip of temporal scale `scale` covers."""
        return self.stride(scale) * (self.n_frames - 1) + 1

    def usable_scales(self, clip_frames: int) -> list[int]:
        """Temporal scales whose span fits in a clip of `clip_frames` frames."""
        return [s for s in range(len(self.scales)) if self.span(s) <= clip_frames]

    @staticmethod
    def skipped_flows(flows: torch.Tensor, stride: int) -> torch.Tensor:
        """From per-frame backward flows (B, T, 2, H, W) (flow[:, t] maps t -> t-1) build flows with a frame stride:
        result[:, j] maps frame (j+1)*stride -> j*stride, for j in 0..(T-1)//stride - 1."""
        count = (flows.shape[1] - 1) // stride
        out = []
        for j in range(count):
            t = (j + 1) * stride
            chained = flows[:, t]  # (B, 2, H, W): t -> t-1
            for k in range(1, stride):
                chained = compose_flows(chained, flows[:, t - k])  # t -> t-k-1
            out.append(chained)
        return torch.stack(out, dim=1)  # (B, count, 2, H, W)

    def forward(self, scale: int, frames: torch.Tensor, flows: torch.Tensor) -> MultiscaleFeatures:
        """Judge one clip at temporal scale `scale`.

        Args:
            frames: (B, n_frames, 3, H, W) frames already sub-sampled with this scale's stride.
            flows: (B, n_frames - 1, 2, H, W) ground-truth backward flows between those frames, in pixels.
        """
        b, k, _, h, w = frames.shape
        if k != self.n_frames or flows.shape[1] != k - 1:
            raise ValueError(f"expected {self.n_frames} frames and {self.n_frames - 1} flows, "
                             f"got {k} and {flows.shape[1]}")
        x = torch.cat([frames.reshape(b, 3 * k, h, w), flows.reshape(b, 2 * (k - 1), h, w) / 20.0], dim=1)
        return self.scales[scale](x)  # input: (B, 3K + 2(K-1), H, W)
