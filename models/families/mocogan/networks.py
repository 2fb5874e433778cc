"""MoCoGAN networks (reference §3): latents, GRU motion trajectory, per-frame image generator G_I, image
discriminator D_I and video discriminator D_V. torch only.

Streaming: every random draw takes an explicit `torch.Generator` (tensors are drawn on that generator's device);
the motion GRU keeps no state on the module: `hidden = gen.motion_step(noise_t, hidden, category)` then
`frame = gen.render_frame(content, category, hidden)` gives one frame, and `gen(latents)` a whole clip.
Initialisation is PyTorch's default (the reference runs do not re-initialise).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import nn

from models.core.discriminators import with_motion
from models.families.mocogan.config import MoCoGANConfig

LEAKY_SLOPE = 0.2


@dataclass
class MoCoGANLatents:
    """Everything random about a batch of clips; frame t is rendered from [content, category, h_t]."""

    content: torch.Tensor  # (B, d_C) z_C, fixed per clip
    category: torch.Tensor  # (B, K) one-hot z_A; (B, 0) when K = 0
    initial_motion: torch.Tensor  # (B, d_M) h_0
    motion_noise: torch.Tensor  # (B, T, d_ε) ε_1..T

    @property
    def num_frames(self) -> int:
        return self.motion_noise.shape[1]


@dataclass
class VideoDiscriminatorOutput:
    """D_V's logits, batch dimension always kept."""

    realness: torch.Tensor  # (B, 1, T', H', W') real/fake logits (1×1×1 for the categorical head)
    category_logits: torch.Tensor  # (B, K) category logits; (B, 0) without categories


# ---------------------------------------------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------------------------------------------


