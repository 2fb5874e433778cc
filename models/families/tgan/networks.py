"""TGAN networks (reference §2): temporal generator G0, image generator G1, 3-D critic. torch only.

G0 is not recurrent: 1-D transposed convolutions turn the clip code z0 into all T per-frame codes z1^1..T at once,
each depending on the whole of z0. A stream therefore computes `codes = gen.temporal_codes(z0)` once per clip (a
(B, T, d1) tensor: the whole state, constant in size) and then `gen.render_frame(z0, codes[:, t])` per frame.
`gen(latents)` makes the clip in one pass (all B·T frames through G1 as one batch; with BN in training mode its
statistics then differ from per-frame calls, in inference mode they agree). Random draws take an explicit
`torch.Generator`.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import nn
from torch.nn import functional as F

from models.core.discriminators import with_motion
from models.families.tgan.config import InitScheme, TGANConfig

LEAKY_SLOPE = 0.2
UNIFORM_INIT_LIMIT = 0.01
WEIGHTED_LAYERS = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)


@dataclass
class TGANLatents:
    """Everything random about a batch of clips."""

    clip_code: torch.Tensor  # (B, d0) z0 ~ U(-1, 1)


@dataclass
class InstanceNoise:
    """Gaussian noise of standard deviation `std` drawn from `generator` (reference §2.4, the "normal GAN" variant:
    σ 0.3 after every critic conv while training)."""

    std: float
    generator: torch.Generator

    def add(self, x: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(x.shape, generator=self.generator, device=self.generator.device)
        return x + self.std * noise.to(x.device, x.dtype)


class ScaleOnlyBatchNorm(nn.Module):
    """Batch norm with a learned scale γ and no shift β ("BN(no β)"), for any (B, C, ...) input."""

    def __init__(self, num_features: int, eps: float, momentum: float) -> None:
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, None, self.training, self.momentum, self.eps
        )


def init_weights(module: nn.Module, scheme: InitScheme, generator: torch.Generator | None = None) -> None:
    """Re-initialise every conv / transposed conv / linear weight by `scheme`, biases 0; norms keep γ = 1, β = 0."""
    for layer in module.modules():
        if not isinstance(layer, WEIGHTED_LAYERS):
            continue
        if scheme == "uniform":
            nn.init.uniform_(layer.weight, -UNIFORM_INIT_LIMIT, UNIFORM_INIT_LIMIT, generator=generator)
        else:  # LeCun normal: fan_in = dim 1 × kernel size (for a transposed conv that is out_channels × kernel)
            fan_in = layer.weight[0].numel()
            nn.init.normal_(layer.weight, 0.0, fan_in**-0.5, generator=generator)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


# ---------------------------------------------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------------------------------------------


class TemporalGenerator(nn.Module):
    """G0: z0 (B, d0) → per-frame codes (B, T, d1) in [-1, 1] through ConvT1d layers (biases, BN(no β), ReLU)."""

    def __init__(self, config: TGANConfig) -> None:
        super().__init__()
        widths = config.temporal_widths

        def norm(channels: int) -> nn.Module:
            if config.temporal_bn_shift:
                return nn.BatchNorm1d(channels, eps=config.bn_eps, momentum=config.bn_momentum)
            return ScaleOnlyBatchNorm(channels, config.bn_eps, config.bn_momentum)

        layers: list[nn.Module] = [nn.ConvTranspose1d(config.latent_dim, widths[0], 1), norm(widths[0]), nn.ReLU()]
        for in_ch, out_ch in pairwise(widths):
            layers += [nn.ConvTranspose1d(in_ch, out_ch, 4, 2, 1), norm(out_ch), nn.ReLU()]
        layers += [nn.ConvTranspose1d(widths[-1], config.frame_code_dim, 4, 2, 1), nn.Tanh()]
        self.layers = nn.Sequential(*layers)

    def forward(self, clip_code: torch.Tensor) -> torch.Tensor:
        codes = self.layers(clip_code[:, :, None])  # (B, d1, T)
        return codes.transpose(1, 2)  # (B, T, d1)


class ImageGenerator(nn.Module):
    """G1: (z0, z1^t) → one frame. Two bias-free linear streams to 4×4 maps, concatenated, then ConvT2d up to H×W."""

    def __init__(self, config: TGANConfig) -> None:
        super().__init__()
        bn = {"eps": config.bn_eps, "momentum": config.bn_momentum}
        self.stream_channels = config.ngf * 2 ** (config.num_scales - 1)  # 256 at paper size
        stream_size = self.stream_channels * 4 * 4
        self.clip_stream = nn.Sequential(
            nn.Linear(config.latent_dim, stream_size, bias=False), nn.BatchNorm1d(stream_size, **bn), nn.ReLU()
        )
        self.frame_stream = nn.Sequential(
            nn.Linear(config.frame_code_dim, stream_size, bias=False), nn.BatchNorm1d(stream_size, **bn), nn.ReLU()
        )
        widths = [config.ngf * 2 ** (config.num_scales - i) for i in range(config.num_scales + 1)]  # 512 .. 32
        layers: list[nn.Module] = []
        for in_ch, out_ch in pairwise(widths):
            layers += [nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, bias=False), nn.BatchNorm2d(out_ch, **bn), nn.ReLU()]
        layers += [nn.ConvTranspose2d(widths[-1], config.channels, 3, 1, 1), nn.Tanh()]
        self.decoder = nn.Sequential(*layers)

    def forward(self, clip_code: torch.Tensor, frame_code: torch.Tensor) -> torch.Tensor:
        batch = clip_code.shape[0]
        clip_map = self.clip_stream(clip_code).view(batch, self.stream_channels, 4, 4)  # (B, C_s, 4, 4)
        frame_map = self.frame_stream(frame_code).view(batch, self.stream_channels, 4, 4)  # (B, C_s, 4, 4)
        return self.decoder(torch.cat([clip_map, frame_map], dim=1))  # (B, C, H, W)


class TGANGenerator(nn.Module):
    """G0 + G1. `init_generator` makes the weight initialisation reproducible (None: PyTorch's global RNG)."""

    def __init__(self, config: TGANConfig, init_generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        self.temporal = TemporalGenerator(config)
        self.image = ImageGenerator(config)
        init_weights(self.temporal, config.temporal_init, init_generator)
        init_weights(self.image, config.image_init, init_generator)

    def sample_latents(self, batch: int, generator: torch.Generator) -> TGANLatents:
        """z0 ~ U(-1, 1), drawn on the generator's device."""
        uniform = torch.rand(batch, self.config.latent_dim, generator=generator, device=generator.device)
        return TGANLatents(clip_code=uniform * 2 - 1)  # (B, d0)

    def temporal_codes(self, clip_code: torch.Tensor) -> torch.Tensor:
        """G0: z0 (B, d0) → z1^1..T (B, T, d1); the whole per-clip state of a stream."""
        return self.temporal(clip_code)

    def render_frame(self, clip_code: torch.Tensor, frame_code: torch.Tensor) -> torch.Tensor:
        """G1 on one frame: z0 (B, d0), z1^t (B, d1) → (B, C, H, W) in [-1, 1]."""
        return self.image(clip_code, frame_code)

    def random_clips(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """`batch` clips from fresh latents, as training draws them: (B, C, T, H, W)."""
        return self(self.sample_latents(batch, generator))

    def forward(self, latents: TGANLatents) -> torch.Tensor:
        """A whole clip → (B, C, T, H, W) in [-1, 1]."""
        codes = self.temporal_codes(latents.clip_code)  # (B, T, d1)
        batch, num_frames = codes.shape[:2]
        clip_code = latents.clip_code[:, None].expand(-1, num_frames, -1)  # (B, T, d0)
        frames = self.render_frame(
            clip_code.reshape(batch * num_frames, -1), codes.reshape(batch * num_frames, -1)
        )  # (B·T, C, H, W)
        return frames.view(batch, num_frames, *frames.shape[1:]).transpose(1, 2)  # (B, C, T, H, W)


# ---------------------------------------------------------------------------------------------------------------
# Critic
# ---------------------------------------------------------------------------------------------------------------


class _StridedCritic(nn.Module):
    """The critics' body: `conv` k4 s2 p1 layers (biases; BN(no β) after all but the first; LReLU 0.2) from the frame
    channels to ndf · 2^(n - 1), then a Conv2d k4 to one score per remaining 4×4 map."""

    def __init__(self, config: TGANConfig, conv: type[nn.Conv2d] | type[nn.Conv3d],
                 init_generator: torch.Generator | None, in_channels: int | None = None) -> None:
        super().__init__()
        self.conv = conv
        widths = [in_channels or config.channels] + [config.ndf * 2**i for i in range(config.num_scales)]  # C, ndf ..
        layers: list[nn.Module] = []
        for index, (in_ch, out_ch) in enumerate(pairwise(widths)):
            layers.append(conv(in_ch, out_ch, 4, 2, 1))
            if index > 0:
                layers.append(ScaleOnlyBatchNorm(out_ch, config.bn_eps, config.bn_momentum))
            layers.append(nn.LeakyReLU(LEAKY_SLOPE))
        self.features = nn.Sequential(*layers)
        self.score = nn.Conv2d(widths[-1], 1, 4)
        init_weights(self, config.critic_init, init_generator)

    def strided_features(self, x: torch.Tensor, noise: InstanceNoise | None) -> torch.Tensor:
        """The conv stack; `noise`: the normal-GAN variant's instance noise after every strided conv (training)."""
        for layer in self.features:
            x = layer(x)
            if noise is not None and isinstance(layer, self.conv):
                x = noise.add(x)
        return x


class TGANCritic(_StridedCritic):
    """Conv3d k4 s2 p1 stack, then time folded into the batch and a Conv2d k4 to one score per remaining time step:
    (B, C, T, H, W) → (B, T') (T' = 1 at paper size). With `critic_motion_scale` > 0 (ours) the frame differences
    are stacked on the input channels."""

    def __init__(self, config: TGANConfig, init_generator: torch.Generator | None = None) -> None:
        channels = config.channels * (2 if config.critic_motion_scale > 0 else 1)  # frames [+ their differences]
        super().__init__(config, nn.Conv3d, init_generator, channels)
        self.motion_scale = config.critic_motion_scale

    def forward(self, video: torch.Tensor, noise: InstanceNoise | None = None) -> torch.Tensor:
        video = with_motion(video, self.motion_scale)  # (B, C or 2C, T, H, W)
        features = self.strided_features(video, noise)  # (B, 512, T', 4, 4)
        batch, channels, frames = features.shape[:3]
        folded = features.transpose(1, 2).reshape(batch * frames, channels, *features.shape[3:])  # (B·T', 512, 4, 4)
        return self.score(folded).view(batch, frames)  # (B, T')


class TGANFrameCritic(_StridedCritic):
    """Ours, not in the paper: a 2-D critic on single frames (MoCoGAN's image-discriminator idea under TGAN's
    objective), the video critic's layers with 2-D convs: (N, C, H, W) → (N,) one score per frame."""

    def __init__(self, config: TGANConfig, init_generator: torch.Generator | None = None) -> None:
        super().__init__(config, nn.Conv2d, init_generator)

    def forward(self, frames: torch.Tensor, noise: InstanceNoise | None = None) -> torch.Tensor:
        features = self.strided_features(frames, noise)  # (N, 4·ndf, 4, 4)
        return self.score(features).flatten()  # (N,)


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters (works on the meta device)."""
    return sum(p.numel() for p in module.parameters())
