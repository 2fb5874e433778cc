"""TGAN objectives, singular value clipping and optimiser settings (reference §2.4). torch only.

    L_D = mean D(G(z)) - mean D(x_real)        L_G = -mean D(G(z))

One iteration: G step first (L_G into G0 and G1), then the critic step on the detached fake batch; one critic step
per G step. Every `OPTIMISER.svc_interval`-th iteration, `singular_value_clip(critic)` after the updates.

The paper's "normal GAN" comparison variant: sigmoid cross-entropy on the same critic, used as a discriminator (real
→ 1, fake → 0; G pushes its fakes towards 1, the usual convention rather than the code's inverted labels), with
instance noise of σ `NORMAL_GAN_INSTANCE_NOISE` after every critic conv while training, and no clipping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from models.families.tgan.networks import ScaleOnlyBatchNorm

NORMAL_GAN_INSTANCE_NOISE = 0.3
"""σ of the normal-GAN variant's instance noise (reference §2.4)."""
BN_SCALE_FLOOR = 0.01
"""SVC clips each batch-norm γ into [BN_SCALE_FLOOR · σ, σ], σ = sqrt(running variance)."""
CLIPPED_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORM_LAYERS = (ScaleOnlyBatchNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@dataclass(frozen=True)
class OptimiserSettings:
    """RMSprop for G0, G1 and the critic; SVC after every svc_interval-th iteration."""

    lr: float = 5e-5
    alpha: float = 0.99
    """RMSprop's squared-gradient decay."""
    eps: float = 1e-8
    batch: int = 32
    critic_steps_per_generator_step: int = 1
    svc_interval: int = 5
    iterations: int = 100_000
    weight_clip: float = 0.01
    """Only for the weight-clipping baseline (`clip_critic_weights` after every step instead of SVC)."""


OPTIMISER = OptimiserSettings()


def critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """L_D = mean D(fake) - mean D(real) over the critic's (B, T') scores."""
    return fake_scores.mean() - real_scores.mean()


def generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """L_G = -mean D(fake)."""
    return -fake_scores.mean()


def gan_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Normal-GAN variant: sigmoid cross-entropy, real scores (logits) → 1, fake → 0, each averaged."""
    real = F.binary_cross_entropy_with_logits(real_scores, torch.ones_like(real_scores))
    return real + F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores))


def gan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Normal-GAN variant: the fakes' logits pushed towards "real"."""
    return F.binary_cross_entropy_with_logits(fake_scores, torch.ones_like(fake_scores))


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator) -> torch.Tensor:
    """WGAN-GP's term (Gulrajani et al. 2017; ours for TGAN): mean over clips of (‖∇ D(x̂)‖₂ - 1)², x̂ = ε real +
    (1 - ε) fake with ε ~ U(0, 1) per clip, D(x̂) a clip's mean score. Differentiable (for the critic's update)."""
    eps = torch.rand(real.shape[0], generator=generator, device=generator.device).to(real)  # (B,)
    eps = eps.view(-1, *([1] * (real.dim() - 1)))  # (B, 1, ...)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)  # (B, ...)
    scores = critic(mixed).float().reshape(real.shape[0], -1).mean(1)  # (B,)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)  # (B, ...)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


@torch.no_grad()
def clip_singular_values(weight: torch.Tensor, limit: float = 1.0) -> None:
    """In place: view the weight as (out_channels, everything else), W = U diag(s) Vᵀ, s ← min(s, limit), write
    U diag(s) Vᵀ back. A conv kernel (out, in, k...) and a linear weight (out, in) are both reshaped that way."""
    matrix = weight.reshape(weight.shape[0], -1)  # (out, in · k...)
    left, singular, right = torch.linalg.svd(matrix, full_matrices=False)
    clipped = (left * singular.clamp(max=limit)) @ right  # (out, in · k...)
    weight.copy_(clipped.view_as(weight))


@torch.no_grad()
def clip_batch_norm_scales(module: nn.Module) -> None:
    """In place, for every batch norm: γ ← clamp(γ, BN_SCALE_FLOOR · σ, σ), σ = sqrt(running variance)."""
    for layer in module.modules():
        if isinstance(layer, NORM_LAYERS) and layer.weight is not None:
            sigma = layer.running_var.sqrt()
            layer.weight.copy_(torch.maximum(torch.minimum(layer.weight, sigma), BN_SCALE_FLOOR * sigma))


@torch.no_grad()
def singular_value_clip(critic: nn.Module) -> None:
    """SVC: clip every conv and linear weight's singular values to ≤ 1, and every batch-norm γ (see above)."""
    for layer in critic.modules():
        if isinstance(layer, CLIPPED_LAYERS):
            clip_singular_values(layer.weight)
    clip_batch_norm_scales(critic)


@torch.no_grad()
def clip_critic_weights(critic: nn.Module, limit: float = OPTIMISER.weight_clip) -> None:
    """The WGAN weight-clipping baseline: every critic parameter clamped into [-limit, limit]."""
    for parameter in critic.parameters():
        parameter.clamp_(-limit, limit)
