"""The per-scale networks of the vid2vid generator (NeurIPS 2018); reference §1.3-1.6.

- `CompositeGenerator`: the coarsest scale. Label and previous-frame encoders (summed), an image decoder and a
  flow/mask decoder, and an optional foreground branch (`GlobalBranch` on the labels only).
- `CompositeLocalGenerator`: a local enhancer for a finer scale. Two down stems (summed) plus the coarser
  scale's last decoder features, then ResBlocks + one up-convolution per head.
- `GlobalBranch`: the pix2pixHD global generator (stem, downs, ResBlocks, ups, Conv7 tanh), used for the
  foreground branch and by `SingleImageGenerator` for first frames.
- `LabelSkip` (ours, optional): the current labels added to the image head's pre-activation (`image_logits`).
Composition (mask, warp, foreground mixing) lives in `models.families.vid2vid.generator`. torch only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.families.vid2vid.label_gather import OneHotCodes, label_stacks
from models.families.vid2vid.layers import (
    LabelSkip,
    NormKind,
    UpsampleKind,
    conv7_block,
    conv7_head,
    down_block,
    res_blocks,
    up_block,
)


@dataclass
class ScaleHeads:
    """What one scale's network predicts, before composition (all at that scale's resolution)."""

    image: torch.Tensor  # (B, 3, H, W) hallucinated image h, tanh
    flow: torch.Tensor | None  # (B, 2, H, W) pixels, t -> t-1; None when no_flow
    mask: torch.Tensor | None  # (B, 1, H, W) in (0, 1), 1 = trust h; None when no_flow
    fg_image: torch.Tensor | None  # (B, 3, H, W) foreground hallucination h_F; None without fg
    image_features: torch.Tensor  # (B, ngf, H, W) last image-decoder features, passed to the next finer scale
    flow_features: torch.Tensor | None  # (B, ngf, H, W)
    fg_features: torch.Tensor | None  # (B, fg_ngf, H, W)


def encoder_stack(in_ch: int, ngf: int, n_downsample: int, n_blocks: int, norm: NormKind) -> nn.Sequential:
    """Conv7 stem, `n_downsample` stride-2 convs doubling channels, then `n_blocks` ResBlocks."""
    layers: list[nn.Module] = [conv7_block(in_ch, ngf, norm)]
    for i in range(n_downsample):
        layers.append(down_block(ngf * 2**i, ngf * 2 ** (i + 1), norm))
    layers.append(res_blocks(ngf * 2**n_downsample, n_blocks, norm))
    return nn.Sequential(*layers)


def flow_and_mask(flow_head: nn.Sequential, mask_head: nn.Sequential, flow_scale: float,
                  features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(flow_head(features) · flow_scale, sigmoid(mask_head(features))) with one convolution: the two `conv7_head`s
    read the same features, so their weights are stacked (2 + 1 output channels) and the features padded once. A
    convolution's output channels are independent, so this is the two heads' arithmetic (a 2- or 1-channel 7×7 conv
    costs about what a 3-channel one does: 1.6x for the pair at 256×512 on CPU)."""
    pad, flow_conv, mask_conv = flow_head[0], flow_head[1], mask_head[1]
    weight = torch.cat([flow_conv.weight, mask_conv.weight])  # (3, ngf, 7, 7)
    bias = torch.cat([flow_conv.bias, mask_conv.bias])  # (3,)
    out = F.conv2d(pad(features), weight, bias)  # (B, 3, H, W)
    return out[:, :2] * flow_scale, torch.sigmoid(out[:, 2:])


def decoder_stack(ngf: int, n_downsample: int, n_blocks: int, norm: NormKind,
                  upsample: UpsampleKind = "transpose") -> nn.Sequential:
    """`n_blocks` ResBlocks at the bottleneck, then `n_downsample` up-convs halving channels (→ ngf)."""
    layers: list[nn.Module] = [res_blocks(ngf * 2**n_downsample, n_blocks, norm)]
    for i in range(n_downsample, 0, -1):
        layers.append(up_block(ngf * 2**i, ngf * 2 ** (i - 1), norm, upsample))
    return nn.Sequential(*layers)


