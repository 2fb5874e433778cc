"""Degraded copies of a judge's inputs, and how well a judge reads through them.

A judge trained only on our renderer's clean clips can be flipped by what a generator's frames carry and real clips
never do: faint per-frame pixel noise (temporal flicker) or blur. Measured on the first Weizmann-style action judge:
Gaussian noise of σ 0.05 (about 6 grey levels) on real held-out clips turned every idle clip into "dance" and every
wave into something else, while the person and the action were plain to see. A judge that names flicker instead of
the action does not measure motion control, so judges train on degraded copies too (`degrade`, with a probability)
and their cards carry the held-out accuracy on fixed degradations (`DEGRADED_CHECKS`).

Inputs are images (B, 3, S, S) or clips (B, T, 3, S, S) in [-1, 1]; noise is drawn per frame, blur per item.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

NOISE_STD_MAX = 0.1
"""Training noise: σ drawn uniformly in [0, NOISE_STD_MAX] per item."""
BLUR_SIGMA_RANGE = (0.3, 1.0)
"""Training blur: Gaussian σ (pixels) drawn uniformly in this range per item."""
DEGRADED_CHECKS = {"noise_0.05": ("noise", 0.05), "blur_0.7": ("blur", 0.7)}
"""The fixed degradations a judge's card reports held-out accuracy on."""


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable 5-tap Gaussian blur, one σ per item (replicate padding): x (B, ..., C, S, S), sigma (B,)."""
    b = x.shape[0]
    taps = torch.arange(5, dtype=x.dtype) - 2.0  # (5,)
    kernel = torch.exp(-taps[None] ** 2 / (2 * sigma[:, None].to(x.dtype) ** 2))  # (B, 5)
    kernel = kernel / kernel.sum(1, keepdim=True)
    per_item = x.reshape(b, -1, *x.shape[-2:])  # (B, M·C, S, S): one σ for every frame and channel of an item
    groups = per_item.shape[1]
    planes = per_item.reshape(1, b * groups, *x.shape[-2:])  # (1, B·M·C, S, S)
    weights = kernel.repeat_interleave(groups, 0)  # (B·M·C, 5)
    planes = F.conv2d(F.pad(planes, (2, 2, 0, 0), mode="replicate"), weights[:, None, None, :], groups=b * groups)
    planes = F.conv2d(F.pad(planes, (0, 0, 2, 2), mode="replicate"), weights[:, None, :, None], groups=b * groups)
    return planes.reshape(x.shape)


def add_noise(x: torch.Tensor, std: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """x plus N(0, std²) per pixel (fresh for every frame), one std per item (B,), clamped to [-1, 1]."""
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
    return (x + std.to(x.dtype).view(shape) * noise).clamp(-1, 1)


def degrade(x: torch.Tensor, rng: np.random.Generator, probability: float) -> torch.Tensor:
    """A training batch where each item is, with `probability`, degraded: half of those by pixel noise (σ up to
    `NOISE_STD_MAX`), half by blur (σ in `BLUR_SIGMA_RANGE`); the others pass unchanged."""
    if probability <= 0:
        return x
    b = x.shape[0]
    draw = torch.from_numpy(rng.random(b))  # (B,) which degradation, if any
    noisy, blurred = draw < probability / 2, (draw >= probability / 2) & (draw < probability)
    generator = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
    std = torch.from_numpy(rng.uniform(0, NOISE_STD_MAX, b)).float() * noisy  # (B,) 0 where not noisy
    sigma = torch.from_numpy(rng.uniform(*BLUR_SIGMA_RANGE, b)).float()  # (B,)
    shape = (b,) + (1,) * (x.dim() - 1)
    out = torch.where(blurred.view(shape), gaussian_blur(x, sigma), x)
    return add_noise(out, std, generator) if bool(noisy.any()) else out


def degraded_copy(x: torch.Tensor, check: str, seed: int = 0) -> torch.Tensor:
    """x under one of `DEGRADED_CHECKS` (the same for every item; noise from `seed`)."""
    kind, amount = DEGRADED_CHECKS[check]
    level = torch.full((x.shape[0],), amount)
    if kind == "noise":
        return add_noise(x, level, torch.Generator().manual_seed(seed))
    return gaussian_blur(x, level)
