"""SAVP's training recipe (reference §5.3-§5.6), driven by the generic loop (`training.loop.TrainingLoop`).

Owns the run config (`SavpRunConfig`: `v2v train savp` flags map onto its fields), the sequence data and the update
order. Per step (every random draw from a generator seeded by (seed, step), so a resumed run repeats exactly what an
uninterrupted one does):

1. one generator pass over the batch: the posterior (VAE) branch and the prior (GAN) branch, as the variant has them,
   with scheduled sampling of the true frame after the context (p = k / (k + exp(step / k)));
2. one random window of `discriminator_clip_frames` frames per sample, the same for the real and generated videos;
3. both discriminators (D on the prior branch, D_enc on the posterior branch; GAN-only has D alone, VAE-only and
   deterministic have none) step on their LSGAN losses (weight 0.1 each), on detached generated clips;
4. the generator steps on 100·L1 (posterior branch) + λ_KL(step)·KL + 0.1·LSGAN (each branch through its own,
   just updated, discriminator) + 10·cosine feature matching in D_enc (the config's weights; the ablations reuse
   this code with theirs).

Optimiser: Adam for G and for each D (lr 2e-4, betas (0.5, 0.999) for the GAN variants; lr 1e-3, betas (0.9, 0.999)
for VAE-only and deterministic), lr constant until `decay_start` then linear to 0 at `decay_end` (the paper's
200k/300k = 2/3 of the run, then the run's end, when not set).

Data (`--data DIR`): a clip folder (`corpora.clip_folder`, e.g. `v2v data actions`) held in memory as uint8 at the
model's size. Item i (any i >= 0, a pure function of i and the seed) is `sequence_frames` consecutive frames from a
random start of a clip (clips visited in a fresh permutation every epoch), in [0, 1].

The checkpoint metadata carries `n_past` (context_frames) and `n_future` (sequence_frames - context_frames), which
`v2v export` turns into a predict card.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from corpora.clip_folder import load_rgb_clips
from corpora.layout import write_png
from models.core.labels import tensor_to_rgb
from models.families.savp.config import PRESETS, SavpConfig
from models.families.savp.discriminator import DiscriminatorOutput, VideoDiscriminator, random_clip_starts, take_clips
from models.families.savp.losses import (
    Critique,
    SavpOptimiser,
    discriminator_loss,
    generator_loss,
    kl_weight_at,
    learning_rate_at,
    optimiser_settings,
    scheduled_sampling_probability,
)
from models.families.savp.networks import SavpGenerator, SavpState
from training.clip_windows import EpochWindows
from training.distributed import step_seed
from training.precision import in_fp32
from training.recipe import StepLog
from training.recipe_parts import PresetRecipe, PresetRunConfig, check_preset, model_config_from_preset


@dataclass(frozen=True)
class SavpRunConfig(PresetRunConfig):
    """One SAVP training run. None = the variant's paper setting (lr, betas, batch) or the scaled schedule."""

    preset: str = "savp-small"
    """JSON overrides of the preset's `SavpConfig` fields (e.g. {"scheduled_sampling_k": 60})."""
    steps: int = 2000
    batch: int | None = None
    lr: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    decay_start: int | None = None
    """Step where the lr starts its linear decay (None: 2/3 of `steps`, as the paper's 200k of 300k)."""
    decay_end: int | None = None
    """Step where the lr reaches 0 (None: `steps`)."""


class SequenceClips(torch.utils.data.Dataset):
    """A clip folder in memory; item i: (L, C, S, S) float in [0, 1], L consecutive frames of one clip (C = 1: the
    RGB mean, for a grey model)."""

    def __init__(self, root: str, split: str, size: int, frames: int, seed: int, channels: int = 3) -> None:
        clips, _ = load_rgb_clips(Path(root), split, size)  # (N, T0, 3, S, S) uint8
        self.clips = clips.float().mean(2, keepdim=True).round().to(torch.uint8) if channels == 1 else clips
        if self.clips.shape[1] < frames:
            raise ValueError(f"{root}: clips have {self.clips.shape[1]} frames, the model trains on {frames}")
        self.draw = EpochWindows(len(self.clips), self.clips.shape[1], frames, 1, seed)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.clips[self.draw.clip(index), self.draw.window(index)].float() / 255  # (L, C, S, S)


