"""SAVP config and named presets (reference §5). Torch-free.

The paper's ablations are variants of one config (`variant`): `savp` (VAE + GAN branches), `vae` (VAE-only),
`gan` (GAN-only) and `deterministic` (no z, L1 only). Loss weights live here because they change with the data set
and the variant; optimiser settings and schedules are in `losses`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from models.core.config_checks import require_positive

SavpVariant = Literal["savp", "vae", "gan", "deterministic"]
CdnaNormalisation = Literal["relu", "softmax"]


@dataclass(frozen=True)
class SavpConfig:
    """Generator, posterior and discriminator sizes, sequence lengths and loss weights of one SAVP model."""

    image_channels: int = 3
    """Colour channels."""
    image_size: int = 64
    """Square frame side; divisible by 8 (three downsamplings)."""
    ngf: int = 32
    """Generator base width: stages use ngf, 2ngf, 4ngf (encoder) and 2ngf, ngf, ngf (decoder)."""
    latent_dim: int = 8
    """nz: per-step latent size; 0 exactly for the deterministic variant."""
    cdna_kernels: int = 4
    """Number of CDNA transformations of the current image."""
    cdna_kernel_size: int = 5
    """Side of each CDNA kernel (odd)."""
    cdna_normalisation: CdnaNormalisation = "relu"
    """How dense outputs become kernels: the paper's ReLU(raw + identity) / sum, or (our departure) a softmax over
    the taps with the identity as a logit bias, which leaves no tap without gradient."""
    mask_logit_bound: float = 0.0
    """Ours, off (0) in the paper: when b > 0 the compositing logits pass through b·tanh(logit / b) before the
    softmax, so no candidate's weight falls below e^(-2b) of another's and every candidate keeps a gradient. The
    paper's unbounded masks put 1.000 on one copy of the current frame within 1,000 steps on 32×32 people clips,
    after which nothing else learns (docs/models/people-future.md)."""
    latent_shift: bool = False
    """Ours, off in the paper: z also shifts, per channel, every map an instance norm has normalised after a z input
    (`layers.LatentShift`). The paper tiles z and concatenates it before each convolution, which adds a constant per
    channel that the IN right after subtracts: only the zero-padded borders carry z on, and two prior samples of a
    trained 32×32 model differ by 1e-4 per pixel however much the posterior encodes (docs/models/people-future.md)."""
    convlstm_kernel_size: int = 5
    """Kernel of the gate convolution inside every ConvLSTM."""
    posterior_ndf: int = 64
    """Posterior encoder widths: ndf, 2ndf, 4ndf."""
    discriminator_ndf: int = 32
    """Video discriminator widths: ndf × (1, 2, 2, 4, 4, 8, 8)."""
    discriminator_clip_frames: int = 10
    """Consecutive frames per discriminator window (at least 4)."""
    discriminator_motion_scale: float = 0.0
    """Ours, off (0) in the paper: when > 0 each discriminator also sees the frame-to-frame differences times this
    scale as extra channels. The paper's discriminator learns blur and noise but not motion at 32×32 here (a frozen
    clip and a moving one stay at chance for 1,000 steps; with differences ×10 it separates them within 200:
    docs/eval/eval_digits_savp.md), so its GAN terms cannot reward a prediction that moves."""
    variant: SavpVariant = "savp"
    """Which ablation this model trains as."""
    context_frames: int = 2
    """Ground-truth frames given before prediction."""
    sequence_frames: int = 12
    """Frames per training sequence (context included)."""
    l1_weight: float = 100.0
    """Weight of mean |x̂ - x| (on the posterior branch when there is one, else on the prior branch)."""
    kl_weight: float = 1.0
    """Final λ_KL of KL(q(z_t) ‖ N(0, I)) (BAIR 1, KTH 0.01)."""
    kl_free_nats: float = 0.0
    """Ours, off (0) in the paper ("free bits", Kingma et al. 2016): the KL of a step, summed over z and averaged over
    the batch, costs nothing below this many nats, so the posterior keeps what helps the reconstruction. Against the
    paper's fixed N(0, I) prior the KL, however light its weight (1e-4 in the VAE-only variant), empties z within
    ~500 steps of its anneal start (2.6 nats to 0.003 on action-switch clips) and the prior samples become one."""
    kl_anneal_start: int = 50_000
    """Step at which λ_KL starts rising linearly from 0."""
    kl_anneal_end: int = 100_000
    """Step at which λ_KL reaches `kl_weight`."""
    gan_weight: float = 0.1
    """LSGAN generator term on the prior (GAN) branch, judged by its own discriminator."""
    vae_gan_weight: float = 0.1
    """LSGAN generator term on the posterior (VAE) branch, judged by D_enc."""
    feature_matching_weight: float = 10.0
    """Cosine feature matching between real and L1-branch clips in that branch's discriminator."""
    discriminator_weight: float = 0.1
    """Weight of each discriminator's LSGAN loss."""
    scheduled_sampling_k: float = 900.0
    """k in p(ground truth) = k / (k + exp(step / k))."""

    def __post_init__(self) -> None:
        if self.variant not in ("savp", "vae", "gan", "deterministic"):
            raise ValueError(f"unknown variant {self.variant!r}; valid: savp, vae, gan, deterministic")
        if self.image_size % 8 != 0 or self.image_size < 8:
            raise ValueError(f"image_size must be a positive multiple of 8, got {self.image_size}")
        if self.cdna_normalisation not in ("relu", "softmax"):
            raise ValueError(f"unknown cdna_normalisation {self.cdna_normalisation!r}; valid: relu, softmax")
        if self.cdna_kernel_size % 2 == 0 or self.convlstm_kernel_size % 2 == 0:
            raise ValueError("cdna_kernel_size and convlstm_kernel_size must be odd")
        require_positive(image_channels=self.image_channels, ngf=self.ngf, cdna_kernels=self.cdna_kernels,
                         posterior_ndf=self.posterior_ndf, discriminator_ndf=self.discriminator_ndf,
                         context_frames=self.context_frames)
        if (self.variant == "deterministic") != (self.latent_dim == 0) or self.latent_dim < 0:
            raise ValueError("latent_dim must be 0 exactly when variant is 'deterministic', positive otherwise")
        if self.mask_logit_bound < 0:
            raise ValueError("mask_logit_bound must be >= 0 (0: unbounded, the paper)")
        if self.kl_free_nats < 0:
            raise ValueError("kl_free_nats must be >= 0 (0: every nat costs, the paper)")
        if self.discriminator_motion_scale < 0:
            raise ValueError("discriminator_motion_scale must be >= 0")
        if self.sequence_frames <= self.context_frames:
            raise ValueError("sequence_frames must exceed context_frames")
        if self.uses_discriminators and not 4 <= self.discriminator_clip_frames <= self.sequence_frames - 1:
            raise ValueError("discriminator_clip_frames must be in [4, sequence_frames - 1]")
        if not self.uses_posterior and self.kl_weight != 0:
            raise ValueError(f"variant {self.variant!r} has no posterior: kl_weight must be 0")
        if self.variant in ("vae", "deterministic") and (self.gan_weight or self.vae_gan_weight):
            raise ValueError(f"variant {self.variant!r} has no discriminator: GAN weights must be 0")
        if self.variant == "gan" and self.vae_gan_weight:
            raise ValueError("the GAN-only variant has no posterior branch: vae_gan_weight must be 0")
        if self.kl_anneal_end < self.kl_anneal_start:
            raise ValueError("kl_anneal_end must be >= kl_anneal_start")

    @property
    def uses_posterior(self) -> bool:
        """A posterior encoder and a VAE (posterior) branch: `savp` and `vae`."""
        return self.variant in ("savp", "vae")

    @property
    def uses_prior_branch(self) -> bool:
        """An unroll with z from the prior after the context: `savp`, `gan` and (z-free) `deterministic`."""
        return self.variant in ("savp", "gan", "deterministic")

    @property
    def uses_discriminators(self) -> bool:
        return self.variant in ("savp", "gan")