class MoCoGANGenerator(nn.Module):
    """GRU motion trajectory (d_ε → d_M) and the image generator G_I (d_C + K + d_M → C×H×W, tanh); with
    `category_input="motion"` the GRU takes [ε_t, z_A] and G_I [z_C, z_M^t]."""

    def __init__(self, config: MoCoGANConfig) -> None:
        super().__init__()
        self.config = config
        self.motion_gru = nn.GRUCell(config.motion_input_dim, config.motion_dim)
        widths = [config.ngf * 2 ** (config.num_scales - 1 - i) for i in range(config.num_scales)]  # 512..64
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(config.latent_dim, widths[0], 4, 1, 0, bias=False),  # 1×1 → 4×4
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        for in_ch, out_ch in pairwise(widths):
            layers += [nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], config.channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.image_generator = nn.Sequential(*layers)

    # --- random draws (explicit generator; tensors live on the generator's device) ---

    def sample_content(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """z_C ~ N(0, I): (B, d_C)."""
        return torch.randn(batch, self.config.content_dim, generator=generator, device=generator.device)

    def one_hot_category(self, labels: torch.Tensor) -> torch.Tensor:
        """(B,) int64 labels in [0, K) → (B, K) float one-hot z_A."""
        if self.config.num_categories == 0:
            raise ValueError("this model has no categories (num_categories = 0)")
        if labels.dim() != 1 or bool((labels < 0).any()) or bool((labels >= self.config.num_categories).any()):
            raise ValueError(f"labels must be a (B,) tensor of ints in [0, {self.config.num_categories})")
        return nn.functional.one_hot(labels.long(), self.config.num_categories).float()

    def sample_category(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """z_A: a uniformly drawn one-hot category (B, K), or an empty (B, 0) tensor when K = 0."""
        if self.config.num_categories == 0:
            return torch.zeros(batch, 0, device=generator.device)
        labels = torch.randint(
            self.config.num_categories, (batch,), generator=generator, device=generator.device
        )  # (B,)
        return self.one_hot_category(labels)

    def sample_initial_motion(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """h_0 ~ N(0, I): (B, d_M)."""
        return torch.randn(batch, self.config.motion_dim, generator=generator, device=generator.device)

    def sample_motion_noise_step(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """One step's GRU input ε_t ~ N(0, I): (B, d_ε)."""
        return torch.randn(batch, self.config.motion_noise_dim, generator=generator, device=generator.device)

    def sample_motion_noise(self, batch: int, num_frames: int, generator: torch.Generator) -> torch.Tensor:
        """ε_1..T as T successive per-step draws (a stream drawing step by step gets the same numbers): (B, T, d_ε)."""
        steps = [self.sample_motion_noise_step(batch, generator) for _ in range(num_frames)]
        return torch.stack(steps, dim=1)  # (B, T, d_ε)

    def sample_latents(
        self,
        batch: int,
        num_frames: int,
        generator: torch.Generator,
        labels: torch.Tensor | None = None,
    ) -> MoCoGANLatents:
        """Draw z_C, z_A (unless `labels` are given), h_0 and ε_1..T, in that order, from one generator."""
        content = self.sample_content(batch, generator)
        category = self.sample_category(batch, generator) if labels is None else self.one_hot_category(labels)
        initial_motion = self.sample_initial_motion(batch, generator)
        motion_noise = self.sample_motion_noise(batch, num_frames, generator)
        return MoCoGANLatents(content, category.to(content.device), initial_motion, motion_noise)

    # --- motion trajectory (state passed in and out, never stored) ---

    def motion_step(self, noise: torch.Tensor, hidden: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        """h_t = GRU(ε_t, h_{t-1}) (GRU([ε_t, z_A], h_{t-1}) with the category on the motion path); z_M^t = h_t.
        noise (B, d_ε), hidden (B, d_M), category (B, K) → (B, d_M)."""
        if self.config.category_input == "motion":
            noise = torch.cat([noise, category.to(noise.dtype)], dim=1)  # (B, d_ε + K)
        return self.motion_gru(noise, hidden)

    def motion_trajectory(self, initial_motion: torch.Tensor, motion_noise: torch.Tensor, category: torch.Tensor
                          ) -> torch.Tensor:
        """z_M^1..T from h_0 (B, d_M), ε (B, T, d_ε) and z_A (B, K) → (B, T, d_M)."""
        hidden = initial_motion
        trajectory = []
        for t in range(motion_noise.shape[1]):
            hidden = self.motion_step(motion_noise[:, t], hidden, category)  # (B, d_M)
            trajectory.append(hidden)
        return torch.stack(trajectory, dim=1)  # (B, T, d_M)

    # --- rendering ---

    def render_frame(self, content: torch.Tensor, category: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        """G_I on one frame's latents: content (B, d_C), category (B, K), motion (B, d_M) → (B, C, H, W) in [-1, 1]
        (the category is left out when it enters on the motion path)."""
        parts = [content, category, motion] if self.config.category_input == "image" else [content, motion]
        code = torch.cat(parts, dim=1)  # (B, config.latent_dim)
        return self.image_generator(code[:, :, None, None])  # (B, C, H, W)

    def random_clips(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """`batch` clips of the trained length from fresh latents (random categories): (B, C, T, H, W)."""
        return self(self.sample_latents(batch, self.config.num_frames, generator))

    def forward(self, latents: MoCoGANLatents) -> torch.Tensor:
        """A whole clip: all B·T frames go through G_I as one batch → (B, C, T, H, W) in [-1, 1]."""
        motion = self.motion_trajectory(latents.initial_motion, latents.motion_noise, latents.category)  # (B, T, d_M)
        batch, num_frames = motion.shape[:2]
        content = latents.content[:, None].expand(-1, num_frames, -1)  # (B, T, d_C)
        category = latents.category[:, None].expand(-1, num_frames, -1)  # (B, T, K)
        frames = self.render_frame(
            content.reshape(batch * num_frames, -1),
            category.reshape(batch * num_frames, -1),
            motion.reshape(batch * num_frames, -1),
        )  # (B·T, C, H, W)
        frames = frames.view(batch, num_frames, *frames.shape[1:])  # (B, T, C, H, W)
        return frames.transpose(1, 2)  # (B, C, T, H, W)


# ---------------------------------------------------------------------------------------------------------------
# Discriminators (no conv biases; BN + LReLU(0.2); optional instance noise before every conv but the last)
# ---------------------------------------------------------------------------------------------------------------


def add_instance_noise(x: torch.Tensor, std: float, generator: torch.Generator, over_time: bool = False
                       ) -> torch.Tensor:
    """x + N(0, std²), drawn from `generator` (on its device) and moved to x's device; with `over_time`, x is
    (B, C, T, H, W) and one draw per clip is added at every time step."""
    shape = (*x.shape[:2], 1, *x.shape[3:]) if over_time else x.shape  # (B, C, 1, H, W) broadcasts over T
    noise = torch.randn(shape, generator=generator, device=generator.device, dtype=x.dtype)
    return x + std * noise.to(x.device)


class _NoisyConvStack(nn.Module):
    """Shared forward of D_I and D_V: [noise] conv [BN] LReLU blocks, then [no noise] the head conv."""

    def __init__(self, blocks: list[nn.Sequential], head: nn.Module, instance_noise_std: float,
                 noise_over_time: bool = False) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.head = head
        self.instance_noise_std = instance_noise_std
        self.noise_over_time = noise_over_time

    def _features(self, x: torch.Tensor, noise_generator: torch.Generator | None) -> torch.Tensor:
        noisy = self.training and self.instance_noise_std > 0
        if noisy and noise_generator is None:
            raise ValueError("instance noise is on in training mode: pass noise_generator")
        for block in self.blocks:
            if noisy:
                x = add_instance_noise(x, self.instance_noise_std, noise_generator, self.noise_over_time)
            x = block(x)
        return self.head(x)


def _disc_block(conv: nn.Module, out_ch: int, norm: type[nn.Module] | None) -> nn.Sequential:
    layers = [conv] + ([norm(out_ch)] if norm is not None else []) + [nn.LeakyReLU(LEAKY_SLOPE, inplace=True)]
    return nn.Sequential(*layers)


class ImageDiscriminator(_NoisyConvStack):
    """D_I, a patch discriminator on single frames: (B, C, H, W) → (B, 1, 4, 4) logits."""

    def __init__(self, config: MoCoGANConfig) -> None:
        widths = [config.channels] + [config.ndf * 2**i for i in range(config.num_scales - 1)]  # 3, 64, 128, 256
        blocks = [
            _disc_block(nn.Conv2d(i, o, 4, 2, 1, bias=False), o, None if n == 0 else nn.BatchNorm2d)
            for n, (i, o) in enumerate(pairwise(widths))
        ]
        super().__init__(blocks, nn.Conv2d(widths[-1], 1, 4, 2, 1, bias=False), config.instance_noise_std)

    def forward(self, images: torch.Tensor, noise_generator: torch.Generator | None = None) -> torch.Tensor:
        """images (B, C, H, W) in [-1, 1] → patch logits (B, 1, 4, 4)."""
        return self._features(images, noise_generator)


class IdentityPairDiscriminator(ImageDiscriminator):
    """Ours (training only, not in the paper): D_I's layout on two frames stacked on channels, (B, 2C, H, W) → patch
    logits. Real pairs show one person twice (two times of one real clip, or two clips of one look or of one scene: the
    recipe's `identity_pair_real`); fake pairs are frames of two clips generated from one content code with another
    action and motion, so G is asked to keep the look that z_C set whatever the action and motion do."""

    def __init__(self, config: MoCoGANConfig) -> None:
        super().__init__(dataclasses.replace(config, channels=2 * config.channels))


class VideoDiscriminator(_NoisyConvStack):
    """D_V: 3-D convs, temporal kernel k_t with stride 1 and no temporal padding; categorical or patch head."""

    def __init__(self, config: MoCoGANConfig) -> None:
        kernel = (config.video_temporal_kernel, 4, 4)
        stride, padding = (1, 2, 2), (0, 1, 1)
        num_hidden = config.num_scales if config.video_head == "categorical" else config.num_scales - 1
        in_channels = config.channels * (2 if config.video_motion_scale > 0 else 1)  # frames [+ their differences]
        widths = [in_channels] + [config.ndf * 2**i for i in range(num_hidden)]  # 3, 64, 128, 256, 512
        blocks = [
            _disc_block(nn.Conv3d(i, o, kernel, stride, padding, bias=False), o, None if n == 0 else nn.BatchNorm3d)
            for n, (i, o) in enumerate(pairwise(widths))
        ]
        if config.video_head == "categorical":  # one conv over what is left: (1 + K) × 1 × 1 × 1
            head = nn.Conv3d(widths[-1], 1 + config.num_categories, (config.video_frames_left, 4, 4), bias=False)
        else:  # patch: one more strided conv to a 1-channel logit map
            head = nn.Conv3d(widths[-1], 1, kernel, stride, padding, bias=False)
        super().__init__(blocks, head, config.instance_noise_std, config.video_noise_over_time)
        self.motion_scale = config.video_motion_scale

    def forward(self, video: torch.Tensor, noise_generator: torch.Generator | None = None) -> VideoDiscriminatorOutput:
        """video (B, C, T, H, W) in [-1, 1] → realness logits and category logits (batch never squeezed)."""
        video = with_motion(video, self.motion_scale)  # (B, C or 2C, T, H, W)
        out = self._features(video, noise_generator)  # (B, 1 + K, T', H', W')
        return VideoDiscriminatorOutput(realness=out[:, :1], category_logits=out[:, 1:].flatten(1))


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters (works on the meta device)."""
    return sum(p.numel() for p in module.parameters())
