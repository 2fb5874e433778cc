"""Per-image metrics for the predict protocol, batched: SSIM and PSNR of many frame pairs at once (the same
definitions as `models.core.image_metrics`, which the worker scores jobs with: [0, 255] floats, 11×11 Gaussian
window σ 1.5, K1 0.01, K2 0.03, valid windows, mean over channels and positions), the gradient-magnitude sharpness
and the pairwise diversity of samples (reference §9.1).
"""

from __future__ import annotations

import math

import numpy as np
import torch

PSNR_CAP = 99.0
"""dB given to an exact match (the worker's cap too), so means stay finite."""


def as_unit(frames: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> (N, 3, H, W) float64 in [0, 255]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).double().permute(0, 3, 1, 2)


def _window(size: int, sigma: float) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()  # (size,)


def _band(length: int, g: torch.Tensor) -> torch.Tensor:
    """(length - k + 1, length) matrix whose rows hold the window `g` (k taps) at each valid offset."""
    k = g.shape[0]
    band = torch.zeros(length - k + 1, length, dtype=g.dtype)
    for i in range(length - k + 1):
        band[i, i:i + k] = g
    return band


def ssim_per_image(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """(N, C, H, W) [0, 255] pairs -> (N,) SSIM of each pair. The separable Gaussian blur is two banded matrix
    products (valid windows), far faster on the CPU than many small convolutions, in float64."""
    h, w = x.shape[-2:]
    size = min(window, h, w)
    g = _window(size, sigma)
    rows, cols = _band(h, g), _band(w, g)  # (H', H), (W', W)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return rows @ t @ cols.T  # (N, C, H', W')

    x, y = x.double(), y.double()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3))  # (N,)


def psnr_per_image(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) [0, 255] pairs -> (N,) PSNR in dB (peak 255), an exact match capped at `PSNR_CAP`."""
    mse = ((x - y) ** 2).mean(dim=(1, 2, 3))  # (N,)
    out = 10.0 * torch.log10(255.0**2 / mse.clamp_min(1e-12))
    return out.clamp(max=PSNR_CAP)


def gradient_magnitude(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N,) mean |∇x| by forward differences (sqrt(dx² + dy²) over the shared pixels)."""
    dx = x[:, :, :-1, 1:] - x[:, :, :-1, :-1]  # (N, C, H-1, W-1)
    dy = x[:, :, 1:, :-1] - x[:, :, :-1, :-1]
    return torch.sqrt(dx**2 + dy**2).mean(dim=(1, 2, 3))


def pairwise_ssim(samples: torch.Tensor) -> float:
    """Mean SSIM between samples (S, C, H, W) [0, 255] over the S pairs (i, i+1 mod S) (one pair for S = 2; nan
    for S < 2). Samples are i.i.d., so this is an unbiased estimate of the mean over all S(S-1)/2 pairs at a cost
    linear in S."""
    s = samples.shape[0]
    if s < 2:
        return math.nan
    i = torch.arange(s if s > 2 else 1)
    return float(ssim_per_image(samples[i], samples[(i + 1) % s]).mean())
