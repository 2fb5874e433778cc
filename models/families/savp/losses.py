"""SAVP objectives, optimiser settings and schedules (reference §5.5, §5.6). torch only.

Generator (the `savp` variant; weights from the config, so the ablations reuse the same code):

    L_G = l1_weight · mean|x̂^enc - x|  +  λ_KL(step) · mean_t max(free, mean_b Σ_d KL(q(z_t) ‖ N(0, 1)))
        + gan_weight · mean (D(x̂ clip) - 1)²  +  vae_gan_weight · mean (D_enc(x̂^enc clip) - 1)²
        + feature_matching_weight · Σ_l cosdist(F_l^{D_enc}(real clip), F_l^{D_enc}(x̂^enc clip))

Each discriminator: discriminator_weight · [mean (D(real) - 1)² + mean D(fake)²]. Update both discriminators first,
then the generator with the losses re-evaluated through the updated discriminators.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from models.families.savp.config import SavpConfig
from models.families.savp.discriminator import DiscriminatorOutput
from models.families.savp.networks import SavpTrainingOutput


@dataclass(frozen=True)
class SavpOptimiser:
    """Adam for the generator and each discriminator; lr constant, then linear decay to 0."""

    learning_rate: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 16
    decay_start: int = 200_000
    total_steps: int = 300_000


SAVP_OPTIMISER = SavpOptimiser()
"""`savp` and `gan` variants."""
ABLATION_OPTIMISER = SavpOptimiser(learning_rate=1e-3, betas=(0.9, 0.999), batch_size=32)
"""`deterministic` and `vae` variants (§5.5 ablations)."""


def optimiser_settings(config: SavpConfig) -> SavpOptimiser:
    return SAVP_OPTIMISER if config.uses_discriminators else ABLATION_OPTIMISER


def learning_rate_at(step: int, settings: SavpOptimiser) -> float:
    """Constant until `decay_start`, then linear to 0 at `total_steps`."""
    if step <= settings.decay_start:
        return settings.learning_rate
    remaining = max(settings.total_steps - step, 0) / (settings.total_steps - settings.decay_start)
    return settings.learning_rate * remaining


def kl_weight_at(step: int, config: SavpConfig) -> float:
    """λ_KL: 0 until `kl_anneal_start`, linear to `kl_weight` at `kl_anneal_end`, constant after."""
    if step >= config.kl_anneal_end:
        return config.kl_weight
    if step <= config.kl_anneal_start:
        return 0.0
    return config.kl_weight * (step - config.kl_anneal_start) / (config.kl_anneal_end - config.kl_anneal_start)


def scheduled_sampling_probability(step: int, k: float) -> float:
    """Probability of feeding the true frame at a future training step: k / (k + exp(step / k)), 0 once < 0.001."""
    exponent = step / k
    if exponent > 700:  # exp overflows; the probability is long since 0
        return 0.0
    probability = k / (k + math.exp(exponent))
    return probability if probability >= 1e-3 else 0.0


def kl_per_step(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """(T,): the mean over B of Σ_d KL(N(μ, σ²) ‖ N(0, 1)) for (B, T, nz) inputs; zeros when nz = 0."""
    return (-0.5 * (1 + logvar - mean**2 - logvar.exp())).sum(-1).mean(0)


def kl_to_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """mean over (B, T) of Σ_d KL(N(μ, σ²) ‖ N(0, 1)) for (B, T, nz) inputs; 0 when nz = 0."""
    return kl_per_step(mean, logvar).mean()


def kl_penalty(mean: torch.Tensor, logvar: torch.Tensor, free_nats: float) -> torch.Tensor:
    """The KL term the generator pays: per step, max(free_nats, mean over B of Σ_d KL), then the mean over steps.
    With free_nats 0 it equals `kl_to_standard_normal`; 0 when nz = 0."""
    if mean.shape[-1] == 0:
        return mean.new_zeros(())
    return kl_per_step(mean, logvar).clamp_min(free_nats).mean()


def lsgan_generator_loss(fake: DiscriminatorOutput) -> torch.Tensor:
    return ((fake.logits - 1) ** 2).mean()


def lsgan_discriminator_loss(real: DiscriminatorOutput, fake: DiscriminatorOutput) -> torch.Tensor:
    return ((real.logits - 1) ** 2).mean() + (fake.logits**2).mean()


def cosine_feature_matching(real: DiscriminatorOutput, fake: DiscriminatorOutput, eps: float = 1e-12) -> torch.Tensor:
    """Σ_layers ½ · mean over positions of ‖a/‖a‖ - b/‖b‖‖², the norm over channels (dim 1)."""
    total = real.logits.new_zeros(())
    for a, b in zip(real.features, fake.features, strict=True):
        a_unit = a / a.norm(dim=1, keepdim=True).clamp_min(eps)
        b_unit = b / b.norm(dim=1, keepdim=True).clamp_min(eps)
        total = total + 0.5 * ((a_unit - b_unit) ** 2).sum(1).mean()
    return total


@dataclass
class Critique:
    """One discriminator's verdict on the real clips and on one branch's clips (same windows)."""

    real: DiscriminatorOutput
    fake: DiscriminatorOutput


@dataclass
class SavpGeneratorLosses:
    total: torch.Tensor
    l1: torch.Tensor
    kl: torch.Tensor
    gan: torch.Tensor  # prior branch vs D
    vae_gan: torch.Tensor  # posterior branch vs D_enc
    feature_matching: torch.Tensor


def generator_loss(
    config: SavpConfig,
    step: int,
    frames: torch.Tensor,
    output: SavpTrainingOutput,
    prior_critique: Critique | None,
    posterior_critique: Critique | None,
) -> SavpGeneratorLosses:
    """`frames` (B, L, C, H, W); the L1 and the feature matching use the posterior branch when the variant has one,
    else the prior branch (GAN-only, deterministic). Pass a critique for each branch the variant has a D for."""
    l1_branch = output.posterior_branch if output.posterior_branch is not None else output.prior_branch
    if l1_branch is None:
        raise ValueError("training output has no branch")
    zero = frames.new_zeros(())
    l1 = (l1_branch - frames[:, 1:]).abs().mean()
    kl = kl_to_standard_normal(output.posterior_mean, output.posterior_logvar)
    paid_kl = kl_penalty(output.posterior_mean, output.posterior_logvar, config.kl_free_nats)
    gan = lsgan_generator_loss(prior_critique.fake) if prior_critique is not None else zero
    vae_gan = lsgan_generator_loss(posterior_critique.fake) if posterior_critique is not None else zero
    matched = posterior_critique if output.posterior_branch is not None else prior_critique
    feature_matching = cosine_feature_matching(matched.real, matched.fake) if matched is not None else zero
    total = (
        config.l1_weight * l1
        + kl_weight_at(step, config) * paid_kl
        + config.gan_weight * gan
        + config.vae_gan_weight * vae_gan
        + config.feature_matching_weight * feature_matching
    )
    return SavpGeneratorLosses(total, l1, kl, gan, vae_gan, feature_matching)


def discriminator_loss(config: SavpConfig, critique: Critique) -> torch.Tensor:
    """discriminator_weight · LSGAN loss; the caller detaches the generated clips."""
    return config.discriminator_weight * lsgan_discriminator_loss(critique.real, critique.fake)
