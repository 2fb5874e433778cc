"""MoCoGAN objectives and optimiser settings (reference §3.4), as pure functions on network outputs. torch only.

    L_DI = BCE(D_I(x_real), 1) + BCE(D_I(x_fake), 0)
    L_DV = BCE(D_V(v_real)_0, 1) + BCE(D_V(v_fake)_0, 0) [+ CE(D_V(v_real)_{1..K}, y_real)]
    L_G  = BCE(D_I(x_fake), 1) + BCE(D_V(v_fake)_0, 1)    [+ CE(D_V(v_fake)_{1..K}, z_A)]

BCE is with logits, averaged over batch and patch positions; every term weighs 1. Update order per iteration:
D_I, then D_V, then G, with fresh fake samples for each step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from models.families.mocogan.networks import VideoDiscriminatorOutput


@dataclass(frozen=True)
class OptimiserSettings:
    """Adam for each of G (GRU + G_I), D_I and D_V, separately."""

    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 1e-5
    image_batch: int = 32
    video_batch: int = 32
    iterations: int = 100_000


OPTIMISER = OptimiserSettings()


@dataclass
class DiscriminatorLoss:
    """One discriminator's loss and its terms (scalars)."""

    total: torch.Tensor
    real: torch.Tensor
    fake: torch.Tensor
    category: torch.Tensor  # 0 when categories are not used


@dataclass
class GeneratorLoss:
    """G's loss and its terms (scalars)."""

    total: torch.Tensor
    image_adversarial: torch.Tensor
    video_adversarial: torch.Tensor
    category: torch.Tensor  # the "InfoGAN" term; 0 when categories are not used


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Mean sigmoid cross-entropy against a constant target, in fp32 (the logits may come from a bf16 forward)."""
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def category_loss(category_logits: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """Cross-entropy of D_V's category logits (B, K) against (B,) int labels; 0 when labels is None."""
    if labels is None:
        return category_logits.new_zeros(())
    return F.cross_entropy(category_logits.float(), labels)


def image_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> DiscriminatorLoss:
    """L_DI from D_I's patch logits on real (B, 1, h, w) and detached fake frames."""
    real, fake = _bce(real_logits, 1.0), _bce(fake_logits, 0.0)
    return DiscriminatorLoss(total=real + fake, real=real, fake=fake, category=real.new_zeros(()))


def video_discriminator_loss(
    real: VideoDiscriminatorOutput, fake: VideoDiscriminatorOutput, real_labels: torch.Tensor | None = None
) -> DiscriminatorLoss:
    """L_DV; pass the real clips' (B,) action labels to add the category cross-entropy."""
    real_term, fake_term = _bce(real.realness, 1.0), _bce(fake.realness, 0.0)
    category = category_loss(real.category_logits, real_labels)
    return DiscriminatorLoss(total=real_term + fake_term + category, real=real_term, fake=fake_term, category=category)


def generator_loss(
    fake_image_logits: torch.Tensor, fake_video: VideoDiscriminatorOutput, fake_labels: torch.Tensor | None = None,
    category_weight: float = 1.0,
) -> GeneratorLoss:
    """L_G; pass the (B,) labels that z_A encoded to add the category ("InfoGAN") cross-entropy, weighted by
    `category_weight` (the paper: 1)."""
    image_term, video_term = _bce(fake_image_logits, 1.0), _bce(fake_video.realness, 1.0)
    category = category_loss(fake_video.category_logits, fake_labels)
    return GeneratorLoss(
        total=image_term + video_term + category_weight * category,
        image_adversarial=image_term,
        video_adversarial=video_term,
        category=category,
    )


def fooling_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """G's term against one more discriminator (ours: the identity-pair critic): BCE(D(fake), 1)."""
    return _bce(fake_logits, 1.0)


def frame_pair(first: torch.Tensor, second: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One random frame of each of two clips (B, C, T, H, W), stacked on channels: (B, 2C, H, W)."""
    return torch.cat([random_frame_per_clip(first, generator), random_frame_per_clip(second, generator)], dim=1)


def random_frame_per_clip(video: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The fake image batch: one frame picked at random from each clip, (B, C, T, H, W) → (B, C, H, W)."""
    batch, num_frames = video.shape[0], video.shape[2]
    index = torch.randint(num_frames, (batch,), generator=generator, device=generator.device).to(video.device)
    return video[torch.arange(batch, device=video.device), :, index]  # (B, C, H, W)
