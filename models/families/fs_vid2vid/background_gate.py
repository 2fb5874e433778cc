"""The background gate (ours, no weights: `FewShotConfig.background_gate`): where neither the current pose nor the
chosen reference's pose is drawn nearby, the frame is the warped reference itself.

With SPADE combine the warped reference reaches the output only through the decoder's modulation, which draws a
static background blurrier than the reference shows it (on our people data 4 dB below the warped reference on the
pixels both show unchanged; `scripts/probe_fewshot_background.py`). Learned blends could not tell a figure's flat
interior from background (`blend.py`); the pose maps can: a pixel far from every drawn limb of the target and of the
reference belongs to neither figure. Pose labels only (drawn pixels above the label's floor of -1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

INNER_SHARE = 0.3
"""The weight ramps from 0 at INNER_SHARE · outer radius to 1 at the outer radius."""
DRAWN = -0.9
"""A label pixel is drawn when a channel exceeds this (the pose codec's background is -1 in every channel)."""


def background_weight(labels: torch.Tensor, reference_labels: torch.Tensor, outer: float) -> torch.Tensor:
    """labels, reference_labels (B, C, H, W) -> (B, 1, H, W) in [0, 1]: 1 beyond `outer` · H pixels of every drawn
    pixel of both maps, 0 within INNER_SHARE of that, the mean of the hard gates at every other radius between."""
    drawn = ((labels > DRAWN) | (reference_labels > DRAWN)).any(1, keepdim=True).float()  # (B, 1, H, W)
    radius_out = max(1, round(outer * labels.shape[-2]))
    radius = max(0, round(INNER_SHARE * radius_out))
    near = F.max_pool2d(drawn, 2 * radius + 1, 1, radius)  # (B, 1, H, W): within `radius` (Chebyshev) of a limb
    far = [1 - near]
    for _ in range(radius, radius_out):
        near = F.max_pool2d(near, 3, 1, 1)  # grow the neighbourhood by one pixel
        far.append(1 - near)
    return torch.stack(far).mean(0)


def gate_background(frame: torch.Tensor, warped_reference: torch.Tensor, labels: torch.Tensor,
                    reference_labels: torch.Tensor, outer: float) -> torch.Tensor:
    """frame, warped_reference (B, 3, H, W); labels, reference_labels (B, C, H, W) -> the gated frame (B, 3, H, W)."""
    weight = background_weight(labels, reference_labels, outer).to(frame.dtype)  # (B, 1, H, W)
    return frame + weight * (warped_reference - frame)
