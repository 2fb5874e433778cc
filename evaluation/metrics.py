"""Quality metrics: PSNR, SSIM and the temporal warping error with ground-truth flow.

Inputs are either uint8 RGB arrays (H, W, 3) / (N, H, W, 3) or float tensors in [-1, 1] (3, H, W) / (B, 3, H, W);
everything is converted to [0, 255] floats first, so both give the same numbers. SSIM follows Wang et al. 2004:
11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, L = 255, 'valid' windows, averaged over channels and
positions. The warping error is the mean |x_t - warp(x_{t-1}, flow_t)| in [0, 1] intensity units over pixels that
are visible in both frames: the flow target lies inside the image and the *ground truth* itself is consistent
there (|gt_t - warp(gt_{t-1})| averaged over channels < 0.05: the occlusion/confidence idea of vid2vid). The same
mask is used for the generated video and for the ground truth, so the two numbers compare directly.
`masked_warping_sum` takes an explicit mask instead (labels-only data: visibility from the label maps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from models.core.image_metrics import psnr, ssim, to_unit_tensor
from models.core.warp import warp

__all__ = ["OCCLUSION_THRESHOLD", "WarpingErrorMeter", "psnr", "ssim", "to_unit_tensor"]

OCCLUSION_THRESHOLD = 0.05


def _flow_tensor(flow: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(H, W, 2) array or (2, H, W) / (B, 2, H, W) tensor -> (B, 2, H, W) float64."""
    if isinstance(flow, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float64))
        t = t.unsqueeze(0) if t.ndim == 3 else t
        return t.permute(0, 3, 1, 2)
    t = flow.detach().double().cpu()
    return t.unsqueeze(0) if t.ndim == 3 else t


def inside_mask(flow: torch.Tensor) -> torch.Tensor:
    """(B, 2, H, W) flow -> (B, H, W) bool: the flow target p + flow(p) lies inside the image."""
    _, _, h, w = flow.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=flow.dtype), torch.arange(w, dtype=flow.dtype), indexing="ij")
    tx, ty = xs + flow[:, 0], ys + flow[:, 1]
    return (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)


def warp_residual(prev: np.ndarray | torch.Tensor, cur: np.ndarray | torch.Tensor,
                  flow: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(B, H, W) channel-mean |cur - warp(prev, flow)| in [0, 1] units."""
    x0, x1 = to_unit_tensor(prev) / 255.0, to_unit_tensor(cur) / 255.0
    return (x1 - warp(x0, _flow_tensor(flow))).abs().mean(1)


def visible_mask(gt_prev: np.ndarray | torch.Tensor, gt_cur: np.ndarray | torch.Tensor,
                 flow: np.ndarray | torch.Tensor, threshold: float = OCCLUSION_THRESHOLD) -> torch.Tensor:
    """(B, H, W) bool: pixels where the ground truth agrees with its own warped previous frame (not occluded)."""
    return inside_mask(_flow_tensor(flow)) & (warp_residual(gt_prev, gt_cur, flow) < threshold)


def warping_error(prev: np.ndarray | torch.Tensor, cur: np.ndarray | torch.Tensor, flow: np.ndarray | torch.Tensor,
                  mask: torch.Tensor | None = None) -> float:
    """Mean |cur - warp(prev, flow)| (in [0, 1] units) over `mask` (default: flow target inside the image)."""
    residual = warp_residual(prev, cur, flow)
    valid = inside_mask(_flow_tensor(flow)) if mask is None else mask
    return float(residual[valid].mean()) if bool(valid.any()) else math.nan


def masked_warping_sum(prev: np.ndarray | torch.Tensor, cur: np.ndarray | torch.Tensor,
                       flow: np.ndarray | torch.Tensor, mask: torch.Tensor) -> tuple[float, int]:
    """Sum of |cur - warp(prev, flow)| (channel mean, [0, 1] units) over an explicit (B, H, W) bool `mask`, and the
    number of pixels in it: a pixel-weighted warping error over many frame pairs is sum(sums) / sum(counts)."""
    residual = warp_residual(prev, cur, flow)  # (B, H, W)
    return float(residual[mask].sum()), int(mask.sum())


@dataclass
class WarpingErrorMeter:
    """Streaming temporal warping error of a generated video and of its ground truth, frame pair by frame pair."""

    threshold: float = OCCLUSION_THRESHOLD
    generated_sum: float = 0.0
    truth_sum: float = 0.0
    pixels: int = 0
    pairs: int = 0
    per_pair: list[float] = field(default_factory=list)

    def update(self, gen_prev: np.ndarray | torch.Tensor, gen_cur: np.ndarray | torch.Tensor,
               gt_prev: np.ndarray | torch.Tensor, gt_cur: np.ndarray | torch.Tensor,
               flow: np.ndarray | torch.Tensor) -> None:
        mask = visible_mask(gt_prev, gt_cur, flow, self.threshold)
        n = int(mask.sum())
        if n == 0:
            return
        gen = warp_residual(gen_prev, gen_cur, flow)[mask]
        gt = warp_residual(gt_prev, gt_cur, flow)[mask]
        self.generated_sum += float(gen.sum())
        self.truth_sum += float(gt.sum())
        self.pixels += n
        self.pairs += 1
        self.per_pair.append(float(gen.mean()))

    def result(self) -> dict[str, float]:
        """{"generated": ..., "ground_truth": ..., "pairs": ...}; pixel-weighted means in [0, 1] units."""
        if self.pixels == 0:
            return {"generated": math.nan, "ground_truth": math.nan, "pairs": 0}
        return {"generated": self.generated_sum / self.pixels, "ground_truth": self.truth_sum / self.pixels,
                "pairs": self.pairs}
