"""VGAN's decomposition checks (reference §9.3, targets in video-families-data-and-metrics.md §10.4): how much of a
clip the foreground mask claims, and whether it claims the pixels that move. torch only.

- mask mean: mean of m over every element (target on a static-camera corpus: within [0.05, 0.5]);
- motion IoU: IoU between {m > 0.5} and {|x_t - x_{t-1}| > tau} (mean over colour) over frames t >= 1, pooled over
  the batch (target >= 0.3). The moving pixels come from the composed video itself, so a model whose mask covers
  the whole frame scores the share of moving pixels, and one whose mask misses the motion scores near 0.
"""

from __future__ import annotations

import torch

from models.families.vgan.networks import VGANOutput

MOTION_THRESHOLD = 0.1
"""tau: a pixel moves when its mean absolute colour change to the previous frame exceeds this (video in [-1, 1])."""


def moving_pixels(video: torch.Tensor, threshold: float = MOTION_THRESHOLD) -> torch.Tensor:
    """(B, C, T, H, W) in [-1, 1] -> (B, T - 1, H, W) bool: pixels that changed since the previous frame."""
    return (video[:, :, 1:] - video[:, :, :-1]).abs().mean(dim=1) > threshold  # (B, T-1, H, W)


def mask_checks(out: VGANOutput, threshold: float = MOTION_THRESHOLD) -> dict[str, float]:
    """{"mask_mean", "motion_iou", "moving_share"} of a batch of generator outputs (moving_share: the fraction of
    pixels that move, the IoU of an all-foreground mask)."""
    moving = moving_pixels(out.video.float(), threshold)  # (B, T-1, H, W)
    claimed = out.mask.float()[:, 0, 1:] > 0.5  # (B, T-1, H, W)
    union = (moving | claimed).sum()
    iou = float((moving & claimed).sum() / union) if union > 0 else 0.0
    share = float(moving.float().mean())
    return {"mask_mean": float(out.mask.float().mean()), "motion_iou": iou, "moving_share": share}
