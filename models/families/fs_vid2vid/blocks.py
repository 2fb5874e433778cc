"""Building blocks of the few-shot vid2vid generator (reference §3.3-3.6): spectral-norm conv blocks, per-sample
("generated") 1x1 convolutions, SPADE with learned or generated modulation, the SPADE ResBlock of the main branch and
the label embedders (encoder-decoder with generated decoder layers, and the UNet used for SPADE combine). torch only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

SpadeNorm = Literal["batch", "instance"]
UpsampleMode = Literal["nearest", "bilinear"]
LRELU_SLOPE = 0.2


def upsample_2x(x: torch.Tensor, mode: UpsampleMode) -> torch.Tensor:
    """(B, C, h, w) -> (B, C, 2h, 2w): the reference's nearest, or bilinear with half-pixel centres (ours)."""
    if mode == "bilinear":
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


SN_INIT_GAIN = 1.0
"""Xavier-normal gain of the weights under spectral norm. The reference uses 0.02, but under SN the scale of the stored
weight does not change the function (W / sigma(W)); it only sets how far one Adam step (about lr per element) moves
the direction of W. With gain 0.02 the elements are ~1e-3, so a step at lr 2e-4..1e-3 rewrites 20-100 % of every
weight and training is chaotic (few-shot overfit PSNR fell); gain 1 makes a step a ~1 % change."""


def sn(layer: nn.Conv2d | nn.Linear) -> nn.Module:
    """Xavier-normal init (gain `SN_INIT_GAIN`), zero bias, then spectral normalisation."""
    nn.init.xavier_normal_(layer.weight, gain=SN_INIT_GAIN)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return spectral_norm(layer)


def sn_conv(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, bias: bool = True) -> nn.Module:
    """Spectral-norm Conv2d with 'same' padding (halves H and W when stride is 2)."""
    return sn(nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=bias))


PLAIN_INIT_GAIN = 1.0
"""Xavier-normal gain of convolutions without spectral norm. The reference initialises every layer with gain 0.02;
without spectral norm that leaves conv_img and the SPADE modulation near zero, and a fresh model fine-tunes or trains
from an almost constant output (measured: 20 fine-tuning steps lowered the reference error 1 % instead of > 3 %)."""


def conv(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, bias: bool = True,
         spectral: bool = True) -> nn.Module:
    """`sn_conv`, or (spectral=False) a plain Conv2d: 'same' padding, Xavier-normal `PLAIN_INIT_GAIN`, zero bias:
    the reference leaves the label embedding, the warped-image embeddings, SPADE's γ/β convs, conv_img and the flow
    network's heads without spectral norm."""
    if spectral:
        return sn_conv(in_ch, out_ch, kernel, stride, bias)
    layer = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=bias)
    nn.init.xavier_normal_(layer.weight, gain=PLAIN_INIT_GAIN)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def norm_layer(norm: SpadeNorm, channels: int, affine: bool = True) -> nn.Module:
    """BatchNorm2d (the reference, SyncBN over a large batch) or InstanceNorm2d (no running statistics: training
    with batch 1 normalises exactly as serving does; BN in train mode with one sample is this same per-sample norm,
    but serves with running averages that lag behind it)."""
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=affine)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=affine)
    raise ValueError(f"unknown norm {norm!r}; valid: batch, instance")


def conv_bn_act(in_ch: int, out_ch: int, stride: int = 1, norm: SpadeNorm = "batch", bias: bool = True
                ) -> nn.Sequential:
    """SN-Conv3x3 + affine norm + LeakyReLU(0.2): the reference encoder, attention and flow-net block (the flow
    network's have no conv bias in the reference)."""
    return nn.Sequential(sn_conv(in_ch, out_ch, 3, stride, bias), norm_layer(norm, out_ch), nn.LeakyReLU(LRELU_SLOPE))


