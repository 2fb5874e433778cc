"""SAVP building blocks (reference §5.1): instance norm, conv-pool / up-conv, ConvLSTM, the latent LSTM cell, CDNA
kernels and symmetric padding, and the truncated-normal initialisation. torch only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class LstmState:
    """Hidden and cell state of one (Conv)LSTM: (B, F) for a vector cell, (B, F, h, w) for a ConvLSTM."""

    h: torch.Tensor
    c: torch.Tensor


def instance_norm(channels: int) -> nn.InstanceNorm2d:
    """IN with a learned scale (initialised by `init_savp_weights` to N(1, 0.02) truncated) and offset; ε 1e-5."""
    return nn.InstanceNorm2d(channels, affine=True, eps=1e-5)


def init_savp_weights(module: nn.Module) -> None:
    """Conv/dense weights ~ truncated N(0, 0.02²) (cut at 2σ), biases 0; IN scale ~ truncated N(1, 0.02²), offset 0."""
    if isinstance(module, nn.Conv2d | nn.Conv3d | nn.Linear):
        nn.init.trunc_normal_(module.weight, 0.0, 0.02, -0.04, 0.04)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.InstanceNorm2d) and module.affine:
        nn.init.trunc_normal_(module.weight, 1.0, 0.02, 0.96, 1.04)
        nn.init.zeros_(module.bias)


def with_latent(x: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
    """x ⊕ z: tile the latent (B, nz) over x's plane and concatenate on channels; x unchanged when nz = 0."""
    if latent.shape[1] == 0:
        return x
    b, _, h, w = x.shape
    return torch.cat([x, latent[:, :, None, None].expand(b, -1, h, w)], 1)  # (B, C + nz, h, w)


class LatentShift(nn.Module):
    """Ours: a per-channel offset W·z_t, added after an instance norm, so that z reaches every pixel. A tiled z
    concatenated before a convolution adds a constant per channel, which the IN that follows subtracts (only the
    zero-padded borders keep a trace of z). It reads z_t itself, not the latent LSTM's z̃_t (whose 0.02-std weights
    give it ~1 % of z's scale at the start), and W starts at N(0, 1/(4·nz)): offsets of std ~0.5 for z ~ N(0, I)
    against maps of unit variance, so z matters from the first step. `init_savp_weights` leaves W alone."""

    def __init__(self, latent_dim: int, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(channels, latent_dim) / (2 * math.sqrt(latent_dim)))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return x + (z @ self.weight.t())[:, :, None, None]  # (B, C, h, w)


def optional_shift(shift_dim: int, channels: int) -> LatentShift | None:
    """A `LatentShift` reading a z of `shift_dim` values, or None when `shift_dim` is 0 (the paper)."""
    return LatentShift(shift_dim, channels) if shift_dim else None


