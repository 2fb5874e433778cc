"""Image quality metrics every layer can use (the worker scores predictions with them, `v2v eval` everything):
PSNR and SSIM on uint8 RGB arrays (H, W, 3) / (N, H, W, 3) or float tensors in [-1, 1] (3, H, W) / (B, 3, H, W);
both are converted to [0, 255] floats first, so they give the same numbers. SSIM follows Wang et al. 2004: 11x11
Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, L = 255, 'valid' windows, averaged over channels and positions.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def to_unit_tensor(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (H, W, 3) / (N, H, W, 3) or [-1, 1] (3, H, W) / (B, 3, H, W) -> (B, 3, H, W) float64 in [0, 255]."""
    if isinstance(image, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(image)).double()
        t = t.unsqueeze(0) if t.ndim == 3 else t
        return t.permute(0, 3, 1, 2)
    t = image.detach().double().cpu()
    t = t.unsqueeze(0) if t.ndim == 3 else t
    return (t.clamp(-1, 1) + 1) * 127.5


def psnr(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB (peak 255); inf for identical images."""
    x, y = to_unit_tensor(a), to_unit_tensor(b)
    mse = float(((x - y) ** 2).mean())
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def _gaussian_1d(size: int, sigma: float) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()  # (size,); the 2-D window is its outer product (separable)


def ssim(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, window: int = 11, sigma: float = 1.5) -> float:
    """Structural similarity (mean over channels, windows and the batch); 1.0 for identical images."""
    x, y = to_unit_tensor(a), to_unit_tensor(b)
    c = x.shape[1]
    size = min(window, x.shape[2], x.shape[3])
    g = _gaussian_1d(size, sigma)
    row, col = g.view(1, 1, 1, size).expand(c, 1, 1, size), g.view(1, 1, size, 1).expand(c, 1, size, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, row, groups=c), col, groups=c)  # valid windows, separable Gaussian

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cov = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())