def batch_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """One convolution per sample, as a single grouped conv over the batch.

    Args:
        x: (B, Cin, H, W).
        weight: (B, Cout, Cin, k, k), a different kernel for each sample.
        bias: (B, Cout).
    Returns:
        (B, Cout, H, W) ('same' padding).
    """
    b, c_in, h, w = x.shape
    c_out, k = weight.shape[1], weight.shape[-1]
    out = F.conv2d(x.reshape(1, b * c_in, h, w), weight.reshape(b * c_out, c_in, k, k), bias.reshape(b * c_out),
                   padding=k // 2, groups=b)  # (1, B*Cout, H, W)
    return out.view(b, c_out, h, w)


@dataclass
class GeneratedConv:
    """Per-sample 1x1 conv weights made by the weight generator."""

    weight: torch.Tensor  # (B, Cout, Cin)
    bias: torch.Tensor  # (B, Cout)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return batch_conv2d(x, self.weight[..., None, None], self.bias)  # (B, Cout, H, W)


class Modulation(nn.Module):
    """Learned SPADE modulation for one conditioning map: γ and β as Conv1x1 (map channels -> channels), plain as in
    the reference or (legacy layout) spectral-normed."""

    def __init__(self, map_channels: int, channels: int, spectral: bool = False) -> None:
        super().__init__()
        self.mlp_gamma = conv(map_channels, channels, 1, spectral=spectral)
        self.mlp_beta = conv(map_channels, channels, 1, spectral=spectral)

    def forward(self, segmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mlp_gamma(segmap), self.mlp_beta(segmap)  # γ, β: (B, C, H, W) each, never concatenated


class SPADE(nn.Module):
    """Parameter-free norm, then `out = out * (1 + γ(map)) + β(map)` for each conditioning map in turn.

    The first map is the label embedding: its γ/β convs are learned, or generated per sample (`generated_first`).
    The `n_extra` following maps (warped reference, warped previous frame: SPADE combine) always use learned convs.
    """

    def __init__(self, channels: int, map_channels: int, generated_first: bool, n_extra: int, norm: SpadeNorm,
                 spectral: bool = False) -> None:
        super().__init__()
        self.norm = norm_layer(norm, channels, affine=False)
        self.generated_first = generated_first
        self.first = None if generated_first else Modulation(map_channels, channels, spectral)
        self.extra = nn.ModuleList([Modulation(map_channels, channels, spectral) for _ in range(n_extra)])

    def forward(self, x: torch.Tensor, segmap: torch.Tensor, extra: Sequence[torch.Tensor | None] = (),
                generated: GeneratedConv | None = None) -> torch.Tensor:
        """x (B, C, H, W); maps at x's resolution (else nearest-resized); `extra[j]` None = map absent."""
        out = self.norm(x)  # (B, C, H, W)
        if self.first is not None:
            gamma, beta = self.first(_fit(segmap, x))  # (B, C, H, W) each
        elif generated is not None:
            gamma, beta = generated(_fit(segmap, x)).chunk(2, dim=1)  # one batched conv: (B, 2C, H, W) -> views
        else:
            raise ValueError("this SPADE layer needs generated weights")
        out = _modulate(out, gamma, beta)
        for modulation, segmap_j in zip(self.extra, extra, strict=False):
            if segmap_j is not None:
                out = _modulate(out, *modulation(_fit(segmap_j, x)))
        return out


def _fit(segmap: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if segmap.shape[-2:] == x.shape[-2:]:
        return segmap
    return F.interpolate(segmap, size=x.shape[-2:], mode="nearest")


def _modulate(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    return x * (1 + gamma) + beta  # (B, C, H, W)


@dataclass
class BlockWeights:
    """Generated SPADE weights of one adaptive main-branch block (γ and β stacked along Cout)."""

    norm_0: GeneratedConv  # (B, 2*fin, map_ch)
    norm_1: GeneratedConv  # (B, 2*fmid, map_ch)
    norm_s: GeneratedConv | None  # (B, 2*fin, map_ch); None when the block has no learned shortcut


class SPADEResBlock(nn.Module):
    """Main-branch block: SN convs with SPADE before each, hidden width min(fin, fout), learned shortcut if fin != fout.

    out = shortcut(x) + conv_1(lrelu(norm_1(conv_0(lrelu(norm_0(x)))))), shortcut = conv_s(norm_s(x)) or x.
    """

    def __init__(self, fin: int, fout: int, map_channels: int, generated: bool, n_extra: int,
                 norm: SpadeNorm, spectral_modulation: bool = False) -> None:
        super().__init__()
        fmid = min(fin, fout)
        self.learned_shortcut = fin != fout
        self.conv_0 = sn_conv(fin, fmid)
        self.conv_1 = sn_conv(fmid, fout)
        self.norm_0 = SPADE(fin, map_channels, generated, n_extra, norm, spectral_modulation)
        self.norm_1 = SPADE(fmid, map_channels, generated, n_extra, norm, spectral_modulation)
        if self.learned_shortcut:
            self.conv_s = sn_conv(fin, fout, 1, bias=False)
            self.norm_s = SPADE(fin, map_channels, generated, n_extra, norm, spectral_modulation)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor, extra: Sequence[torch.Tensor | None] = (),
                weights: BlockWeights | None = None) -> torch.Tensor:
        w0, w1, ws = (weights.norm_0, weights.norm_1, weights.norm_s) if weights is not None else (None, None, None)
        if self.learned_shortcut:
            x_s = self.conv_s(self.norm_s(x, segmap, extra, ws))  # (B, fout, H, W)
        else:
            x_s = x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, segmap, extra, w0), LRELU_SLOPE))  # (B, fmid, H, W)
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, segmap, extra, w1), LRELU_SLOPE))  # (B, fout, H, W)
        return x_s + dx


