"""Learned pixel blends of the few-shot output with a warped image (ours: `FewShotConfig.blend_reference`,
`blend_previous`).

With SPADE combine (the reference's default) the warped reference and the warped previous frame reach the output only
through the decoder's modulation, which draws them blurrier than they are: on our people data a static background
that the reference shows unchanged comes out 4 dB below the warped reference itself
(`scripts/probe_fewshot_background.py`), and the previous frame does not make the temporal path steadier than the
reference path alone. A `BlendHead` moves the output toward the warped image by a per-pixel weight it reads from
(output, warped image, labels). It is a zero-initialised extension: its last convolution starts at zero, so the
weight starts at 0 everywhere and weights trained without it give the same frames with it.
"""

from __future__ import annotations

import torch
from torch import nn

from models.core.extensions import ZeroInitExtension


class BlendHead(ZeroInitExtension):
    """frame + a·(warped − frame), a = clamp(GAIN · convs(frame, warped, labels), 0, 1) per pixel. The last conv is
    stored divided by `GAIN` (an equalised learning rate): Adam moves a parameter by about lr per step, and a must
    travel from 0 to 1 within tens of steps at the generator's lr, not thousands."""

    GAIN = 25.0

    def __init__(self, label_channels: int, hidden: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(6 + label_channels, hidden, 3, padding=1), nn.LeakyReLU(0.2))
        self.weight_out = nn.Conv2d(hidden, 1, 3, padding=1)
        nn.init.zeros_(self.weight_out.weight)
        nn.init.zeros_(self.weight_out.bias)

    def blend_weight(self, frame: torch.Tensor, warped: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) in [0, 1]: how far each pixel moves toward the warped image."""
        features = self.body(torch.cat([frame, warped, labels.to(frame.dtype)], dim=1))  # (B, hidden, H, W)
        return (self.GAIN * self.weight_out(features)).clamp(0.0, 1.0)

    def forward(self, frame: torch.Tensor, warped: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """frame, warped (B, 3, H, W), labels (B, C, H, W) -> the blended frame (B, 3, H, W)."""
        return frame + self.blend_weight(frame, warped, labels) * (warped - frame)
