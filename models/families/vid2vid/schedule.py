"""The training configuration and schedule, both counted in optimisation steps (CPU budgets are tiny).

Owns `TrainConfig` (one frozen dataclass for the translate recipes: vid2vid, few-shot vid2vid, and `single`,
vid2vid's single-image first-frame generator (reference §1.6); each recipe passes its defaults to `create`) and
the pure schedule functions: learning-rate factor (constant, then linear decay to 0), progressive clip length
(doubling every `clip_double_every` steps up to a cap), coarse-to-fine (only the finest generator scale trains
for the first `fix_global_steps` steps), the few-shot single-frame phase and the number of references K per step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Family = Literal["vid2vid", "fs_vid2vid", "single"]
"""Which translate recipe a run uses (written into its checkpoints): vid2vid's video generator, few-shot vid2vid, or
`single`, vid2vid's `SingleImageGenerator` (first_frame "single_image") trained pix2pixHD-style on one-frame clips;
its checkpoints keep the vid2vid preset and overrides, so `v2v export --first-frame-run` pairs it with a vid2vid run."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run depends on (written into every checkpoint's JSON)."""

    family: Family
    preset: str
    data: str
    out: str
    overrides: dict[str, Any] = field(default_factory=dict)
    """Preset overrides of the generator config (label_channels is filled in from the data set)."""
    split: str = "train"
    steps: int = 1000
    height: int = 64
    width: int = 64
    batch: int = 1
    # clips and references
    clip_frames: int = 4
    max_clip_frames: int = 8
    clip_double_every: int = 0
    """Double the clip length every this many steps (0: never), up to max_clip_frames (vid2vid niter_step)."""
    rollout_frames: int = 0
    """Frames generated without gradients before each clip's trained frames (ours): the trained frames start from
    the generator's own, possibly drifted, outputs, as at inference on long videos. A CPU-cheap stand-in for the
    paper's 30-frame clips (forward only, about a third of a trained frame's cost); 0 = the paper."""
    max_t_step: int = 1
    flip: bool = True
    still_share: float = 0.0
    """Share of clips that hold their first frame still (flows zero; `corpora.clips.ClipSpec.still_share`)."""
    references: int = 1
    """Few-shot K (ignored by vid2vid); with `min_references` the largest K drawn."""
    min_references: int = 0
    """Few-shot: when > 0, each step draws K uniformly from [min_references, references] so the model learns to use
    any number of references (the attention path for K > 1, the cached path for K = 1); 0: always `references`."""
    single_frame_steps: int = 0
    """Few-shot: first steps generate single frames only (niter_single)."""
    # optimisation
    lr: float = 2e-4
    ttur: bool = False
    decay_start: int = -1
    """Step at which the linear decay to 0 starts (vid2vid niter); -1: constant lr (no decay)."""
    fix_global_steps: int = 0
    """vid2vid coarse-to-fine: train only the finest spatial scale for this many steps (niter_fix_global)."""
    gan_mode: Literal["ls", "hinge", "original"] = "ls"
    # discriminators
    num_D: int = 2
    n_layers_D: int = 3
    ndf: int = 64
    norm_D: Literal["batch", "instance", "none"] = "batch"
    n_frames_D: int = 3
    n_scales_temporal: int = 2
    antialias_D: bool = False
    """Blur before every stride-2 conv of D_I and D_V (ours; `PatchGANConfig.antialias`)."""
    # loss weights
    lambda_feat: float = 10.0
    lambda_vgg: float = 10.0
    lambda_flow: float = 10.0
    lambda_warp: float = 10.0
    lambda_mask: float = 1.0
    lambda_temporal: float = 1.0
    lambda_l1: float | None = None
    """L1 between generated (composed and raw) frames and the target, the stand-in for the VGG perceptual loss.
    Neither paper has this term (both rely on GAN + feature matching + VGG); without VGG weights (none can be
    downloaded offline) feature matching alone pulls the output toward the target too weakly, so None means 10
    when `vgg_weights` is unset and 0 when it is set, for both families."""
    vgg_weights: str | None = None
    # run mechanics
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool | str = "auto"
    """Mixed precision (`training.precision`): "auto" = bf16 autocast on CUDA (fp16 + GradScaler before Ampere) and
    on CPUs with bf16 units where it is faster; "bf16", "fp16" (CUDA), "off" (fp32)."""
    seed: int = 0
    workers: int = 0
    checkpoint_every: int = 500
    sample_every: int = 500
    progress: bool = True

    @classmethod
    def create(cls, family: str, defaults: Mapping[str, Any] | None = None, forced: Mapping[str, Any] | None = None,
               **values: Any) -> TrainConfig:
        """A config with a recipe's `defaults` under the given values (values set to None keep the defaults), then
        the recipe's `forced` settings (e.g. a single-image recipe has one-frame clips whatever is asked)."""
        merged: dict[str, Any] = dict(defaults or {})
        merged.update({k: v for k, v in values.items() if v is not None})
        merged.update(forced or {})
        return cls(family=family, **merged)  # type: ignore[arg-type]

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def l1_weight(config: TrainConfig) -> float:
    """Effective L1 reconstruction weight, both families: `lambda_l1`, or when None 10 without VGG weights, else 0."""
    if config.lambda_l1 is not None:
        return config.lambda_l1
    return 0.0 if config.vgg_weights else 10.0


def lr_factor(config: TrainConfig, step: int) -> float:
    """Multiplier of the base learning rates at `step`: 1 until decay_start, then linear to 0 at `steps`."""
    if config.decay_start < 0 or step < config.decay_start:
        return 1.0
    return max(0.0, 1.0 - (step - config.decay_start) / max(1, config.steps - config.decay_start))


def learning_rates(config: TrainConfig, ttur_betas: tuple[float, float] = (0.0, 0.9)
                   ) -> tuple[float, float, tuple[float, float]]:
    """(G lr, D lr, Adam betas): TTUR halves G's, doubles D's and uses `ttur_betas` (vid2vid (0, 0.9), few-shot
    (0, 0.999), as in each reference); without TTUR both lrs are the base one with betas (0.5, 0.999)."""
    if config.ttur:
        return config.lr / 2, config.lr * 2, ttur_betas
    return config.lr, config.lr, (0.5, 0.999)


def clip_frames_at(config: TrainConfig, step: int) -> int:
    """Frames per clip at `step` (progressive sequence length)."""
    if config.clip_double_every <= 0:
        return config.clip_frames
    return min(config.max_clip_frames, config.clip_frames * 2 ** (step // config.clip_double_every))


def train_coarse_scales(config: TrainConfig, step: int) -> bool:
    """False while only the finest generator scale trains (coarse-to-fine)."""
    return step >= config.fix_global_steps


def references_at(config: TrainConfig, step: int) -> int:
    """Few-shot K at `step`: fixed, or drawn from [min_references, references] by a generator seeded with
    (seed, step), so a resumed run draws the same K."""
    low = config.min_references
    if low <= 0 or low >= config.references:
        return config.references
    return int(np.random.default_rng((config.seed, step)).integers(low, config.references + 1))


def single_frame_phase(config: TrainConfig, step: int) -> bool:
    """True while clips are one frame long (`single_frame_steps`; used by the few-shot recipe)."""
    return step < config.single_frame_steps
