"""MoCoGAN config and named presets (reference §3, §10). torch-free."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.core.config_checks import require_positive, require_power_of_two

VideoHead = Literal["categorical", "patch"]
CategoryInput = Literal["image", "motion"]


@dataclass(frozen=True)
class MoCoGANConfig:
    """Architecture of one MoCoGAN (generator, D_I, D_V). Defaults are the paper's 64×64×16, K = 0."""

    image_size: int = 64
    """Frame height and width; a power of two ≥ 8. G_I and D_I have log2(image_size / 4) up/down-sampling layers."""
    channels: int = 3
    """Colour channels of a frame."""
    num_frames: int = 16
    """Clip length T used in training and seen by D_V. At inference G unrolls the GRU for any length."""
    content_dim: int = 50
    """d_C, size of the content code z_C ~ N(0, I), fixed for a clip."""
    motion_dim: int = 10
    """d_M, GRU units; z_M^t = h_t."""
    motion_noise_dim: int = 10
    """Size of the per-step GRU input ε_t ~ N(0, I)."""
    num_categories: int = 0
    """K, number of action categories (one-hot z_A); 0 = unconditional."""
    ngf: int = 64
    """Width of G_I's last hidden layer; the first has ngf · 2^(n_up - 1) channels (512 at paper size)."""
    ndf: int = 64
    """Width of the first conv of D_I and D_V; doubled at each following hidden layer."""
    video_temporal_kernel: int = 4
    """Temporal kernel of D_V's strided convs (no temporal padding: time shrinks by kernel - 1 per layer)."""
    video_head: VideoHead = "categorical"
    """D_V's last layer: "categorical" (one conv to 1 + K logits over the whole clip) or "patch" (a strided conv to
    a 1-channel logit map; only without categories)."""
    instance_noise_std: float = 0.0
    """σ of Gaussian noise added to the input of every discriminator conv except the last, in training only."""
    category_input: CategoryInput = "image"
    """Where z_A enters: "image" (the paper: frame t is rendered from [z_C, z_A, z_M^t]) or "motion" (ours: z_A joins
    ε_t at every GRU step and G_I renders [z_C, z_M^t], so an action can change a clip only through its motion; the
    paper's input lets the action code move the look: docs/models/generate.md, "Which latent moves the look")."""
    video_noise_over_time: bool = False
    """Ours (off in the paper): D_V's instance noise is drawn once per clip and the same at every time step, so it
    hides appearance as much as before but leaves frame-to-frame changes (flicker) as plain to D_V as without noise;
    independent per frame (the paper) it drowns flicker smaller than σ."""
    video_motion_scale: float = 0.0
    """Ours (0 = off, the paper): D_V also sees scale · (x_t − x_{t−1}) stacked on a clip's channels
    (`models.core.discriminators.with_motion`), so frame-to-frame flicker is an input of its own rather than
    something its first 3-D conv must learn to pull out of the frames."""

    def __post_init__(self) -> None:
        require_power_of_two("image_size", self.image_size, 8)
        require_positive(channels=self.channels, num_frames=self.num_frames, content_dim=self.content_dim,
                         motion_dim=self.motion_dim, motion_noise_dim=self.motion_noise_dim, ngf=self.ngf, ndf=self.ndf)
        if self.num_categories < 0:
            raise ValueError(f"num_categories must be >= 0, got {self.num_categories}")
        if self.video_head not in ("categorical", "patch"):
            raise ValueError(f"video_head must be 'categorical' or 'patch', got {self.video_head!r}")
        if self.video_head == "patch" and self.num_categories > 0:
            raise ValueError("the patch video head has no category logits: use video_head='categorical' with K > 0")
        if self.video_temporal_kernel < 1:
            raise ValueError(f"video_temporal_kernel must be positive, got {self.video_temporal_kernel}")
        if self.video_frames_left < 1:
            raise ValueError(
                f"D_V shrinks time by {self.video_temporal_kernel - 1} in each of {self.num_scales} layers: "
                f"num_frames {self.num_frames} is too short"
            )
        if self.category_input not in ("image", "motion"):
            raise ValueError(f"category_input must be 'image' or 'motion', got {self.category_input!r}")
        if self.video_motion_scale < 0:
            raise ValueError(f"video_motion_scale must be >= 0, got {self.video_motion_scale}")
        if self.instance_noise_std < 0:
            raise ValueError(f"instance_noise_std must be >= 0, got {self.instance_noise_std}")

    @property
    def num_scales(self) -> int:
        """Number of 2× resolution steps between 4×4 and image_size (4 at 64×64)."""
        return self.image_size.bit_length() - 3

    @property
    def latent_dim(self) -> int:
        """Per-frame input of G_I: d_C + K + d_M (d_C + d_M with the category on the motion path)."""
        category = self.num_categories if self.category_input == "image" else 0
        return self.content_dim + category + self.motion_dim

    @property
    def motion_input_dim(self) -> int:
        """Per-step input of the motion GRU: d_ε (d_ε + K with the category on the motion path)."""
        return self.motion_noise_dim + (self.num_categories if self.category_input == "motion" else 0)

    @property
    def video_frames_left(self) -> int:
        """Time steps left after D_V's strided convs (4 at paper size), the temporal kernel of the categorical head."""
        return self.num_frames - self.num_scales * (self.video_temporal_kernel - 1)


PRESETS: dict[str, MoCoGANConfig] = {
    # Paper scale, unconditional (reference §3.2-3.3): G_I 3,249,024 + GRU 660; D_I 663,296; patch D_V 2,650,880.
    "mocogan-paper": MoCoGANConfig(video_head="patch", instance_noise_std=0.1),
    # Paper scale with K = 6 categories (facial expressions): G_I 3,298,176 + GRU 660; D_V 11,253,504.
    "mocogan-paper-k6": MoCoGANConfig(num_categories=6, instance_noise_std=0.1),
    # Paper scale on our procedural people (4 actions).
    "mocogan-people-paper": MoCoGANConfig(num_categories=4, instance_noise_std=0.1),
    # CPU preset (reference §10): 32×32×8, ngf = ndf = 32, z_C 32, z_M 8, K 4, D_V temporal kernel 3; G 0.26 M.
    # Measured (one CPU thread, batch 16, on a shared 2-core machine): 0.46 s per training iteration, i.e. the three
    # optimiser steps D_I, D_V, G with fresh fakes for each (≈ 0.15 s per optimiser step; §10 quotes 0.27 s/step).
    # The same widths at 64×64×16 cost 6.0 s per iteration, hence 32×32×8.
    "mocogan-small": MoCoGANConfig(
        image_size=32,
        num_frames=8,
        content_dim=32,
        motion_dim=8,
        motion_noise_dim=8,
        num_categories=4,
        ngf=32,
        ndf=32,
        video_temporal_kernel=3,
        instance_noise_std=0.1,
    ),
    # Tests: milliseconds.
    "mocogan-tiny": MoCoGANConfig(
        image_size=16,
        num_frames=4,
        content_dim=6,
        motion_dim=4,
        motion_noise_dim=3,
        num_categories=3,
        ngf=4,
        ndf=4,
        video_temporal_kernel=2,
    ),
}
