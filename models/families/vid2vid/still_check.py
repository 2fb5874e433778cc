"""The still check (ours, no weights: `Vid2VidConfig.still_check`): where the label edges did not move, the previous
frame is taken where it was, whatever the flow network says.

On label clips drawn by hand (flat polygons, a still camera) our flow network puts 0.6–3 px per frame of motion on
the static background, and the warped previous frame slides. The labels can tell: around a pixel, if the previous
label map *unmoved* agrees with the current one at least as well as the previous map moved by the predicted flow,
nothing there moved and the zero flow explains the labels. Compared in a window, so that flat interiors borrow the
verdict of the edges around them; a pixel whose window holds no edge keeps the predicted flow. One-hot labels only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _window_mean(x: torch.Tensor, k: int) -> torch.Tensor:
    """Mean over a k×k window (k odd) at every pixel, ignoring the padding; (B, 1, H, W) -> (B, 1, H, W)."""
    return F.avg_pool2d(x, k, 1, k // 2, count_include_pad=False)


def still_weight(prev_labels: torch.Tensor, labels: torch.Tensor, warped_prev_labels: torch.Tensor,
                 window: float) -> torch.Tensor:
    """prev_labels, labels, warped_prev_labels (B, C, H, W) one-hot -> (B, 1, H, W) in [0, 1]: 1 where the unmoved
    previous labels explain the current ones at least as well as the warped ones, in a window of `window` · H px
    with at least one label change or misfit in it; a short ramp at the region's border."""
    k = max(3, round(window * labels.shape[-2])) | 1
    miss_still = 1 - (prev_labels * labels).sum(1, keepdim=True).clamp(0, 1)  # (B, 1, H, W)
    miss_warped = 1 - (warped_prev_labels * labels).sum(1, keepdim=True).clamp(0, 1)  # (B, 1, H, W)
    still, moved = _window_mean(miss_still, k), _window_mean(miss_warped, k)  # (B, 1, H, W)
    verdict = ((still <= moved) & (moved > 0)).to(labels.dtype)  # (B, 1, H, W)
    return _window_mean(verdict, 5)