class GlobalBranch(nn.Module):
    """pix2pixHD global generator: Conv7, n_downsample stride-2 convs, ResBlocks, ups, Conv7 tanh."""

    def __init__(self, in_ch: int, ngf: int, n_downsample: int, n_blocks: int, norm: NormKind,
                 upsample: UpsampleKind = "transpose") -> None:
        super().__init__()
        self.encoder = encoder_stack(in_ch, ngf, n_downsample, 0, norm)
        self.decoder = decoder_stack(ngf, n_downsample, n_blocks, norm, upsample)
        self.head = conv7_head(ngf, 3)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_ch, H, W) -> (B, ngf, H, W), the features before the output layer."""
        return self.decoder(self.encoder(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.head(self.features(x)))  # (B, 3, H, W)


def image_logits(head: nn.Sequential, skip: LabelSkip | None, features: torch.Tensor, labels: torch.Tensor
                 ) -> torch.Tensor:
    """The image head's pre-activation (B, 3, H, W), plus the label skip's when the scale has one."""
    logits = head(features)  # (B, 3, H, W)
    return logits if skip is None else logits + skip(labels)


class CompositeGenerator(nn.Module):
    """Coarsest scale: label / previous-frame encoders, image decoder, flow+mask decoder, optional fg."""

    def __init__(
        self,
        label_ch: int,
        prev_ch: int,
        ngf: int,
        n_downsample: int,
        n_blocks: int,
        norm: NormKind,
        fg_ngf: int | None,
        use_flow: bool,
        flow_scale: float,
        upsample: UpsampleKind = "transpose",
        label_skip_channels: int | None = None,
    ) -> None:
        super().__init__()
        self.label_skip = LabelSkip(label_skip_channels) if label_skip_channels is not None else None
        n_enc, n_dec = n_blocks - n_blocks // 2, n_blocks // 2
        self.flow_scale = flow_scale
        self.label_encoder = encoder_stack(label_ch, ngf, n_downsample, n_enc, norm)
        self.prev_encoder = encoder_stack(prev_ch, ngf, n_downsample, n_enc, norm)
        self.image_decoder = decoder_stack(ngf, n_downsample, n_dec, norm, upsample)
        self.image_head = conv7_head(ngf, 3)
        self.flow_decoder = decoder_stack(ngf, n_downsample, n_dec, norm, upsample) if use_flow else None
        self.flow_head = conv7_head(ngf, 2) if use_flow else None
        self.mask_head = conv7_head(ngf, 1) if use_flow else None
        self.fg = (GlobalBranch(label_ch, fg_ngf, n_downsample, n_blocks, norm, upsample)
                   if fg_ngf is not None else None)

    def forward(self, labels: torch.Tensor, prev_frames: torch.Tensor,
                codes: OneHotCodes | None = None) -> ScaleHeads:
        """labels (B, n_frames·C, H, W), prev_frames (B, L·3, H, W) -> ScaleHeads at (H, W). With `codes` (the labels
        are one-hot: `label_gather.one_hot_codes`) the label stems gather instead of convolving."""
        label_stems = [self.label_encoder] + ([self.fg.encoder] if self.fg is not None else [])
        encoded = label_stacks(label_stems, labels, codes)
        code = encoded[0] + self.prev_encoder(prev_frames)  # (B, ngf·2^n, H/2^n, W/2^n)
        image_features = self.image_decoder(code)  # (B, ngf, H, W)
        image = torch.tanh(image_logits(self.image_head, self.label_skip, image_features, labels))  # (B, 3, H, W)
        flow = mask = flow_features = None
        if self.flow_decoder is not None and self.flow_head is not None and self.mask_head is not None:
            flow_features = self.flow_decoder(code)  # (B, ngf, H, W)
            flow, mask = flow_and_mask(self.flow_head, self.mask_head, self.flow_scale, flow_features)
        fg_image = fg_features = None
        if self.fg is not None:
            fg_features = self.fg.decoder(encoded[1])  # (B, fg_ngf, H, W)
            fg_image = torch.tanh(self.fg.head(fg_features))  # (B, 3, H, W)
        return ScaleHeads(image, flow, mask, fg_image, image_features, flow_features, fg_features)


class _LocalBranch(nn.Module):
    """Local enhancer head: ResBlocks(2·ngf) + ConvT(2·ngf → ngf); its input is a down-stem sum."""

    def __init__(self, ngf: int, n_blocks: int, norm: NormKind, upsample: UpsampleKind = "transpose") -> None:
        super().__init__()
        self.up = nn.Sequential(res_blocks(2 * ngf, n_blocks, norm), up_block(2 * ngf, ngf, norm, upsample))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(x)  # (B, 2·ngf, H/2, W/2) -> (B, ngf, H, W)


def local_stem(in_ch: int, ngf: int, norm: NormKind) -> nn.Sequential:
    """ReflPad3 Conv7 (→ ngf) and one stride-2 conv (→ 2·ngf): a local enhancer's down stem."""
    return nn.Sequential(conv7_block(in_ch, ngf, norm), down_block(ngf, 2 * ngf, norm))


