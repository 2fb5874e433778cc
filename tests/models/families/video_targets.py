"""Shared by the GAN family tests (MoCoGAN, TGAN, VGAN): seeded generators, a smooth moving target video and the
fit to it that shows a generator can learn."""

from __future__ import annotations

from collections.abc import Callable

import torch


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def wave_video(batch: int, channels: int, num_frames: int, size: int) -> torch.Tensor:
    """A smooth, moving target in [-0.5, 0.5]: (B, C, T, H, W)."""
    coords, times = torch.linspace(-1, 1, size), torch.arange(num_frames, dtype=torch.float32)
    wave = 0.5 * torch.sin(3 * coords[None, :, None] + coords[None, None, :] + times[:, None, None])  # (T, H, W)
    return wave.expand(batch, channels, num_frames, size, size)


def fit_losses(generator: torch.nn.Module, make_video: Callable[[], torch.Tensor], target: torch.Tensor,
               steps: int = 15, lr: float = 1e-2) -> list[float]:
    """MSE of `make_video()` (the generator's clip for fixed latents) against `target` over `steps` Adam steps."""
    optimiser = torch.optim.Adam(generator.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(make_video(), target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return losses