class SAVPRecipe(PresetRecipe):
    """SAVP (VAE + GAN) and its ablations (VAE-only, GAN-only, deterministic) on clips of one split."""

    family = "savp"
    run_config_type = SavpRunConfig
    supports_amp = True

    @classmethod
    def train_config(cls, **values: Any) -> SavpRunConfig:
        """The run config from flags (None keeps a default); an unknown preset is refused here already."""
        config = super().train_config(**values)
        check_preset(PRESETS, config.preset, cls.family)
        return config

    def __init__(self, config: SavpRunConfig) -> None:
        self.config = c = self.train_config(**asdict(config))
        self.model_config = m = model_config_from_preset(PRESETS, c.preset, c.overrides, SavpConfig, self.family)
        paper = optimiser_settings(m)
        decay_end = c.steps if c.decay_end is None else c.decay_end
        decay_start = (2 * decay_end) // 3 if c.decay_start is None else c.decay_start
        self.schedule = SavpOptimiser(
            learning_rate=paper.learning_rate if c.lr is None else c.lr,
            betas=(paper.betas[0] if c.beta1 is None else c.beta1, paper.betas[1] if c.beta2 is None else c.beta2),
            batch_size=paper.batch_size if c.batch is None else c.batch,
            decay_start=decay_start, total_steps=max(decay_end, decay_start + 1))
        self._setup_run(c, batch=self.schedule.batch_size)
        self._dataset = SequenceClips(c.data, c.split, m.image_size, m.sequence_frames, c.seed, m.image_channels)
        self.generator = SavpGenerator(m).to(self.device)
        self.discriminators: dict[str, VideoDiscriminator] = {}
        if m.uses_discriminators:
            self.discriminators["D"] = VideoDiscriminator(m).to(self.device)  # prior (GAN) branch
        if m.uses_discriminators and m.uses_posterior:
            self.discriminators["D_enc"] = VideoDiscriminator(m).to(self.device)  # posterior (VAE) branch
        adam = {"lr": self.schedule.learning_rate, "betas": self.schedule.betas}
        self._optimizers = {name: torch.optim.Adam(module.parameters(), **adam)
                            for name, module in self.modules().items()}

    # -- the loop's interface --------------------------------------------------------------------------------
    def collate(self, items: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(items)  # (B, L, C, S, S) in [0, 1]

    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.generator, **self.discriminators}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self._optimizers

    def train_step(self, batch: torch.Tensor, step: int) -> StepLog:
        m = self.model_config
        frames = batch.to(self.device)  # (B, L, C, S, S)
        rng = torch.Generator(device=self.device).manual_seed(step_seed(self.config.seed, step))
        lr = learning_rate_at(step, self.schedule)
        for opt in self._optimizers.values():
            for group in opt.param_groups:
                group["lr"] = lr
        self.generator.train()
        truth_p = scheduled_sampling_probability(step, m.scheduled_sampling_k)
        with self.autocast():
            out = self.generator(frames, rng, truth_p)
        out = in_fp32(out)  # the losses in fp32 whatever the forward's precision
        branches = {"D": out.prior_branch, "D_enc": out.posterior_branch}
        starts = random_clip_starts(frames.shape[0], frames.shape[1] - 1, m.discriminator_clip_frames, rng)
        real = take_clips(frames[:, 1:], starts, m.discriminator_clip_frames)  # (B, 3, clip, S, S)
        logs: dict[str, float] = {}

        # 1. Both discriminators on detached generated clips (one power iteration each).
        for name, disc in self.discriminators.items():
            disc.train()
            fake = take_clips(branches[name].detach(), starts, m.discriminator_clip_frames)
            loss = discriminator_loss(m, self._critique(disc, real, fake))
            self._optimizers[name].zero_grad(set_to_none=True)
            loss.backward()
            self._optimizers[name].step()
            logs[name] = float(loss.detach())

        # 2. The generator through the updated discriminators (frozen, no power iteration).
        critiques: dict[str, Critique | None] = {"D": None, "D_enc": None}
        for name, disc in self.discriminators.items():
            disc.eval().requires_grad_(False)
            fake = take_clips(branches[name], starts, m.discriminator_clip_frames)
            critiques[name] = self._critique(disc, real, fake)
        g = generator_loss(m, step, frames, out, critiques["D"], critiques["D_enc"])
        self._optimizers["G"].zero_grad(set_to_none=True)
        g.total.backward()
        self._optimizers["G"].step()
        for disc in self.discriminators.values():
            disc.train().requires_grad_(True)
        logs.update({"G": float(g.total.detach()), "l1": float(g.l1.detach()), "kl": float(g.kl.detach()),
                     "gan": float(g.gan.detach()), "vae_gan": float(g.vae_gan.detach()),
                     "feature_matching": float(g.feature_matching.detach()), "kl_weight": kl_weight_at(step, m),
                     "truth_p": truth_p, "lr": lr})
        return StepLog(logs)

    def _critique(self, disc: VideoDiscriminator, real: torch.Tensor, fake: torch.Tensor) -> Critique:
        """One discriminator pass over real and generated clips (B, 3, T, S, S) together, split back, in fp32."""
        with self.autocast():
            out = in_fp32(disc(torch.cat([real, fake])))
        b = real.shape[0]
        return Critique(DiscriminatorOutput(out.logits[:b], tuple(f[:b] for f in out.features)),
                        DiscriminatorOutput(out.logits[b:], tuple(f[b:] for f in out.features)))

    @torch.no_grad()
    def predict_samples(self, frames: torch.Tensor, samples: int, seed: int) -> torch.Tensor:
        """`samples` futures of the first sequence of (B, L, C, S, S): context then prediction, (N, L, C, S, S)."""
        n_past = self.model_config.context_frames
        rng = torch.Generator(device=self.device).manual_seed(seed)
        context = frames[:1, :n_past].expand(samples, -1, -1, -1, -1)  # (N, n_past, C, S, S)
        self.generator.eval()
        state: SavpState = self.generator.start(context[:, 0])
        for t in range(1, n_past):
            state = self.generator.observe(context[:, t], state, rng)
        predicted = []
        for _ in range(frames.shape[1] - n_past):
            frame, state = self.generator.predict(state, rng)
            predicted.append(frame)
        self.generator.train()
        return torch.cat([context, torch.stack(predicted, 1)], 1)

    def write_sample(self, batch: torch.Tensor, path: Path) -> Path:
        """A PNG: the true sequence, then 3 sampled futures of it (context then prediction), frames left to right."""
        frames = batch[:1].to(self.device)  # (1, L, C, S, S)
        rows = torch.cat([frames, self.predict_samples(frames, 3, self.config.seed)])  # (4, L, C, S, S)
        rows = rows.expand(-1, -1, 3, -1, -1) if rows.shape[2] == 1 else rows  # grey shown as RGB
        image = np.concatenate([np.concatenate([tensor_to_rgb(f * 2 - 1) for f in row], axis=1) for row in rows])
        path.parent.mkdir(parents=True, exist_ok=True)
        write_png(path, image)
        return path

    def metadata(self) -> dict[str, Any]:
        m = self.model_config
        return self.run_metadata(n_past=m.context_frames, n_future=m.sequence_frames - m.context_frames)
