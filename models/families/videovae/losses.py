"""VideoVAE objectives and optimiser settings (reference §6.1, §6.3). torch only.

Stage 1: the encoder and attribute classifier learn per-frame action and identity with cross-entropy.
Stage 2 (encoder frozen): per clip, Σ_frames [Σ_pixels |x̂_t - x_t| + kl_weight · Σ_dims KL(q_dy ‖ p)], averaged
over the batch. With our synthetic data a_t is the true label, not the classifier's prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.families.videovae.codecs import AttributeLogits
from models.families.videovae.networks import VideoVaeTrainingOutput


@dataclass(frozen=True)
class AdamSettings:
    learning_rate: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    batch_size: int = 32


VIDEOVAE_ADAM = AdamSettings()
"""The port's setting, used for both stages (the reference gives no separate classifier setting)."""


@dataclass
class VideoVaeLosses:
    total: torch.Tensor
    reconstruction: torch.Tensor  # Σ frames Σ pixels |x̂ - x|, batch mean
    kl: torch.Tensor  # Σ frames Σ dims KL(q_dy ‖ p), batch mean


@dataclass
class AttributeLosses:
    total: torch.Tensor
    action: torch.Tensor
    identity: torch.Tensor


def gaussian_kl(
    q_mean: torch.Tensor, q_logvar: torch.Tensor, p_mean: torch.Tensor, p_logvar: torch.Tensor
) -> torch.Tensor:
    """Elementwise KL(N(q_mean, e^q_logvar) ‖ N(p_mean, e^p_logvar))."""
    return 0.5 * (p_logvar - q_logvar) + (q_logvar.exp() + (q_mean - p_mean) ** 2) / (2 * p_logvar.exp()) - 0.5


def videovae_loss(output: VideoVaeTrainingOutput, frames: torch.Tensor, kl_weight: float) -> VideoVaeLosses:
    """`frames` (B, T, C, S, S) in [-1, 1], the clip the output was computed on."""
    batch = frames.shape[0]
    reconstruction = (output.reconstructions - frames).abs().sum() / batch
    kl = gaussian_kl(output.posterior_mean, output.posterior_logvar, output.prior_mean, output.prior_logvar).sum()
    kl = kl / batch
    return VideoVaeLosses(reconstruction + kl_weight * kl, reconstruction, kl)


def attribute_classification_loss(
    logits: AttributeLogits, actions: torch.Tensor, identities: torch.Tensor
) -> AttributeLosses:
    """Cross-entropy of the per-frame action and identity logits against integer labels (N,)."""
    action = F.cross_entropy(logits.action, actions)
    identity = F.cross_entropy(logits.identity, identities)
    return AttributeLosses(action + identity, action, identity)
