"""SVG-LP config and named presets (reference §4, CPU preset §10). Torch-free.

`kl_weight` (β) belongs with the image size and latent size: the MSE is a per-pixel mean and the KL a per-dimension
sum, so the presets keep them together.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from models.core.config_checks import require_positive

SvgVariant = Literal["learned_prior", "fixed_prior", "deterministic"]
"""`learned_prior` = SVG-LP; `fixed_prior` = SVG-FP (prior N(0, I)); `deterministic` = the same network without z."""

FrameCodec = Literal["dcgan", "vgg"]
"""`dcgan`: strided 4×4 convs (SM-MNIST, §4.2); `vgg`: 3×3 conv blocks and max-pooling, 64×64 only (KTH/BAIR, §4.3)."""


@dataclass(frozen=True)
class SvgLpConfig:
    """Network sizes, variant, sequence lengths and β of one SVG model."""

    image_channels: int = 1
    """Colour channels: 1 for digits, 3 for RGB."""
    image_size: int = 64
    """Square frame side in pixels."""
    codec: FrameCodec = "dcgan"
    """Frame encoder/decoder architecture."""
    codec_widths: tuple[int, ...] = (64, 128, 256, 512)
    """Channels at each encoder resolution (one entry per halving); the decoder mirrors them."""
    refine_channels: int = 0
    """Ours, dcgan codec only: channels of a zero-initialised full-resolution refinement after the decoder's last
    up-convolution (0 = the paper's decoder)."""
    frame_dim: int = 128
    """g: size of the frame code produced by the encoder and by the frame predictor."""
    latent_dim: int = 10
    """z: size of the stochastic latent; 0 exactly for the deterministic variant."""
    rnn_size: int = 256
    """Hidden units of every LSTM cell."""
    predictor_layers: int = 2
    """Stacked LSTM cells in the frame predictor."""
    posterior_layers: int = 1
    """Stacked LSTM cells in the posterior q_φ."""
    prior_layers: int = 1
    """Stacked LSTM cells in the learned prior p_ψ (used by `learned_prior` only)."""
    variant: SvgVariant = "learned_prior"
    """Which latent model: learned prior (LP), fixed N(0, I) prior (FP) or none (deterministic)."""
    context_frames: int = 5
    """n_past: ground-truth frames given before prediction."""
    future_frames: int = 10
    """n_future: predicted frames per training sequence."""
    kl_weight: float = 1e-4
    """β in Σ MSE + β Σ KL (1e-4 SM-MNIST/BAIR, 1e-6 KTH; 0 for the deterministic variant)."""

    def __post_init__(self) -> None:
        if self.image_channels < 1:
            raise ValueError(f"image_channels must be >= 1, got {self.image_channels}")
        if not self.codec_widths or min(self.codec_widths) < 1:
            raise ValueError(f"codec_widths must be non-empty and positive, got {self.codec_widths}")
        if self.codec == "vgg" and (self.image_size != 64 or len(self.codec_widths) != 4):
            raise ValueError("the vgg codec is defined for 64x64 frames with 4 widths (4 max-pools down to 4x4)")
        if self.codec == "dcgan" and self.image_size % (2 ** len(self.codec_widths)) != 0:
            raise ValueError(
                f"image_size {self.image_size} must be divisible by 2**{len(self.codec_widths)} (one halving per width)"
            )
        if self.refine_channels < 0 or (self.refine_channels and self.codec != "dcgan"):
            raise ValueError(f"refine_channels must be >= 0 and only with the dcgan codec, got {self.refine_channels}")
        if self.codec not in ("dcgan", "vgg"):
            raise ValueError(f"unknown codec {self.codec!r}; valid: dcgan, vgg")
        if self.variant not in ("learned_prior", "fixed_prior", "deterministic"):
            raise ValueError(f"unknown variant {self.variant!r}; valid: learned_prior, fixed_prior, deterministic")
        if (self.variant == "deterministic") != (self.latent_dim == 0):
            raise ValueError("latent_dim must be 0 exactly when variant is 'deterministic'")
        if self.variant == "deterministic" and self.kl_weight != 0:
            raise ValueError("the deterministic variant has no KL term: kl_weight must be 0")
        require_positive(frame_dim=self.frame_dim, rnn_size=self.rnn_size, predictor_layers=self.predictor_layers,
                         posterior_layers=self.posterior_layers, prior_layers=self.prior_layers)
        if self.latent_dim < 0 or self.kl_weight < 0:
            raise ValueError("latent_dim and kl_weight must be >= 0")
        if self.context_frames < 1 or self.future_frames < 1:
            raise ValueError("context_frames and future_frames must be >= 1")

    @property
    def is_stochastic(self) -> bool:
        return self.variant != "deterministic"

    @property
    def sequence_frames(self) -> int:
        """Frames in one training sequence (n_past + n_future)."""
        return self.context_frames + self.future_frames


def deterministic_of(config: SvgLpConfig) -> SvgLpConfig:
    """The same network with z removed and no KL: the quality control of the stochastic model."""
    return dataclasses.replace(config, variant="deterministic", latent_dim=0, kl_weight=0.0)


_PAPER = SvgLpConfig()  # SM-MNIST, DCGAN-64, g 128, z 10, LSTM 256: 12,614,057 parameters (§4.2)
# SVG-LP small (§10): 32×32 digits, DCGAN with 3 down-convs, g 64, z 8, LSTMs 128. Measured here: 0.47 s per training
# step (forward + backward + Adam), batch 16, 5 + 10 frames, one CPU thread (the reference gives 0.54 s).
_SMALL = SvgLpConfig(image_size=32, codec_widths=(32, 64, 128), frame_dim=64, latent_dim=8, rnn_size=128)
# The same codec with the paper's SM-MNIST frame code, z and LSTM sizes (g 128, z 10, LSTMs 256): the small
# preset's random samples are soft even one frame ahead (its 64-d frame code), 0.71 s per step against 0.57 measured
# side by side (one thread, batch 16, the machine shared with two other trainings).
_SMALL_G128 = dataclasses.replace(_SMALL, frame_dim=128, latent_dim=10, rnn_size=256)
_TINY = SvgLpConfig(
    image_size=16, codec_widths=(8, 16), frame_dim=16, latent_dim=4, rnn_size=16, context_frames=2, future_frames=3
)

PRESETS: dict[str, SvgLpConfig] = {
    "svg_lp-paper": _PAPER,
    "svg_lp-paper-fp": dataclasses.replace(_PAPER, variant="fixed_prior"),
    "svg_lp-paper-deterministic": deterministic_of(_PAPER),
    # BAIR action-free (§4.3): VGG-64, RGB, z 64, n_past 2, n_future 10: 22,831,747 parameters.
    "svg_lp-bair": SvgLpConfig(
        image_channels=3, codec="vgg", latent_dim=64, context_frames=2, future_frames=10, kl_weight=1e-4
    ),
    "svg_lp-small": _SMALL,
    "svg_lp-small-deterministic": deterministic_of(_SMALL),
    "svg_lp-small-g128": _SMALL_G128,
    "svg_lp-small-g128-deterministic": deterministic_of(_SMALL_G128),
    "svg_lp-tiny": _TINY,
    "svg_lp-tiny-fp": dataclasses.replace(_TINY, variant="fixed_prior"),
    "svg_lp-tiny-deterministic": deterministic_of(_TINY),
}
