"""VGAN networks (reference §1.1-1.3): two-stream generator and 3-D discriminator. torch only.

The generator makes a whole clip at once from one code z: a 2-D stream paints a static background b, a 3-D stream a
foreground video f and a mask m, and video = m·f + (1 − m)·b (b repeated over time, m over colour). All four are
returned so the mask can be inspected. Random draws take an explicit `torch.Generator`; so does the initialisation
(None: PyTorch's global RNG).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import nn

from models.families.vgan.config import VGANConfig

LEAKY_SLOPE = 0.2


@dataclass
class VGANLatents:
    """Everything random about a batch of clips."""

    code: torch.Tensor  # (B, d) z ~ N(0, I)


@dataclass
class VGANOutput:
    """A generated clip and its layers."""

    video: torch.Tensor  # (B, C, T, H, W) composed clip in [-1, 1]
    foreground: torch.Tensor  # (B, C, T, H, W) f in [-1, 1]
    mask: torch.Tensor  # (B, 1, T, H, W) m in [0, 1]; 1 = foreground
    background: torch.Tensor  # (B, C, H, W) b in [-1, 1], the same for every frame


def init_weights(module: nn.Module, config: VGANConfig, generator: torch.Generator | None = None) -> None:
    """Conv / transposed-conv weights N(0, init_std²), biases 0; batch-norm γ N(1, bn_scale_init_std²), β 0."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv3d | nn.ConvTranspose2d | nn.ConvTranspose3d):
            nn.init.normal_(layer.weight, 0.0, config.init_std, generator=generator)
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d | nn.BatchNorm3d):
            nn.init.normal_(layer.weight, 1.0, config.bn_scale_init_std, generator=generator)
            nn.init.zeros_(layer.bias)


def _up_stack(config: VGANConfig, conv: type[nn.Module], norm: type[nn.Module], first_kernel: tuple[int, ...]):
    """First ConvT (latent → widest, kernel `first_kernel`, stride 1) then k4 s2 p1 ConvTs, each with BN + ReLU,
    ending at ngf channels one 2× step below the output size."""
    widths = [config.ngf * 2 ** (config.num_scales - 1 - i) for i in range(config.num_scales)]  # 512 .. 64
    layers: list[nn.Module] = [
        conv(config.latent_dim, widths[0], first_kernel, 1, 0),
        norm(widths[0], eps=config.generator_bn_eps),
        nn.ReLU(),
    ]
    for in_ch, out_ch in pairwise(widths):
        layers += [conv(in_ch, out_ch, 4, 2, 1), norm(out_ch, eps=config.generator_bn_eps), nn.ReLU()]
    return nn.Sequential(*layers), widths[-1]


class VGANGenerator(nn.Module):
    """Static 2-D background stream and 3-D foreground stream with video (tanh) and mask (sigmoid) heads."""

    def __init__(self, config: VGANConfig, init_generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        background_trunk, width = _up_stack(config, nn.ConvTranspose2d, nn.BatchNorm2d, (4, 4))
        self.background = nn.Sequential(
            background_trunk, nn.ConvTranspose2d(width, config.channels, 4, 2, 1), nn.Tanh()
        )
        self.foreground_trunk, width = _up_stack(config, nn.ConvTranspose3d, nn.BatchNorm3d, (config.base_frames, 4, 4))
        self.foreground_head = nn.Sequential(nn.ConvTranspose3d(width, config.channels, 4, 2, 1), nn.Tanh())
        self.mask_head = nn.Sequential(nn.ConvTranspose3d(width, 1, 4, 2, 1), nn.Sigmoid())
        init_weights(self, config, init_generator)

    def sample_latents(self, batch: int, generator: torch.Generator) -> VGANLatents:
        """z ~ N(0, I), drawn on the generator's device."""
        return VGANLatents(
            code=torch.randn(batch, self.config.latent_dim, generator=generator, device=generator.device)
        )

    def random_clips(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """`batch` clips from fresh latents, as training draws them: (B, C, T, H, W)."""
        return self(self.sample_latents(batch, generator)).video

    def forward(self, latents: VGANLatents) -> VGANOutput:
        code = latents.code  # (B, d)
        background = self.background(code[:, :, None, None])  # (B, C, H, W)
        features = self.foreground_trunk(code[:, :, None, None, None])  # (B, ngf, T/2, H/2, W/2)
        foreground = self.foreground_head(features)  # (B, C, T, H, W)
        mask = self.mask_head(features)  # (B, 1, T, H, W)
        video = mask * foreground + (1 - mask) * background[:, :, None]  # (B, C, T, H, W)
        return VGANOutput(video=video, foreground=foreground, mask=mask, background=background)


class VGANDiscriminator(nn.Module):
    """Conv3d k4 s2 p1 stack (LReLU 0.2; BN after all but the first), then a Conv3d over what is left to one logit:
    (B, C, T, H, W) → (B, 1). The code's two softmax logits are replaced by their equivalent single sigmoid logit."""

    def __init__(self, config: VGANConfig, init_generator: torch.Generator | None = None) -> None:
        super().__init__()
        widths = [config.channels] + [config.ndf * 2**i for i in range(config.num_scales)]  # 3, 64 .. 512
        layers: list[nn.Module] = []
        for index, (in_ch, out_ch) in enumerate(pairwise(widths)):
            layers.append(nn.Conv3d(in_ch, out_ch, 4, 2, 1))
            if index > 0:
                layers.append(nn.BatchNorm3d(out_ch, eps=config.discriminator_bn_eps))
            layers.append(nn.LeakyReLU(LEAKY_SLOPE))
        layers.append(nn.Conv3d(widths[-1], 1, (config.base_frames, 4, 4)))  # (B, 1, 1, 1, 1)
        self.layers = nn.Sequential(*layers)
        init_weights(self, config, init_generator)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """video (B, C, T, H, W) in [-1, 1] → real/fake logits (B, 1)."""
        return self.layers(video).flatten(1)  # (B, 1)


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters (works on the meta device)."""
    return sum(p.numel() for p in module.parameters())
