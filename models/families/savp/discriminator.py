"""SAVP video discriminator (reference §5.4) and the random 10-frame windows it judges. torch only.

Two instances are trained, not shared: D on the prior (GAN) branch and D_enc on the posterior (VAE) branch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from models.core.discriminators import with_motion
from models.families.savp.config import SavpConfig
from models.families.savp.layers import init_savp_weights

# (width multiple of ndf, kernel, stride) of the seven Conv3d layers; padding 1 on every axis.
_LAYERS: tuple[tuple[int, int, tuple[int, int, int]], ...] = (
    (1, 3, (1, 1, 1)),
    (2, 4, (1, 2, 2)),
    (2, 3, (1, 1, 1)),
    (4, 4, (1, 2, 2)),
    (4, 3, (1, 1, 1)),
    (8, 4, (2, 2, 2)),
    (8, 3, (1, 1, 1)),
)


def _out_size(size: int, kernel: int, stride: int) -> int:
    return (size + 2 - kernel) // stride + 1


@dataclass
class DiscriminatorOutput:
    logits: torch.Tensor  # (B,)
    features: tuple[torch.Tensor, ...]  # the seven LReLU(0.1) outputs, each (B, F, T', H', W')


class VideoDiscriminator(nn.Module):
    """Seven spectrally normalised Conv3d + LReLU(0.1) layers and a spectrally normalised dense logit, on a clip
    (B, C, T, H, W) in [0, 1]; with `discriminator_motion_scale` > 0 (ours) the scaled frame differences are stacked
    on the clip's channels first."""

    def __init__(self, config: SavpConfig) -> None:
        super().__init__()
        self.motion_scale = config.discriminator_motion_scale
        channels = config.image_channels * (2 if self.motion_scale > 0 else 1)
        t, s = config.discriminator_clip_frames, config.image_size
        layers: list[nn.Module] = []
        for multiple, kernel, stride in _LAYERS:
            width = multiple * config.discriminator_ndf
            conv = nn.Conv3d(channels, width, kernel, stride, padding=1)
            init_savp_weights(conv)
            layers.append(nn.Sequential(spectral_norm(conv), nn.LeakyReLU(0.1)))
            channels, t, s = width, _out_size(t, kernel, stride[0]), _out_size(s, kernel, stride[1])
        self.layers = nn.ModuleList(layers)
        dense = nn.Linear(channels * t * s * s, 1)
        init_savp_weights(dense)
        self.dense = spectral_norm(dense)

    def forward(self, clip: torch.Tensor) -> DiscriminatorOutput:
        features, x = [], with_motion(clip, self.motion_scale)  # (B, C or 2C, T, H, W)
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return DiscriminatorOutput(self.dense(x.flatten(1)).squeeze(1), tuple(features))  # logits (B,)


def random_clip_starts(batch: int, num_frames: int, clip_frames: int, generator: torch.Generator) -> torch.Tensor:
    """One random window start per sample in [0, num_frames - clip_frames]: (B,) int64 on the generator's device."""
    return torch.randint(0, num_frames - clip_frames + 1, (batch,), generator=generator, device=generator.device)


def take_clips(video: torch.Tensor, starts: torch.Tensor, clip_frames: int) -> torch.Tensor:
    """video (B, T, C, H, W), starts (B,) → clips (B, C, clip_frames, H, W) for the discriminator. Use the same
    starts for the real and the generated video of a sample, so that feature matching compares like with like."""
    index = starts.to(video.device)[:, None] + torch.arange(clip_frames, device=video.device)  # (B, clip)
    clips = video[torch.arange(video.shape[0], device=video.device)[:, None], index]  # (B, clip, C, H, W)
    return clips.transpose(1, 2)
