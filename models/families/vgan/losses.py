"""VGAN objectives and optimiser settings (reference §1.3), as pure functions on network outputs. torch only.

    L_D = ½ [BCE(D(x_real), 1) + BCE(D(G(z)), 0)]
    L_G = BCE(D(G(z)), 1) + λ · mean |m|,   λ = 0.1 (mean over every mask element)

Order: the D step, then the G step with D(G(z)) recomputed after D's update (the original code reused D's output
from before its update).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

MASK_SPARSITY_WEIGHT = 0.1
"""λ of the mask L1 term."""


@dataclass(frozen=True)
class OptimiserSettings:
    """Adam for G and D."""

    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    batch: int = 64
    epochs: int = 100
    """Passes over the clip list (clips are drawn uniformly with replacement)."""


OPTIMISER = OptimiserSettings()


@dataclass
class GeneratorLoss:
    """G's loss and its terms (scalars)."""

    total: torch.Tensor
    adversarial: torch.Tensor
    mask_sparsity: torch.Tensor  # mean |m|, before weighting


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Mean sigmoid cross-entropy against a constant target, in fp32 (the logits may come from a bf16 forward)."""
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """L_D: the mean of the real-labelled and fake-labelled cross-entropies."""
    return 0.5 * (_bce(real_logits, 1.0) + _bce(fake_logits, 0.0))


def mask_sparsity(mask: torch.Tensor) -> torch.Tensor:
    """mean |m| over every element of the (B, 1, T, H, W) mask."""
    return mask.float().abs().mean()


def generator_loss(
    fake_logits: torch.Tensor, mask: torch.Tensor, mask_weight: float = MASK_SPARSITY_WEIGHT
) -> GeneratorLoss:
    """L_G: non-saturating GAN loss (fakes labelled real) + mask_weight · mean |m|."""
    adversarial, sparsity = _bce(fake_logits, 1.0), mask_sparsity(mask)
    return GeneratorLoss(total=adversarial + mask_weight * sparsity, adversarial=adversarial, mask_sparsity=sparsity)
