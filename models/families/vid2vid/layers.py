"""Building blocks used identically by both generator families: normalisation choice, reflection-padded conv
blocks, the pix2pixHD residual block and the N(0, 0.02) initialisation. torch only.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from models.core.extensions import ZeroInitExtension

NormKind = Literal["batch", "instance", "none"]
NormStatistics = Literal["running", "per_frame"]
UpsampleKind = Literal["transpose", "resize", "bilinear"]
"""How decoders double H and W: "transpose" (the papers' ConvTranspose 3x3 stride 2), "resize" (nearest 2x
upsampling, then a reflection-padded Conv 3x3: same parameter count, no uneven kernel overlap; Odena et al. 2016), or
"bilinear" (the same conv after bilinear 2x upsampling: same parameters, so "resize" weights load). Nearest copies
each pixel into a 2x2 block, and the full-resolution convs after it can read which corner of its block a pixel sits
in (a difference across the block edge is zero inside a block, not across it): a trained generator turned that
into a 2-pixel grid. Bilinear interpolation leaves no block edges to read."""


def make_norm(kind: NormKind, channels: int) -> nn.Module:
    """BatchNorm2d (affine, the vid2vid default), InstanceNorm2d (no affine, as pix2pixHD), or Identity."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; valid: batch, instance, none")


class PerFrameBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm that always normalises with the statistics of the current frame (each sample on its own), also in
    eval mode: what the original vid2vid test script computed, since it never switched to eval (batch of 1, BN in
    training mode). Affine γ/β and the running-statistics buffers stay in the state dict (unused, never updated)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 1:  # exactly the training-mode BatchNorm computation of a batch of one (updating copies of
            # the running statistics, as the original did: the kernel then takes the same path)
            mean = None if self.running_mean is None else self.running_mean.clone()
            var = None if self.running_var is None else self.running_var.clone()
            return F.batch_norm(x, mean, var, self.weight, self.bias, True, self.momentum or 0.0, self.eps)
        return F.instance_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)  # (B, C, H, W)


def use_per_frame_statistics(module: nn.Module) -> None:
    """Make every BatchNorm2d inside `module` a `PerFrameBatchNorm2d` (same parameters and buffers, in place)."""
    for m in module.modules():
        if type(m) is nn.BatchNorm2d:
            m.__class__ = PerFrameBatchNorm2d


class ReflectionPad(nn.ReflectionPad2d):
    """ReflectionPad2d that keeps its input's dtype under autocast. CPU autocast runs reflection_pad2d in fp32, so a
    bf16 activation was copied up to fp32 and back down by the next convolution; padding only copies values, so
    padding in bf16 gives the same numbers without the two casts."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        device = x.device.type
        if device in ("cpu", "cuda") and torch.is_autocast_enabled(device):
            with torch.autocast(device, enabled=False):
                return super().forward(x)  # (B, C, H + 2p, W + 2p) in x's dtype
        return super().forward(x)


def conv7_block(in_ch: int, out_ch: int, norm: NormKind) -> nn.Sequential:
    """ReflPad3, Conv7x7 (in → out), Norm, ReLU: the stem of every encoder."""
    return nn.Sequential(
        ReflectionPad(3), nn.Conv2d(in_ch, out_ch, 7), make_norm(norm, out_ch), nn.ReLU(True)
    )


def down_block(in_ch: int, out_ch: int, norm: NormKind) -> nn.Sequential:
    """Conv3x3 stride 2 (in → out), Norm, ReLU: halves H and W."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1), make_norm(norm, out_ch), nn.ReLU(True)
    )


def up_block(in_ch: int, out_ch: int, norm: NormKind, upsample: UpsampleKind = "transpose") -> nn.Sequential:
    """Doubles H and W, then Norm, ReLU. "transpose": ConvTranspose3x3 stride 2 (padding 1, output_padding 1);
    "resize" / "bilinear": nearest / bilinear 2x, ReflPad1, Conv3x3."""
    if upsample == "transpose":
        return nn.Sequential(
            nn.ConvTranspose2d(in_ch, out_ch, 3, stride=2, padding=1, output_padding=1),
            make_norm(norm, out_ch),
            nn.ReLU(True),
        )
    if upsample in ("resize", "bilinear"):
        return nn.Sequential(
            _upsample_2x(upsample),
            ReflectionPad(1),
            nn.Conv2d(in_ch, out_ch, 3),
            make_norm(norm, out_ch),
            nn.ReLU(True),
        )
    raise ValueError(f"unknown upsample {upsample!r}; valid: transpose, resize, bilinear")


def _upsample_2x(upsample: UpsampleKind) -> nn.Upsample:
    """Parameter-free 2x up-sampling of a resize-convolution: nearest ("resize") or bilinear, half-pixel centres."""
    if upsample == "bilinear":
        return nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
    return nn.Upsample(scale_factor=2, mode="nearest")


def conv7_head(in_ch: int, out_ch: int) -> nn.Sequential:
    """ReflPad3, Conv7x7 (in → out) without activation: the output layer of image, flow and mask heads."""
    return nn.Sequential(ReflectionPad(3), nn.Conv2d(in_ch, out_ch, 7))


class LabelSkip(ZeroInitExtension):
    """Ours (a departure, `Vid2VidConfig.label_skip`): the current label map straight into the image head's
    pre-activation by one 3x3 convolution, so class colours and class boundaries need not survive the 2^n
    bottleneck. Zero-initialised: weights trained without it give the same frames with it (warm starts accept it
    missing). The kernel is stored divided by `GAIN` (an equalised learning rate): Adam moves every parameter by
    about lr per step, and this one layer must carry whole class colours (logit offsets of order 1), so at the
    decoder's lr it would need thousands of steps."""

    GAIN = 25.0

    def __init__(self, label_channels: int, out_channels: int = 3) -> None:
        super().__init__()
        self.label_channels = label_channels
        self.weight = nn.Parameter(torch.zeros(out_channels, label_channels, 3, 3))  # kernel / GAIN

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        """labels (B, n·C, H, W), the current frame's C channels last -> (B, out, H, W)."""
        current = labels[:, -self.label_channels :]  # (B, C, H, W)
        kernel = (self.weight * self.GAIN).to(current.dtype)  # (out, C, 3, 3)
        return F.conv2d(F.pad(current, (1, 1, 1, 1), mode="replicate"), kernel)


class ResBlock(nn.Module):
    """x + [ReflPad1, Conv3x3, Norm, ReLU, ReflPad1, Conv3x3, Norm](x), channels unchanged (no dropout)."""

    def __init__(self, channels: int, norm: NormKind) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ReflectionPad(1),
            nn.Conv2d(channels, channels, 3),
            make_norm(norm, channels),
            nn.ReLU(True),
            ReflectionPad(1),
            nn.Conv2d(channels, channels, 3),
            make_norm(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # (B, C, H, W)


def res_blocks(channels: int, n: int, norm: NormKind) -> nn.Sequential:
    """`n` ResBlocks of `channels` in sequence (an empty Sequential is the identity)."""
    return nn.Sequential(*[ResBlock(channels, norm) for _ in range(n)])


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """pix2pixHD initialisation: conv ~ N(0, std), BatchNorm γ ~ N(1, std), β = 0; conv biases kept."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (works on the meta device, where nothing is allocated)."""
    return sum(p.numel() for p in module.parameters())