class LabelEmbedder(nn.Module):
    """Multi-scale embedding of a label map (or of cat(warped image, mask)), reference §3.5.

    Encoder: Conv3x3(in -> ch[0]) + LReLU, then stride-2 Conv3x3 + LReLU (ch[i] -> ch[i+1]). Decoder: nearest x2 +
    conv + LReLU (ch[i+1] -> ch[i]); 'unet' concatenates the encoder feature of the same scale before upsampling
    (except at the bottleneck). The `n_generated` finest decoder layers have no weights of their own: they take
    per-sample 1x1 convs from the weight generator. No norm layers; plain convs as in the reference (`spectral`:
    the legacy layout's spectral norm).
    Returns one map per scale, finest first: [ch[0] @ H, ch[1] @ H/2, ..., ch[n] @ H/2^n].
    """

    def __init__(self, in_channels: int, ch: Sequence[int], arch: Literal["encoderdecoder", "unet"],
                 n_generated: int = 0, spectral: bool = False, upsample: UpsampleMode = "nearest") -> None:
        super().__init__()
        self.upsample = upsample
        if arch == "unet" and n_generated:
            raise ValueError("generated decoder layers are only supported by the encoder-decoder embedder")
        n = len(ch) - 1
        self.arch = arch
        self.n_generated = n_generated
        self.conv_first = conv(in_channels, ch[0], spectral=spectral)
        self.down = nn.ModuleList([conv(ch[i], ch[i + 1], 3, 2, spectral=spectral) for i in range(n)])
        self.up = nn.ModuleDict()
        for i in range(n_generated, n):
            skip = arch == "unet" and i < n - 1
            self.up[str(i)] = conv(ch[i + 1] * (2 if skip else 1), ch[i], spectral=spectral)

    def forward(self, x: torch.Tensor, generated: Sequence[GeneratedConv] = ()) -> list[torch.Tensor]:
        """x (B, Cin, H, W); generated[i] = the decoder conv of scale i < n_generated."""
        encoded = [F.leaky_relu(self.conv_first(x), LRELU_SLOPE)]  # [(B, ch[0], H, W)]
        for down in self.down:
            encoded.append(F.leaky_relu(down(encoded[-1]), LRELU_SLOPE))  # (B, ch[i+1], H/2^(i+1), W/2^(i+1))
        n = len(self.down)
        decoded: list[torch.Tensor] = [encoded[n]]  # coarsest first while building
        for i in reversed(range(n)):
            y = decoded[-1]
            if self.arch == "unet" and i < n - 1:
                y = torch.cat([y, encoded[i + 1]], dim=1)  # (B, 2*ch[i+1], h, w)
            y = upsample_2x(y, self.upsample)  # (B, *, 2h, 2w)
            conv = generated[i] if i < self.n_generated else self.up[str(i)]
            decoded.append(F.leaky_relu(conv(y), LRELU_SLOPE))  # (B, ch[i], H/2^i, W/2^i)
        return decoded[::-1]
