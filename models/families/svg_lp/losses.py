"""SVG-LP objective and optimiser settings (reference §4.4). torch only.

Loss = Σ_i MSE_i + β Σ_i KL(q_i ‖ p_i): MSE a per-pixel mean per step, KL summed over latent dimensions and
averaged over the batch, both summed over the T-1 predicted steps (context steps included).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.families.svg_lp.networks import SvgLpTrainingOutput


@dataclass(frozen=True)
class AdamSettings:
    """Adam, one optimiser per module (encoder, decoder, predictor, posterior, prior)."""

    learning_rate: float = 2e-3
    betas: tuple[float, float] = (0.9, 0.999)
    batch_size: int = 100
    epochs: int = 300
    iterations_per_epoch: int = 600


SVG_ADAM = AdamSettings()
"""The paper/code setting for SM-MNIST and BAIR."""
SVG_FP_KTH_ADAM = AdamSettings(learning_rate=8e-4)
"""KTH-64 SVG-FP in the public README."""


@dataclass
class SvgLpLosses:
    total: torch.Tensor
    reconstruction: torch.Tensor  # Σ_i MSE_i
    kl: torch.Tensor  # Σ_i KL_i


def gaussian_kl(
    q_mean: torch.Tensor, q_logvar: torch.Tensor, p_mean: torch.Tensor, p_logvar: torch.Tensor
) -> torch.Tensor:
    """Elementwise KL(N(q_mean, e^q_logvar) ‖ N(p_mean, e^p_logvar)) = log σp/σq + (σq² + (μq-μp)²)/(2σp²) - ½."""
    return 0.5 * (p_logvar - q_logvar) + (q_logvar.exp() + (q_mean - p_mean) ** 2) / (2 * p_logvar.exp()) - 0.5


def svg_lp_loss(output: SvgLpTrainingOutput, frames: torch.Tensor, kl_weight: float) -> SvgLpLosses:
    """`frames` (B, T, C, H, W) is the sequence the output was computed on; targets are frames 1..T-1."""
    targets = frames[:, 1:]  # (B, T-1, C, H, W)
    reconstruction = ((output.reconstructions - targets) ** 2).mean(dim=(0, 2, 3, 4)).sum()
    kl_terms = gaussian_kl(output.posterior_mean, output.posterior_logvar, output.prior_mean, output.prior_logvar)
    kl = kl_terms.sum(dim=2).mean(dim=0).sum()  # Σ dims, mean batch, Σ steps
    return SvgLpLosses(total=reconstruction + kl_weight * kl, reconstruction=reconstruction, kl=kl)
