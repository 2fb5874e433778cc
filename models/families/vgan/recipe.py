"""VGAN's training recipe (reference §1.3-1.4), driven by the generic loop (`training.loop`).

Data: a clip folder (`corpora.clip_folder`, e.g. `v2v data actions`), held in memory as uint8. Item i (any i >= 0, a
pure function of i and the seed) is clip k, drawn uniformly with replacement (k from a generator seeded with
(seed, i)): its first `num_frames` frames (every `frame_stride`-th; the last frame repeated when the clip is too
short, as the original loader does), resized to the model's size, in [-1, 1].

Per iteration, on one batch of codes z from a generator seeded with (seed, step), so a resumed run repeats exactly
what an uninterrupted one does:
1. D step: ½ [BCE(D(x), 1) + BCE(D(G(z)), 0)] (G(z) detached);
2. G step: BCE(D(G(z)), 1) + λ · mean |m| (λ = 0.1) with D(G(z)) recomputed after D's update (the original code
   reused D's output from before its update: reference §1.3).
Adam lr 2e-4, betas (0.5, 0.999) for both, batch 64, no lr decay (the paper's schedule: 100 passes over the clips).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from corpora.clip_folder import load_rgb_clips
from models.families.vgan.config import PRESETS, VGANConfig
from models.families.vgan.losses import MASK_SPARSITY_WEIGHT, OPTIMISER, discriminator_loss, generator_loss
from models.families.vgan.networks import VGANDiscriminator, VGANGenerator, VGANLatents, VGANOutput
from models.families.vgan.pipeline import SEED_NAMES
from training.distributed import step_seed
from training.recipe import StepLog
from training.recipe_parts import PresetRecipe, PresetRunConfig, model_config_from_preset, served_fps, write_clip_grid


@dataclass(frozen=True)
class VGANRunConfig(PresetRunConfig):
    """One VGAN training run (`v2v train vgan`); flags map onto fields by name."""

    preset: str = "vgan-small"
    steps: int = 5000
    batch: int = OPTIMISER.batch
    lr: float = OPTIMISER.lr
    beta1: float = OPTIMISER.betas[0]
    beta2: float = OPTIMISER.betas[1]
    mask_weight: float = MASK_SPARSITY_WEIGHT
    frame_stride: int = 1
    """Real clips take every frame_stride-th frame from the first (the paper: consecutive frames)."""
    fps: float | None = None
    """Frame rate of served videos (None: the data's fps / frame_stride, so motion plays at its real pace)."""


class FirstFrames(torch.utils.data.Dataset):
    """A clip folder in memory; item i: {"video": (T, 3, S, S) in [-1, 1]}, its clip drawn with replacement."""

    def __init__(self, root: str, split: str, size: int, frames: int, stride: int, seed: int) -> None:
        if stride < 1:
            raise ValueError(f"frame_stride must be >= 1, got {stride}")
        self.clips, folder = load_rgb_clips(Path(root), split, size)  # (N, T0, 3, S, S) uint8
        self.fps = folder.fps
        t0 = self.clips.shape[1]
        index = torch.arange(frames) * stride  # (T,)
        self.frame_index = index.clamp(max=t0 - 1)  # the last frame repeated when the clip is short
        self.seed = seed

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        clip = int(np.random.default_rng([self.seed, index]).integers(len(self.clips)))
        video = self.clips[clip, self.frame_index]  # (T, 3, S, S) uint8
        return {"video": video.float() / 127.5 - 1}


class VGANRecipe(PresetRecipe):
    """The two-stream generator G and the 3-D discriminator D on a clip folder."""

    family = "vgan"
    run_config_type = VGANRunConfig
    supports_amp = True

    def __init__(self, config: VGANRunConfig) -> None:
        self.config = c = config
        self.model_config = m = model_config_from_preset(PRESETS, c.preset, c.overrides, VGANConfig, self.family)
        self._setup_run(c, seed_global=False)  # every random draw of VGAN comes from its own generators
        self._dataset = FirstFrames(c.data, c.split, m.image_size, m.num_frames, c.frame_stride, c.seed)
        init = torch.Generator().manual_seed(c.seed)
        self.gen = VGANGenerator(m, init).to(self.device)
        self.disc = VGANDiscriminator(m, init).to(self.device)
        adam = {"lr": c.lr, "betas": (c.beta1, c.beta2)}
        self.opt_g = torch.optim.Adam(self.gen.parameters(), **adam)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), **adam)

    # -- the loop's interface --------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.gen, "D": self.disc}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def _latents(self, batch: int, rng: torch.Generator) -> VGANLatents:
        latents = self.gen.sample_latents(batch, rng)  # drawn on the CPU generator
        return VGANLatents(code=latents.code.to(self.device))  # (B, d)

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> StepLog:
        rng = torch.Generator().manual_seed(step_seed(self.config.seed, step))
        real = batch["video"].to(self.device).transpose(1, 2)  # (B, C, T, H, W)
        self.gen.train()
        self.disc.train()
        with self.autocast():
            out = self.gen(self._latents(real.shape[0], rng))  # video (B, C, T, H, W)

            # 1. D on real clips and the fakes (G untouched).
            d_loss = discriminator_loss(self.disc(real), self.disc(out.video.detach()))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()

        # 2. G on the same fakes through the updated D (D's weights frozen), plus the mask sparsity term.
        self.disc.requires_grad_(False)
        with self.autocast():
            fake_logits = self.disc(out.video)  # (B, 1)
            g = generator_loss(fake_logits, out.mask, self.config.mask_weight)
        self.opt_g.zero_grad(set_to_none=True)
        g.total.backward()
        self.opt_g.step()
        self.disc.requires_grad_(True)
        losses = {"G": g.total, "D": d_loss, "G_adversarial": g.adversarial, "mask_mean": g.mask_sparsity,
                  "D_fake_prob": torch.sigmoid(fake_logits.detach()).mean()}
        return StepLog({k: float(v.detach()) for k, v in losses.items()})

    @torch.no_grad()
    def sample_outputs(self, n: int = 6, seed: int = 0) -> VGANOutput:
        """G's outputs for fixed codes (seed), BN in inference mode; the global generator is not touched."""
        latents = self._latents(n, torch.Generator().manual_seed(seed))
        self.gen.eval()
        out = self.gen(latents)
        self.gen.train()
        return out

    def write_sample(self, batch: dict[str, torch.Tensor] | None, path: Path) -> Path:
        """A grid PNG, two rows per fixed code: the clip's frames then its background; the mask (white = foreground)
        under each frame."""
        return write_layers_grid(path, self.sample_outputs())

    def metadata(self) -> dict[str, Any]:
        c, m = self.config, self.model_config
        frames = {"min": m.num_frames, "max": m.num_frames}
        fps = served_fps(c.fps, self._dataset.fps, c.frame_stride)
        return self.run_metadata(generate={"num_frames": frames, "trained_frames": m.num_frames, "classes": [],
                                           "seeds": list(SEED_NAMES), "fps": fps, "frame_stride": c.frame_stride})


def write_layers_grid(path: Path, out: VGANOutput) -> Path:
    """Per clip: a row of its frames followed by its background, and a row of its mask frames (1-pixel gaps)."""
    video = out.video.transpose(1, 2).float().cpu()  # (N, T, C, H, W)
    mask = (out.mask.transpose(1, 2).float().cpu() * 2 - 1).expand(-1, -1, 3, -1, -1)  # (N, T, 3, H, W)
    background = out.background.float().cpu()  # (N, C, H, W)
    blank = torch.ones_like(background)
    rows = [row for n in range(len(video)) for row in ([*video[n], background[n]], [*mask[n], blank[n]])]
    return write_clip_grid(path, rows)