def maybe_shift(shift: LatentShift | None, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """x + the shift of z where the model has one, else x."""
    return x if shift is None else shift(x, z)


class ConvPool(nn.Module):
    """k×k "same" conv (with bias) then 2×2 average pooling: halves H and W."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(x), 2)  # (B, out, H/2, W/2)


class UpConv(nn.Module):
    """Bilinear ×2 upsampling then a k×k "same" conv (with bias): doubles H and W."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))


class ConvLstm(nn.Module):
    """Gates from one bias-free conv over [input ⊕ z, h] and one IN over all 4F maps (plus, with `latent_shift`,
    z's offset); c' = c·σ(f+1) + σ(i)·tanh(j), c' ← IN(c'), h' = tanh(c')·σ(o)."""

    def __init__(self, input_channels: int, features: int, kernel_size: int, shift_dim: int = 0) -> None:
        """`shift_dim`: nz of the gate shift (0: none, the paper)."""
        super().__init__()
        self.features = features
        self.gates = nn.Conv2d(
            input_channels + features, 4 * features, kernel_size, padding=kernel_size // 2, bias=False
        )
        self.gate_norm = instance_norm(4 * features)
        self.gate_shift = optional_shift(shift_dim, 4 * features)
        self.cell_norm = instance_norm(features)

    def zero_state(self, batch: int, height: int, width: int, like: torch.Tensor) -> LstmState:
        zeros = like.new_zeros(batch, self.features, height, width)
        return LstmState(zeros, zeros.clone())

    def forward(self, x: torch.Tensor, state: LstmState, z: torch.Tensor) -> LstmState:
        """`z`: the step's z_t, read only by the gate shift (a model with `latent_shift`)."""
        gates = maybe_shift(self.gate_shift, self.gate_norm(self.gates(torch.cat([x, state.h], 1))), z)  # (B, 4F, h, w)
        i, j, f, o = gates.chunk(4, dim=1)  # each (B, F, h, w)
        c = self.cell_norm(state.c * torch.sigmoid(f + 1.0) + torch.sigmoid(i) * torch.tanh(j))
        return LstmState(torch.tanh(c) * torch.sigmoid(o), c)


class LatentLstm(nn.Module):
    """Vector LSTM over z (nz units, input and recurrent biases, forget bias +1): z_t → z̃_t."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.input = nn.Linear(size, 4 * size)
        self.recurrent = nn.Linear(size, 4 * size)

    def zero_state(self, batch: int, like: torch.Tensor) -> LstmState:
        zeros = like.new_zeros(batch, self.size)
        return LstmState(zeros, zeros.clone())

    def forward(self, z: torch.Tensor, state: LstmState) -> LstmState:
        i, j, f, o = (self.input(z) + self.recurrent(state.h)).chunk(4, dim=1)  # each (B, nz)
        c = state.c * torch.sigmoid(f + 1.0) + torch.sigmoid(i) * torch.tanh(j)
        return LstmState(torch.tanh(c) * torch.sigmoid(o), c)


def _centre_tap(size: int, like: torch.Tensor) -> torch.Tensor:
    """(k, k) zeros with a 1 at the centre."""
    identity = torch.zeros(size, size, dtype=like.dtype, device=like.device)
    identity[size // 2, size // 2] = 1.0
    return identity


def normalise_cdna_kernels(raw: torch.Tensor, mode: str = "relu") -> torch.Tensor:
    """raw (B, K, k, k) dense outputs → kernels (B, K, k, k), each positive and summing to 1.

    `relu` (the paper): identity added at the centre, ReLU, divided by the sum; a tap pushed below zero gets no
    gradient again. `softmax` (ours): softmax over the k² taps with a centre logit bias of ln(k² - 1), so that zero
    outputs give half the mass to the centre and every tap keeps a gradient.
    """
    size = raw.shape[-1]
    identity = _centre_tap(size, raw)
    if mode == "softmax":
        logits = raw + math.log(size * size - 1) * identity  # (B, K, k, k)
        return torch.softmax(logits.flatten(2), dim=2).view_as(raw)
    kernels = torch.relu(raw + identity - 1e-12) + 1e-12
    return kernels / kernels.sum(dim=(2, 3), keepdim=True)  # (B, K, k, k)


def symmetric_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Mirror padding that repeats the edge pixel (TF "SYMMETRIC"), on the last two axes."""
    x = torch.cat([x[..., :pad].flip(-1), x, x[..., -pad:].flip(-1)], dim=-1)
    return torch.cat([x[..., :pad, :].flip(-2), x, x[..., -pad:, :].flip(-2)], dim=-2)


def apply_cdna(image: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Filter image (B, C, H, W) by each of its own K kernels (B, K, k, k), one filter for all colour channels."""
    b, c, h, w = image.shape
    k, size = kernels.shape[1], kernels.shape[-1]
    padded = symmetric_pad(image, size // 2).reshape(1, b * c, h + size - 1, w + size - 1)
    weight = kernels[:, None].expand(b, c, k, size, size).reshape(b * c * k, 1, size, size)
    out = F.conv2d(padded, weight, groups=b * c)  # (1, B·C·K, H, W)
    return out.view(b, c, k, h, w).transpose(1, 2)  # (B, K, C, H, W)
