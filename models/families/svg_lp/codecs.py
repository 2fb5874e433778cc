"""SVG frame encoders and decoders (reference §4.2 "DCGAN-64" and §4.3 "VGG-64"). torch only.

An encoder maps a frame (B, C, H, W) in [0, 1] to a code (B, g) in [-1, 1] (tanh) plus one skip map per
resolution; a decoder maps (code, skips) back to a frame in [0, 1] (sigmoid).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.core.extensions import ZeroInitExtension
from models.families.svg_lp.config import SvgLpConfig


@dataclass
class EncodedFrame:
    """Encoder output: the frame code and the skip maps, finest resolution first."""

    code: torch.Tensor  # (B, g)
    skips: tuple[torch.Tensor, ...]  # s1 (B, w0, H/2, W/2) ... for dcgan; s1 (B, w0, H, W) ... for vgg


def init_svg_weights(module: nn.Module) -> None:
    """Conv/ConvT/Linear weights ~ N(0, 0.02²), biases 0; BatchNorm γ ~ N(1, 0.02²), β 0. LSTM cells untouched."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _conv_bn_lrelu(conv: nn.Module, channels: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm2d(channels), nn.LeakyReLU(0.2, inplace=True))


def _vgg(in_channels: int, out_channels: int) -> nn.Sequential:
    """Conv2d 3×3 s1 p1 → BN → LReLU(0.2)."""
    return _conv_bn_lrelu(nn.Conv2d(in_channels, out_channels, 3, 1, 1), out_channels)


class DcganEncoder(nn.Module):
    """One 4×4 stride-2 conv per width (each a skip), then a conv over the whole remaining map to g×1×1."""

    def __init__(self, config: SvgLpConfig) -> None:
        super().__init__()
        widths = (config.image_channels, *config.codec_widths)
        self.downs = nn.ModuleList(
            _conv_bn_lrelu(nn.Conv2d(c_in, c_out, 4, 2, 1), c_out)
            for c_in, c_out in zip(widths, widths[1:], strict=False)
        )
        final_size = config.image_size // 2 ** len(config.codec_widths)
        self.head = nn.Sequential(
            nn.Conv2d(widths[-1], config.frame_dim, final_size, 1, 0), nn.BatchNorm2d(config.frame_dim), nn.Tanh()
        )

    def forward(self, frame: torch.Tensor) -> EncodedFrame:
        skips = []
        x = frame  # (B, C, H, W)
        for down in self.downs:
            x = down(x)  # (B, w_k, H/2^(k+1), W/2^(k+1))
            skips.append(x)
        return EncodedFrame(code=self.head(x).flatten(1), skips=tuple(skips))  # code (B, g)


