"""vid2vid config and named presets (reference §1, §1.5, §2.5): what one generator is built from. The networks are
`generator.py`'s."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.families.vid2vid.layers import NormKind, NormStatistics, UpsampleKind
from models.families.vid2vid.single import SingleImageConfig

FirstFrameMode = Literal["zeros", "real", "single_image"]


@dataclass(frozen=True)
class Vid2VidConfig:
    """Architecture of one vid2vid generator (reference §1). Defaults are the paper code's."""

    label_channels: int
    """Channels of one label frame: one-hot classes (+1 instance-edge channel last), or continuous inputs."""
    n_frames_G: int = 3
    """Label frames seen per step; L = n_frames_G - 1 previous generated frames."""
    ngf: int = 128
    n_downsample: int = 3
    n_blocks: int = 9
    """Coarsest-scale ResBlocks: n_blocks - n_blocks // 2 in each encoder, n_blocks // 2 in each decoder."""
    n_blocks_local: int = 3
    n_scales_spatial: int = 1
    norm: NormKind = "batch"
    upsample: UpsampleKind = "transpose"
    """Decoder up-sampling: the papers' transposed convs, "resize" (nearest + conv; our small presets from the
    street/edges retrain) or "bilinear" (bilinear + conv, same weights; the small presets since the 2-pixel grid was
    traced to nearest's 2x2 blocks): documented departures."""
    norm_statistics: NormStatistics = "running"
    """BatchNorm at inference: "running" (eval mode, the stored running statistics) or "per_frame" (the statistics
    of the current frame, also in eval mode: what the original test script computed, since it never switched to
    eval; models imported from the original code use it)."""
    use_fg: bool = False
    fg_labels: tuple[int, ...] = (26,)
    """One-hot channels whose union is the foreground mask (Cityscapes 26 = car)."""
    no_flow: bool = False
    flow_multiplier: float = 20.0
    """Raw flow conv output × flow_multiplier · 2^s at scale s (0 = coarsest)."""
    warp_rounding: Literal["ours", "original"] = "ours"
    """How the flow is normalised for `grid_sample` (`models.core.warp.warp`): "original" rounds bit for bit like
    NVIDIA's code (imported models); "ours" is the same function with other rounding (our trained models)."""
    first_frame: FirstFrameMode = "zeros"
    """How streams start: "zeros" (no_first_img: zero history, raw h for the first frame; train the same way),
    "real" (first frames given to `start`), "single_image" (first frames from `SingleImageGenerator`)."""
    single_image: SingleImageConfig | None = None
    label_skip: bool = False
    """Ours: each scale's image head also reads the current labels (`layers.LabelSkip`, zero-initialised)."""
    label_gate: bool = False
    """Ours, for one-hot labels: trust the warped previous frame only where the previous labels, warped by the same
    flow, agree with the current ones (mask 1 - (1 - m)·agreement), so a wrong flow cannot carry one class's pixels
    into another's region. The output's `mask` is then the gated one (what a training mask loss sees). No weights;
    off = the paper's composite."""
    still_check: float = 0.0
    """Ours, for one-hot labels: where the previous labels, unmoved, explain the current ones at least as well as the
    flow-warped ones within a window of this share of the frame height, warp the previous frame by zero instead of the
    predicted flow (`still_check.py`; label clips drawn with a still camera). No weights; 0 = off."""

    def __post_init__(self) -> None:
        if self.n_frames_G < 2:
            raise ValueError("n_frames_G must be at least 2 (one previous frame)")
        if self.n_scales_spatial < 1 or self.ngf % 2 ** (self.n_scales_spatial - 1 + int(self.use_fg)):
            raise ValueError(f"ngf {self.ngf} cannot be halved for {self.n_scales_spatial} scales (and fg)")
        if self.use_fg and not all(0 <= c < self.label_channels for c in self.fg_labels):
            raise ValueError(
                f"fg_labels {self.fg_labels} must index the {self.label_channels} label channels"
            )
        if not 0.0 <= self.still_check <= 1.0:
            raise ValueError("still_check must be a share of the frame height in 0..1")
        if (self.first_frame == "single_image") != (self.single_image is not None):
            raise ValueError('single_image must be set exactly when first_frame == "single_image"')

    @property
    def n_prev(self) -> int:
        """L, the number of previous frames (and previous label maps) the generator sees."""
        return self.n_frames_G - 1

    @property
    def size_multiple(self) -> int:
        """Height and width must be multiples of this (and of the first-frame generator's)."""
        own = 2 ** (self.n_downsample + self.n_scales_spatial - 1)
        return max(own, self.single_image.size_multiple) if self.single_image is not None else own


PRESETS: dict[str, Vid2VidConfig] = {
    # Tests: tiny and fast.
    "vid2vid-tiny": Vid2VidConfig(
        label_channels=4, ngf=8, n_downsample=2, n_blocks=2, n_blocks_local=1, norm="instance"
    ),
    # Shipped, CPU-trainable (128x256 / 192x256), started from labels alone.
    # Decoders up-sample by bilinear resize-convolution (no checkerboard, no 2-pixel grid); the papers' transposed
    # convs stay the default.
    "vid2vid-street-small": Vid2VidConfig(
        label_channels=35, ngf=32, n_downsample=3, n_blocks=2, norm="instance", upsample="bilinear"
    ),
    "vid2vid-edges-small": Vid2VidConfig(
        label_channels=1, ngf=32, n_downsample=3, n_blocks=2, norm="instance", upsample="bilinear"
    ),
    # Paper scale (reference §1.5, §2.5). Cityscapes: 35 classes + instance edges = 36 ch per frame, fg = car.
    # NVIDIA's 2048 first-frame generator is pix2pixHD's local kind (ngf 32, 182.85 M); the 1024 one is global.
    "vid2vid-cityscapes-2048": Vid2VidConfig(
        label_channels=36,
        n_scales_spatial=3,
        use_fg=True,
        first_frame="single_image",
        single_image=SingleImageConfig(input_channels=35, ngf=32, n_downsample=4, kind="local"),
    ),
    "vid2vid-cityscapes-1024": Vid2VidConfig(
        label_channels=36,
        n_downsample=2,
        n_scales_spatial=3,
        use_fg=True,
        first_frame="single_image",
        single_image=SingleImageConfig(input_channels=35, ngf=64, n_downsample=4),
    ),
    "vid2vid-pose-512": Vid2VidConfig(label_channels=6, n_scales_spatial=2, first_frame="zeros"),
    "vid2vid-face-512": Vid2VidConfig(
        label_channels=15,
        first_frame="single_image",
        single_image=SingleImageConfig(input_channels=15, ngf=64, n_downsample=4),
    ),
}