class CompositeLocalGenerator(nn.Module):
    """A finer scale: label and previous-frame down stems, summed with the coarser scale's features."""

    def __init__(
        self,
        label_ch: int,
        prev_ch: int,
        ngf: int,
        n_blocks: int,
        norm: NormKind,
        fg_ngf: int | None,
        use_flow: bool,
        flow_scale: float,
        upsample: UpsampleKind = "transpose",
        label_skip_channels: int | None = None,
    ) -> None:
        super().__init__()
        self.label_skip = LabelSkip(label_skip_channels) if label_skip_channels is not None else None
        self.flow_scale = flow_scale
        self.label_down = local_stem(label_ch, ngf, norm)
        self.prev_down = local_stem(prev_ch, ngf, norm)
        self.image_up = _LocalBranch(ngf, n_blocks, norm, upsample)
        self.image_head = conv7_head(ngf, 3)
        self.flow_up = _LocalBranch(ngf, n_blocks, norm, upsample) if use_flow else None
        self.flow_head = conv7_head(ngf, 2) if use_flow else None
        self.mask_head = conv7_head(ngf, 1) if use_flow else None
        self.fg_down = local_stem(label_ch, fg_ngf, norm) if fg_ngf is not None else None
        self.fg_up = _LocalBranch(fg_ngf, n_blocks, norm, upsample) if fg_ngf is not None else None
        self.fg_head = conv7_head(fg_ngf, 3) if fg_ngf is not None else None

    def forward(self, labels: torch.Tensor, prev_frames: torch.Tensor, coarse: ScaleHeads,
                codes: OneHotCodes | None = None) -> ScaleHeads:
        """labels (B, n_frames·C, H, W), prev_frames (B, L·3, H, W), coarse at (H/2, W/2) -> ScaleHeads; `codes` as
        for `CompositeGenerator`."""
        label_stems = [self.label_down] + ([self.fg_down] if self.fg_down is not None else [])
        encoded = label_stacks(label_stems, labels, codes)
        down = encoded[0] + self.prev_down(prev_frames)  # (B, 2·ngf, H/2, W/2)
        image_features = self.image_up(down + coarse.image_features)  # (B, ngf, H, W)
        image = torch.tanh(image_logits(self.image_head, self.label_skip, image_features, labels))  # (B, 3, H, W)
        flow = mask = flow_features = None
        if self.flow_up is not None and self.flow_head is not None and self.mask_head is not None:
            if coarse.flow_features is None:
                raise ValueError("the coarser scale produced no flow features")
            flow_features = self.flow_up(down + coarse.flow_features)  # (B, ngf, H, W)
            flow, mask = flow_and_mask(self.flow_head, self.mask_head, self.flow_scale, flow_features)
        fg_image = fg_features = None
        if self.fg_down is not None and self.fg_up is not None and self.fg_head is not None:
            if coarse.fg_features is None:
                raise ValueError("the coarser scale produced no foreground features")
            fg_features = self.fg_up(encoded[1] + coarse.fg_features)  # (B, fg_ngf, H, W)
            fg_image = torch.tanh(self.fg_head(fg_features))  # (B, 3, H, W)
        return ScaleHeads(image, flow, mask, fg_image, image_features, flow_features, fg_features)
