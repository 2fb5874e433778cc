"""VideoVAE config and named presets (reference §6). Torch-free.

The reference marks the paper's layers, sizes and loss weights as unverified; the defaults reproduce the design
described there (9,187,165 parameters with 10 actions and 9 identities) and are our choices, not the paper's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class VideoVaeConfig:
    """Encoder/decoder widths, latent model sizes, attribute sets and loss weights of one VideoVAE model."""

    image_channels: int = 3
    """Colour channels."""
    image_size: int = 64
    """Square frame size: 64 (the port's conv arithmetic) or 32 (our CPU scale: the same four unpadded convs with
    kernels and strides scaled to 32 → 28 → 13 → 10 → 4, `codecs.CONV_PLANS`)."""
    conv_plan: str = "port"
    """Geometry of the four encoder convs (mirrored by the decoder): "port" (unpadded, as the port) or "padded"
    (ours: padded 4×4 stride-2 convs, which learn far faster here; `codecs.CONV_PLANS`)."""
    decoder_upsampling: str = "transposed"
    """How the decoder mirrors each encoder conv: "transposed" (the port's ConvTs) or "resize" (ours, padded plan
    only: nearest upsampling by the conv's stride, 3×3 conv, BN, ReLU, then a full-size 3×3 conv to colour; as an
    autoencoder on data/actions32-weizmann it reached in 600 steps the L1 the ConvTs took 3,000 for)."""
    encoder_widths: tuple[int, int, int, int] = (10, 20, 40, 80)
    """Channels of the four encoder convs (9×9 s1, 7×7 s3, 5×5 s1, 3×3 s3); the decoder mirrors them."""
    encoder_hidden: int = 1024
    """Hidden fc width between the conv features (width[3]·4·4) and the frame feature, in encoder and decoder."""
    feature_dim: int = 512
    """x_enc: the encoder's frame feature."""
    classifier_hidden: int = 128
    """Hidden width of the attribute classifier on x_enc."""
    latent_dim: int = 512
    """z_t and every Gaussian's dimension (q, q_a, q_dy, prior)."""
    lstm_size: int = 512
    """Hidden units of the LSTM (and the output of φ)."""
    mlp_hidden: int = 128
    """Hidden width of φ and of every Gaussian MLP."""
    num_actions: int = 10
    """Action classes (Weizmann: 10)."""
    num_identities: int = 9
    """Identity classes (Weizmann: 9)."""
    dropout: float = 0.5
    """2-D dropout on the encoder's conv features (training mode only)."""
    clip_frames: int = 10
    """Frames per training clip."""
    linear_init_std: float | None = 0.001
    """Linear layers start N(0, std²) with zero biases (the port's 0.001); None: torch's default initialisation.
    At 0.001 every Gaussian starts at ≈ N(0, I) whatever its input and a stack of such layers passes almost no
    gradient: our small presets use None (measured: the attribute classifier does not move in 150 steps at lr 1e-4
    from the port's initialisation)."""
    posterior_logvar_init: float | None = None
    """Start value of q_dy's log σ² (its output bias; the weights feeding it start at zero); None: the layer's own
    initialisation (log σ² ≈ 0, σ ≈ 1). Ours: with σ ≈ 1 the sampled z starts as noise around a small mean, the
    decoder learns the mean frame and ignores z, and z never gains information (measured on
    data/actions32-weizmann: posterior σ 0.93, decoding μ no better than the mean frame after 750 ELBO steps, KL weight
    ≤ 0.05)."""
    conv_init_kaiming: bool = True
    """Conv and ConvT weights Kaiming normal (fan-out), the port's; False: torch's default. Measured as an autoencoder
    on data/actions32-weizmann (600 steps, resize decoder): L1 196 per frame with the port's initialisation (its colour
    layer starts large, so the tanh saturates), 127 with torch's."""
    kl_weight: float = 1.0
    """Weight of Σ_dims KL(q_dy ‖ p) against Σ_pixels |x̂ - x| (the port adds them unweighted)."""
    look_dropout: float = 0.0
    """Ours (0 in every preset): the probability, per training clip, that the identity block of a is left blank (all
    zero), so that the prior learns to take the look from the frames the LSTM observed. A model trained with it
    serves a job that asks for no look with the block blank: a person it never saw keeps their own look instead of
    becoming the nearest of the looks it learned (the one-hot can name no other)."""
    context_skips: bool = False
    """Ours (off in every preset; needs `look_dropout` and the resize decoder): where the look is blank, each decoder
    stage also reads, through a zero-initialised 3×3 conv, what its mirrored encoder conv read from the latest real
    frame (the clip's first in training, the last context frame when serving), as SVG's skips do, and a learnt mask
    may copy that frame's pixels into the output (`codecs.ContextSkips`). Measured: from z
    alone the decoder rendered people it never saw at ~26 dB PSNR even as a posterior reconstruction (31 dB for the
    people it learned), below copying the last frame for most of a 12-frame future."""

    def __post_init__(self) -> None:
        sizes = {
            "image_channels": self.image_channels,
            "encoder_hidden": self.encoder_hidden,
            "feature_dim": self.feature_dim,
            "classifier_hidden": self.classifier_hidden,
            "latent_dim": self.latent_dim,
            "lstm_size": self.lstm_size,
            "mlp_hidden": self.mlp_hidden,
            "num_actions": self.num_actions,
            "num_identities": self.num_identities,
            "clip_frames": self.clip_frames,
        }
        for name, value in sizes.items():
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.conv_plan not in ("port", "padded"):
            raise ValueError(f"conv_plan must be 'port' or 'padded', got {self.conv_plan!r}")
        if self.decoder_upsampling not in ("transposed", "resize"):
            raise ValueError(f"decoder_upsampling must be 'transposed' or 'resize', got {self.decoder_upsampling!r}")
        if self.decoder_upsampling == "resize" and self.conv_plan != "padded":
            raise ValueError("decoder_upsampling 'resize' needs conv_plan 'padded' (sizes that strides divide)")
        if self.image_size not in (32, 64):
            raise ValueError(f"image_size must be 32 or 64, got {self.image_size}")
        if len(self.encoder_widths) != 4 or min(self.encoder_widths) < 1:
            raise ValueError(f"encoder_widths must be four positive widths, got {self.encoder_widths}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.linear_init_std is not None and self.linear_init_std <= 0:
            raise ValueError(f"linear_init_std must be > 0 or None, got {self.linear_init_std}")
        if self.posterior_logvar_init is not None and not -20 <= self.posterior_logvar_init <= 5:
            raise ValueError(f"posterior_logvar_init must be in [-20, 5], got {self.posterior_logvar_init}")
        if self.kl_weight < 0:
            raise ValueError(f"kl_weight must be >= 0, got {self.kl_weight}")
        if not 0 <= self.look_dropout < 1:
            raise ValueError(f"look_dropout must be in [0, 1), got {self.look_dropout}")
        if self.context_skips and (self.decoder_upsampling != "resize" or self.look_dropout <= 0):
            raise ValueError("context_skips needs decoder_upsampling 'resize' and look_dropout > 0 (the skips serve "
                             "only frames whose look is blank)")

    @property
    def num_attributes(self) -> int:
        """Length of a_t = [one-hot action, one-hot identity]."""
        return self.num_actions + self.num_identities


# Our procedural people (4 actions, 40 training looks) at 32×32 with narrower layers: 0.91 M parameters.
# Measured here: 0.56 s per ELBO step (forward + backward + Adam, frozen encoder), batch 32, 10 frames, one thread on
# a loaded 2-core machine.
_SMALL = VideoVaeConfig(
    image_size=32,
    linear_init_std=None,
    encoder_widths=(8, 16, 32, 64),
    encoder_hidden=256,
    feature_dim=128,
    classifier_hidden=64,
    latent_dim=64,
    lstm_size=128,
    mlp_hidden=64,
    num_actions=4,
    num_identities=40,
)  # fmt: skip
# The padded conv plan and wider convs (the port's geometry learns slowly here: the `codecs` docstring); the shipped
# people-future-videovae.
_SMALL_PADDED = dataclasses.replace(_SMALL, conv_plan="padded", encoder_widths=(16, 32, 64, 64))

PRESETS: dict[str, VideoVaeConfig] = {
    # The reference's design on Weizmann (10 actions, 9 identities): 9,187,165 parameters, LSTM 4,198,400.
    "videovae-paper": VideoVaeConfig(),
    "videovae-small": _SMALL,
    "videovae-small-padded": _SMALL_PADDED,
    # videovae-small-padded with a resize-convolution decoder (`decoder_upsampling`) and torch's conv initialisation.
    "videovae-small-resize": dataclasses.replace(_SMALL_PADDED, decoder_upsampling="resize", conv_init_kaiming=False),
    "videovae-tiny": VideoVaeConfig(
        image_size=32,
        linear_init_std=None,
        encoder_widths=(2, 4, 4, 8),
        encoder_hidden=32,
        feature_dim=16,
        classifier_hidden=8,
        latent_dim=8,
        lstm_size=16,
        mlp_hidden=8,
        num_actions=3,
        num_identities=2,
        clip_frames=4,
    ),  # fmt: skip
}
