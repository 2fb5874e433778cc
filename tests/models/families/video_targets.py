"""Shared by the GAN family tests (MoCoGAN, TGAN, VGAN): seeded generators and a smooth moving target video."""

from __future__ import annotations

import torch


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def wave_video(batch: int, channels: int, num_frames: int, size: int) -> torch.Tensor:
    """A smooth, moving target in [-0.5, 0.5]: (B, C, T, H, W)."""
    coords, times = torch.linspace(-1, 1, size), torch.arange(num_frames, dtype=torch.float32)
    wave = 0.5 * torch.sin(3 * coords[None, :, None] + coords[None, None, :] + times[:, None, None])  # (T, H, W)
    return wave.expand(batch, channels, num_frames, size, size)