def variant_of(config: SavpConfig, variant: SavpVariant) -> SavpConfig:
    """The same network trained as an ablation, with the reference's loss weights for that ablation (§5.5)."""
    if variant == "savp":
        return dataclasses.replace(config, variant="savp")
    if variant == "deterministic":
        return dataclasses.replace(
            config, variant=variant, latent_dim=0, l1_weight=1.0, kl_weight=0.0, gan_weight=0.0, vae_gan_weight=0.0,
            feature_matching_weight=0.0,
        )  # fmt: skip
    if variant == "vae":
        # L1 weight 1, KL 1e-5 (the reference gives 1e-5 for KTH; no BAIR value is given, so we use the same).
        return dataclasses.replace(
            config, variant=variant, l1_weight=1.0, kl_weight=1e-5, gan_weight=0.0, vae_gan_weight=0.0,
            feature_matching_weight=0.0,
        )  # fmt: skip
    return dataclasses.replace(config, variant="gan", kl_weight=0.0, vae_gan_weight=0.0)  # 100·L1 + 0.1 GAN + 10 FM


# BAIR action-free, 64×64, ngf 32, nz 8: generator 6,683,193; posterior 666,832; each discriminator 5,144,001.
_PAPER = SavpConfig()
# CPU preset (32×32, the paper's 2 + 10 frames; the widths are ours): ngf 8, posterior ndf 16, discriminator ndf 8
# (ngf 16 cost ~4x more). Measured here: 3.5 s per full training step alone (both discriminators, then the
# generator; batch 16, one CPU thread), 5-10 s on the shared CPU at batch 8. A CPU run is ~1k steps, not 300k: the
# schedules keep the paper's shape at that length (KL annealed in over steps 200-500 as the paper's 50k-100k; the
# true frame fed with p ≈ 0.5 at step 150 and 0 from ~step 420, as k = 900 does at 6k / 10k of 300k).
# Softmax CDNA kernels: the paper's ReLU kernels, pushed off the identity, lose every off-centre tap to the ReLU's
# zero-gradient side. What holds SAVP's kernels on the identity (a copy) at lr 2e-4 is the learning rate: at 1e-3
# they move (docs/eval/eval_digits_savp.md).
_SMALL = SavpConfig(
    image_size=32, ngf=8, posterior_ndf=16, discriminator_ndf=8, kl_anneal_start=200, kl_anneal_end=500,
    scheduled_sampling_k=40.0, cdna_normalisation="softmax",
)
_TINY = SavpConfig(
    image_size=16, ngf=4, cdna_kernels=2, posterior_ndf=4, discriminator_ndf=2, latent_dim=2,
    discriminator_clip_frames=4, context_frames=2, sequence_frames=6, kl_anneal_start=0, kl_anneal_end=0,
)  # fmt: skip

PRESETS: dict[str, SavpConfig] = {
    "savp-paper": _PAPER,
    "savp-paper-vae": variant_of(_PAPER, "vae"),
    "savp-paper-gan": variant_of(_PAPER, "gan"),
    "savp-paper-deterministic": variant_of(_PAPER, "deterministic"),
    "savp-kth": dataclasses.replace(_PAPER, context_frames=10, sequence_frames=20, kl_weight=0.01),
    "savp-small": _SMALL,
    "savp-small-vae": variant_of(_SMALL, "vae"),
    "savp-small-deterministic": variant_of(_SMALL, "deterministic"),
    "savp-tiny": _TINY,
    "savp-tiny-vae": variant_of(_TINY, "vae"),
    "savp-tiny-gan": variant_of(_TINY, "gan"),
    "savp-tiny-deterministic": variant_of(_TINY, "deterministic"),
}