class FullResolutionRefinement(ZeroInitExtension):
    """Ours (not in the paper): a 4×4 stride-2 ConvT from the decoder's last input to `channels` maps at full
    resolution, a 3×3 conv, and a zero-initialised 3×3 conv to a correction of the output logits. The paper's
    last layer draws each output pixel from a 2×2 window of half-resolution features; at 32×32, where a digit's
    stroke is one or two pixels wide, that layer alone draws soft strokes."""

    def __init__(self, in_channels: int, channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ConvTranspose2d(in_channels, channels, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
        )
        self.correction = nn.Conv2d(channels, out_channels, 3, 1, 1)

    def zero_output(self) -> None:
        nn.init.zeros_(self.correction.weight)
        nn.init.zeros_(self.correction.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.correction(self.body(features))  # (B, C, 2h, 2w) logit correction


class DcganDecoder(nn.Module):
    """ConvT g → last width over the small map, then 4×4 stride-2 ConvTs on [features, skip] back to the frame
    (plus, with `refine_channels`, our full-resolution refinement of the last layer's logits)."""

    def __init__(self, config: SvgLpConfig) -> None:
        super().__init__()
        widths = config.codec_widths
        final_size = config.image_size // 2 ** len(widths)
        self.stem = _conv_bn_lrelu(nn.ConvTranspose2d(config.frame_dim, widths[-1], final_size, 1, 0), widths[-1])
        ups: list[nn.Module] = []
        for level in range(len(widths) - 1, 0, -1):
            ups.append(
                _conv_bn_lrelu(nn.ConvTranspose2d(2 * widths[level], widths[level - 1], 4, 2, 1), widths[level - 1])
            )
        self.ups = nn.ModuleList(ups)
        # the last layer's logits; a Sequential so that its tensors keep the shipped names (out.0.*)
        self.out = nn.Sequential(nn.ConvTranspose2d(2 * widths[0], config.image_channels, 4, 2, 1))
        self.refine = (FullResolutionRefinement(2 * widths[0], config.refine_channels, config.image_channels)
                       if config.refine_channels else None)

    def forward(self, code: torch.Tensor, skips: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x = self.stem(code[:, :, None, None])  # (B, w_last, s, s)
        for up, skip in zip(self.ups, reversed(skips[1:]), strict=True):
            x = up(torch.cat([x, skip], 1))  # doubles H and W
        x = torch.cat([x, skips[0]], 1)  # (B, 2 w0, H/2, W/2)
        logits = self.out(x)  # (B, C, H, W)
        if self.refine is not None:
            logits = logits + self.refine(x)
        return torch.sigmoid(logits)  # (B, C, H, W) in [0, 1]


_VGG_BLOCKS = (2, 2, 3, 3)  # vgg blocks per resolution in the VGG-64 encoder


class VggEncoder(nn.Module):
    """VGG-64: blocks of 3×3 convs at 64², 32², 16², 8² (each stage's output a skip), then 4×4 conv to g×1×1."""

    def __init__(self, config: SvgLpConfig) -> None:
        super().__init__()
        stages: list[nn.Module] = []
        c_in = config.image_channels
        for width, blocks in zip(config.codec_widths, _VGG_BLOCKS, strict=True):
            stages.append(nn.Sequential(*(_vgg(c_in if i == 0 else width, width) for i in range(blocks))))
            c_in = width
        self.stages = nn.ModuleList(stages)
        self.head = nn.Sequential(
            nn.Conv2d(c_in, config.frame_dim, 4, 1, 0), nn.BatchNorm2d(config.frame_dim), nn.Tanh()
        )

    def forward(self, frame: torch.Tensor) -> EncodedFrame:
        skips = []
        x = frame  # (B, C, 64, 64)
        for index, stage in enumerate(self.stages):
            if index > 0:
                x = F.max_pool2d(x, 2)
            x = stage(x)  # (B, w_k, 64/2^k, 64/2^k)
            skips.append(x)
        return EncodedFrame(code=self.head(F.max_pool2d(x, 2)).flatten(1), skips=tuple(skips))  # code (B, g)


class VggDecoder(nn.Module):
    """Mirror of VGG-64: ConvT to 4², then nearest ×2 + concat skip + vgg blocks per stage, ConvT 3×3 + sigmoid."""

    def __init__(self, config: SvgLpConfig) -> None:
        super().__init__()
        w0, w1, w2, w3 = config.codec_widths
        self.stem = _conv_bn_lrelu(nn.ConvTranspose2d(config.frame_dim, w3, 4, 1, 0), w3)
        self.stages = nn.ModuleList(
            [
                nn.Sequential(_vgg(2 * w3, w3), _vgg(w3, w3), _vgg(w3, w2)),  # 8²
                nn.Sequential(_vgg(2 * w2, w2), _vgg(w2, w2), _vgg(w2, w1)),  # 16²
                nn.Sequential(_vgg(2 * w1, w1), _vgg(w1, w0)),  # 32²
                nn.Sequential(_vgg(2 * w0, w0)),  # 64²
            ]
        )
        self.out = nn.Sequential(nn.ConvTranspose2d(w0, config.image_channels, 3, 1, 1), nn.Sigmoid())

    def forward(self, code: torch.Tensor, skips: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x = self.stem(code[:, :, None, None])  # (B, w3, 4, 4)
        for stage, skip in zip(self.stages, reversed(skips), strict=True):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = stage(torch.cat([x, skip], 1))
        return self.out(x)  # (B, C, 64, 64) in [0, 1]


def build_codec(config: SvgLpConfig) -> tuple[nn.Module, nn.Module]:
    """(encoder, decoder) for `config.codec`, initialised as the reference says."""
    if config.codec == "dcgan":
        encoder, decoder = DcganEncoder(config), DcganDecoder(config)
    else:
        encoder, decoder = VggEncoder(config), VggDecoder(config)
    encoder.apply(init_svg_weights)
    decoder.apply(init_svg_weights)
    if isinstance(decoder, DcganDecoder) and decoder.refine is not None:
        decoder.refine.zero_output()  # after the N(0, 0.02²) draw above: the extension starts as a no-op
    return encoder, decoder
