"""Frame conversions between the service and the predict families' networks.

Service frames are (N, 3, H, W) in [-1, 1] (docs/conventions.md). A network may work in [0, 1] or [-1, 1], in RGB or
grey (the RGB mean), at its own square size: `resize_square` shrinks by area and grows bilinearly; `to_unit_frames`
and `from_unit_frames` convert to and from a network in [0, 1] with C channels (grey repeated to RGB on the way out).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.core.family import InputError


def resize_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, size, size): area when shrinking both sides, else bilinear."""
    if x.shape[-2:] == (size, size):
        return x
    if x.shape[-2] >= size and x.shape[-1] >= size:
        return F.interpolate(x, size=(size, size), mode="area")
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def to_unit_frames(frames: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """Service frames (N, 3, H, W) in [-1, 1] -> network frames (N, C, size, size) in [0, 1] (C = 1: grey)."""
    x = (frames.float() + 1) / 2  # (N, 3, H, W) in [0, 1]
    if channels == 1:
        x = x.mean(dim=1, keepdim=True)  # (N, 1, H, W)
    elif channels != x.shape[1]:
        raise InputError(f"the model takes {channels} colour channels, the frames have {x.shape[1]}")
    return resize_square(x, size).clamp(0, 1)  # (N, C, size, size)


def from_unit_frames(frames: torch.Tensor) -> torch.Tensor:
    """Network frames (N, C, S, S) in [0, 1] -> service frames (N, 3, S, S) in [-1, 1] (grey repeated to RGB)."""
    if frames.shape[1] == 1:
        frames = frames.expand(-1, 3, -1, -1)  # (N, 3, S, S)
    return frames.float() * 2 - 1
