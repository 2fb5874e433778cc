"""TGAN config and named presets (reference §2, §10). torch-free."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.core.config_checks import require_positive, require_power_of_two

InitScheme = Literal["lecun_normal", "uniform"]
"""How conv/linear weights start (biases 0): "lecun_normal" N(0, 1/fan_in), Chainer's default [unverified];
"uniform" U(-0.01, 0.01)."""


@dataclass(frozen=True)
class TGANConfig:
    """Architecture of one TGAN (G0, G1, critic). Defaults are the paper's UCF101 configuration."""

    image_size: int = 64
    """Frame height and width; a power of two ≥ 8. G1 and the critic have log2(image_size / 4) scale steps."""
    channels: int = 3
    """Colour channels of a frame (1 for Moving MNIST)."""
    latent_dim: int = 100
    """Size of the clip code z0 ~ U(-1, 1)."""
    frame_code_dim: int = 100
    """Size of each per-frame code z1^t made by G0."""
    temporal_widths: tuple[int, ...] = (512, 256, 128, 128)
    """Channels of G0's hidden layers: the first is a kernel-1 ConvT1d (length 1), each following one and the output
    layer double the length, so num_frames = 2 ** len(temporal_widths)."""
    temporal_bn_shift: bool = False
    """Whether G0's batch norms have a shift β (False: "BN(no β)", as the UCF101 and Moving MNIST configs)."""
    ngf: int = 32
    """G1: each of the two 4×4 streams has ngf · 2^(n - 1) channels (256 at paper size); the last hidden layer ngf."""
    ndf: int = 64
    """Critic: width of the first conv, doubled at each following one (64 → 512 at paper size)."""
    bn_eps: float = 2e-5
    """Epsilon of every batch norm (Chainer's default)."""
    bn_momentum: float = 0.1
    """PyTorch momentum of the running averages (Chainer decay 0.9)."""
    temporal_init: InitScheme = "lecun_normal"
    """Weight initialisation of G0."""
    image_init: InitScheme = "uniform"
    """Weight initialisation of G1."""
    critic_init: InitScheme = "lecun_normal"
    """Weight initialisation of the critic."""
    critic_motion_scale: float = 0.0
    """Ours (0: the paper): when > 0 the 3-D critic also sees the frame differences x_t - x_{t-1} times this, stacked
    on its input channels (`models.core.discriminators.with_motion`, as MoCoGAN's `video_motion_scale`)."""

    def __post_init__(self) -> None:
        require_power_of_two("image_size", self.image_size, 8)
        require_positive(channels=self.channels, latent_dim=self.latent_dim, frame_code_dim=self.frame_code_dim,
                         ngf=self.ngf, ndf=self.ndf)
        if not self.temporal_widths or min(self.temporal_widths) < 1:
            raise ValueError(f"temporal_widths must be a non-empty tuple of positive ints, got {self.temporal_widths}")
        if self.num_frames % 2**self.num_scales:
            raise ValueError(
                f"the critic halves time {self.num_scales} times: num_frames {self.num_frames} "
                f"must be a multiple of {2**self.num_scales}"
            )
        for name, scheme in (
            ("temporal_init", self.temporal_init),
            ("image_init", self.image_init),
            ("critic_init", self.critic_init),
        ):
            if scheme not in ("lecun_normal", "uniform"):
                raise ValueError(f"{name} must be 'lecun_normal' or 'uniform', got {scheme!r}")
        if self.critic_motion_scale < 0:
            raise ValueError(f"critic_motion_scale must be >= 0, got {self.critic_motion_scale}")
        if self.bn_eps <= 0 or not 0 < self.bn_momentum <= 1:
            raise ValueError("bn_eps must be > 0 and bn_momentum in (0, 1]")

    @property
    def num_frames(self) -> int:
        """Clip length T made by G0 and seen by the critic (16 at paper size)."""
        return 2 ** len(self.temporal_widths)

    @property
    def num_scales(self) -> int:
        """Number of 2× resolution steps between 4×4 and image_size (4 at 64×64)."""
        return self.image_size.bit_length() - 3

    @property
    def critic_frames_left(self) -> int:
        """Time steps left after the critic's strided 3-D convs; the critic scores each (1 at paper size)."""
        return self.num_frames // 2**self.num_scales


PRESETS: dict[str, TGANConfig] = {
    # Paper scale, UCF101 configuration (reference §2.1-2.3): G0 825,444; G1 3,622,691; critic 11,032,385
    # (the text's 11,032,449 counts 64 γ of a batch norm the code never applies).
    "tgan-paper": TGANConfig(),
    # Paper scale, Moving MNIST configuration: 1 channel, every weight U(-0.01, 0.01).
    "tgan-mnist-paper": TGANConfig(channels=1, temporal_init="uniform", image_init="uniform", critic_init="uniform"),
    # CPU preset: 32×32×16 RGB, about a quarter of the paper's widths. Measured (one CPU thread, batch 16, on a shared
    # 2-core machine): 0.31 s per training iteration (G step + critic step, SVC every 5th; 0.28 s for the 1-channel
    # variant below). The same widths at 64×64×16 cost 1.3 s (G1 renders all B·16 frames), hence 32×32.
    "tgan-small": TGANConfig(image_size=32, temporal_widths=(128, 64, 32, 32), ngf=8, ndf=16),
    # The same for the Moving MNIST target (reference §10.4: 16×32×32, 1 channel, every weight U(-0.01, 0.01)).
    "tgan-mnist-small": TGANConfig(
        image_size=32,
        channels=1,
        temporal_widths=(128, 64, 32, 32),
        ngf=8,
        ndf=16,
        temporal_init="uniform",
        image_init="uniform",
        critic_init="uniform",
    ),
    # Tests: milliseconds.
    "tgan-tiny": TGANConfig(image_size=16, latent_dim=6, frame_code_dim=5, temporal_widths=(8, 8), ngf=2, ndf=4),
}
