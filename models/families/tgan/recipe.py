"""TGAN's training recipe (reference §2.4, §2.5), driven by the generic loop (`training.loop`).

Data: a clip folder (`v2v data actions|digits`, `corpora.clip_folder`), held in memory as uint8. Item i (any i >= 0,
a pure function of i and the seed) is a window of T frames, every `frame_stride`-th frame (stride 1 when the clip
is too short) from a random start of a clip, resized to the model's size, in [-1, 1]; a 1-channel model gets the
grey value. One iteration (the code's order): draw z0 ~ U(-1, 1), generate; G step first (L_G = -mean D(G(z)) into
G0 and G1, critic frozen); then the critic step on the detached fake batch and the real batch
(L_D = mean D(fake) - mean D(real)); one critic step per G step (`critic_steps` > 1: the WGAN paper's schedule, each
extra step on fresh fakes and real windows). After every `svc_interval`-th iteration singular
value clipping of the critic (conv kernels' singular values <= 1, BN γ into [0.01 σ, σ]); `clipping="weight"` is
the WGAN weight-clipping baseline instead (every critic parameter into ±0.01 after every step); `clipping="gp"`
(ours) no clipping but WGAN-GP's gradient penalty (weight `gp_weight`) in every critic update. RMSprop lr 5e-5,
decay 0.99, ε 1e-8 for G and the critic (`optimizer="adam"`: Adam with β1 `adam_beta1`, ours). `objective="gan"`
is the paper's "normal GAN" comparison variant: sigmoid cross-entropy, instance noise of σ `instance_noise` after
every critic conv while training, no clipping. Ours, off by default: `critic_batch="joint"` scores reals and fakes in
one critic call (one set of batch statistics), `frame_critic_weight` > 0 adds a 2-D critic on every frame
(`TGANFrameCritic`, same objective, optimiser and clipping). Every random draw of step s comes from a generator seeded
with (seed, s), so a resumed run repeats exactly what an uninterrupted one does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from corpora.clip_folder import load_rgb_clips
from models.families.tgan.config import PRESETS, TGANConfig
from models.families.tgan.losses import (
    NORMAL_GAN_INSTANCE_NOISE,
    OPTIMISER,
    clip_critic_weights,
    critic_loss,
    gan_discriminator_loss,
    gan_generator_loss,
    generator_loss,
    gradient_penalty,
    singular_value_clip,
)
from models.families.tgan.networks import InstanceNoise, TGANCritic, TGANFrameCritic, TGANGenerator
from training.clip_windows import EpochWindows, fitting_stride
from training.distributed import step_seed
from training.recipe import StepLog
from training.recipe_parts import PresetRecipe, PresetRunConfig, model_config_from_preset, served_fps, write_clip_grid

Clipping = Literal["svc", "weight", "gp"]
Objective = Literal["wgan", "gan"]
Optimizer = Literal["rmsprop", "adam"]
CriticBatch = Literal["separate", "joint"]
EXTRA_REAL_ITEMS = 1 << 40
"""First data item of the extra critic updates' real batches (past any index the loop's batches use)."""


@dataclass(frozen=True)
class TGANRunConfig(PresetRunConfig):
    """One TGAN training run (`v2v train tgan`); flags map onto fields by name."""

    preset: str = "tgan-small"
    steps: int = 5000
    batch: int = OPTIMISER.batch
    lr: float = OPTIMISER.lr
    alpha: float = OPTIMISER.alpha
    """RMSprop's squared-gradient decay."""
    eps: float = OPTIMISER.eps
    svc_interval: int = OPTIMISER.svc_interval
    clipping: Clipping = "svc"
    """"svc": singular value clipping every svc_interval-th iteration; "weight": the weight-clipping baseline; "gp"
    (ours): no clipping, WGAN-GP's gradient penalty on clips between real and fake (Gulrajani et al. 2017)."""
    gp_weight: float = 10.0
    """λ of the gradient penalty (clipping "gp" only)."""
    objective: Objective = "wgan"
    """"wgan": the TGAN objective (Wasserstein, clipped critic); "gan": the paper's normal-GAN comparison variant."""
    instance_noise: float = NORMAL_GAN_INSTANCE_NOISE
    """σ of the instance noise after every critic conv (objective "gan" only)."""
    optimizer: Optimizer = "rmsprop"
    """The paper's RMSprop, or Adam (ours)."""
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999
    critic_batch: CriticBatch = "separate"
    """"separate": the critic scores the real and the fake batch in two calls, so its batch norms normalise each batch
    by its own statistics and a per-channel shift between real and fake features is removed before the score;
    "joint" (ours): one call on real and fake together (one set of batch statistics, in the G step too)."""
    frame_critic_weight: float = 0.0
    """Ours (0: the paper): when > 0, a 2-D critic scores every single frame beside the 3-D critic (same objective,
    optimiser and clipping), and its L_G term enters G's loss with this weight."""
    critic_steps: int = 1
    """Critic updates per G update (the TGAN code: 1; the WGAN paper: 5). Each extra one sees fresh fakes and a fresh
    real batch (data items from EXTRA_REAL_ITEMS on, a pure function of the step)."""
    frame_stride: int = 1
    """Real windows take every frame_stride-th frame (stride 1 when a clip is too short)."""
    fps: float | None = None
    """Frame rate of served videos (None: the data's fps / the stride used)."""

    def __post_init__(self) -> None:
        if self.clipping not in ("svc", "weight", "gp"):
            raise ValueError(f"clipping must be 'svc', 'weight' or 'gp', got {self.clipping!r}")
        if self.gp_weight <= 0:
            raise ValueError("gp_weight must be > 0")
        if self.svc_interval < 1 or self.frame_stride < 1 or self.critic_steps < 1:
            raise ValueError("svc_interval, frame_stride and critic_steps must be >= 1")
        if self.objective not in ("wgan", "gan"):
            raise ValueError(f"objective must be 'wgan' or 'gan', got {self.objective!r}")
        if self.optimizer not in ("rmsprop", "adam"):
            raise ValueError(f"optimizer must be 'rmsprop' or 'adam', got {self.optimizer!r}")
        if self.instance_noise < 0:
            raise ValueError("instance_noise must be >= 0")
        if self.frame_critic_weight < 0:
            raise ValueError("frame_critic_weight must be >= 0")
        if self.critic_batch not in ("separate", "joint"):
            raise ValueError(f"critic_batch must be 'separate' or 'joint', got {self.critic_batch!r}")


@dataclass(frozen=True)
class CriticTerm:
    """One critic of a run: its optimiser, its log-key suffix, its weight in L_G and what it reads of a clip."""

    critic: nn.Module
    optimizer: torch.optim.Optimizer
    suffix: str
    weight: float
    inputs: Callable[[torch.Tensor], torch.Tensor]


def frames_of(clips: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) → (B·T, C, H, W): every frame of every clip."""
    return clips.transpose(1, 2).flatten(0, 1)


class ClipWindows(torch.utils.data.Dataset):
    """A clip folder in memory; item i: {"video": (T, C, S, S) in [-1, 1]} (C = 3, or 1: the grey value)."""

    def __init__(self, root: str, split: str, size: int, frames: int, channels: int, stride: int, seed: int) -> None:
        self.clips, folder = load_rgb_clips(Path(root), split, size)  # (N, T0, 3, S, S) uint8
        if channels == 1:
            self.clips = self.clips[:, :, :1]  # (N, T0, 1, S, S): grey clips carry the value on every channel
        n, t0 = self.clips.shape[:2]
        self.draw = EpochWindows(n, t0, frames, fitting_stride(frames, stride, t0, root), seed)
        self.fps = folder.fps

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        video = self.clips[self.draw.clip(index), self.draw.window(index)]  # (T, C, S, S)
        return {"video": video.float() / 127.5 - 1}


class TGANRecipe(PresetRecipe):
    """G0 + G1 and the 3-D critic, WGAN with singular value clipping."""

    family = "tgan"
    run_config_type = TGANRunConfig
    supports_amp = True

    def __init__(self, config: TGANRunConfig) -> None:
        self.config = c = config
        self.model_config = m = model_config_from_preset(PRESETS, c.preset, c.overrides, TGANConfig, self.family)
        self._setup_run(c)
        self._dataset = ClipWindows(c.data, c.split, m.image_size, m.num_frames, m.channels, c.frame_stride, c.seed)
        init = torch.Generator().manual_seed(c.seed)
        self.gen = TGANGenerator(m, init).to(self.device)
        self.critic = TGANCritic(m, init).to(self.device)
        self.opt_g, self.opt_d = self._optimizer(self.gen), self._optimizer(self.critic)
        self.frame_critic = TGANFrameCritic(m, init).to(self.device) if c.frame_critic_weight > 0 else None
        self.opt_frame = self._optimizer(self.frame_critic) if self.frame_critic is not None else None

    def _optimizer(self, module: nn.Module) -> torch.optim.Optimizer:
        c = self.config
        if c.optimizer == "adam":
            return torch.optim.Adam(module.parameters(), lr=c.lr, betas=(c.adam_beta1, c.adam_beta2))
        return torch.optim.RMSprop(module.parameters(), lr=c.lr, alpha=c.alpha, eps=c.eps)

    # -- the loop's interface --------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        frame = {"D_frame": self.frame_critic} if self.frame_critic is not None else {}
        return {"G": self.gen, "D": self.critic, **frame}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        frame = {"D_frame": self.opt_frame} if self.opt_frame is not None else {}
        return {"G": self.opt_g, "D": self.opt_d, **frame}

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> StepLog:
        c = self.config
        rng = torch.Generator().manual_seed(step_seed(c.seed, step))
        real = batch["video"].to(self.device).transpose(1, 2)  # (B, C, T, H, W)
        self.gen.train()
        terms = self.critic_terms()
        for term in terms:
            term.critic.train()
        wgan = c.objective == "wgan"
        noise = None if wgan or c.instance_noise == 0 else InstanceNoise(c.instance_noise, rng)
        losses: dict[str, torch.Tensor] = {}

        # 1. G step first: L_G into G0 and G1 (critics frozen).
        for term in terms:
            term.critic.requires_grad_(False)
        with self.autocast():
            fake = self.gen(self._latents(real.shape[0], rng))  # (B, C, T, H, W)
            for term in terms:
                fake_scores = self._fake_scores(term, real, fake, noise)  # (B, T') or (B·T,)
                losses[f"G{term.suffix}"] = generator_loss(fake_scores) if wgan else gan_generator_loss(fake_scores)
        g = sum(term.weight * losses[f"G{term.suffix}"] for term in terms)
        self.opt_g.zero_grad(set_to_none=True)
        g.backward()
        self.opt_g.step()
        for term in terms:
            term.critic.requires_grad_(True)

        # 2. Critic steps on the detached fakes and the real batch (then critic_steps - 1 more on fresh ones).
        for extra in range(c.critic_steps):
            if extra:
                real = self._extra_real(step, extra, real.shape[0])  # (B, C, T, H, W)
                with torch.no_grad(), self.autocast():
                    fake = self.gen(self._latents(real.shape[0], rng))  # (B, C, T, H, W)
            for term in terms:
                with self.autocast():
                    real_scores, fake_scores = self._scores(term, real, fake.detach(), noise)
                d = critic_loss(real_scores, fake_scores) if wgan else gan_discriminator_loss(real_scores, fake_scores)
                if wgan and c.clipping == "gp":
                    penalty = gradient_penalty(lambda x, t=term: t.critic(t.inputs(x)), real, fake.detach(), rng)
                    losses[f"gp{term.suffix}"] = penalty
                    d = d + c.gp_weight * penalty
                term.optimizer.zero_grad(set_to_none=True)
                d.backward()
                term.optimizer.step()
                gap = real_scores.mean() - fake_scores.mean()  # the Wasserstein estimate ("gan": the logit gap)
                losses.update({f"D{term.suffix}": d, f"{'wasserstein' if wgan else 'logit_gap'}{term.suffix}": gap})

        # 3. Keep the critics Lipschitz: SVC every svc_interval-th iteration (or the weight-clipping baseline); the
        #    gradient penalty (above) and the normal-GAN variant clip nothing.
        clipped = 0
        for term in terms:
            if wgan and c.clipping == "weight":
                clip_critic_weights(term.critic)
                clipped = 1
            elif wgan and c.clipping == "svc" and (step + 1) % c.svc_interval == 0:
                singular_value_clip(term.critic)
                clipped = 1
        losses["G"] = g
        return StepLog({k: float(v.detach()) for k, v in losses.items()}, {"clipped": clipped})

    def critic_terms(self) -> list[CriticTerm]:
        """The video critic (the paper), then the frame critic when the run has one (ours)."""
        video = CriticTerm(self.critic, self.opt_d, "", 1.0, lambda clips: clips)
        if self.frame_critic is None:
            return [video]
        assert self.opt_frame is not None
        return [video, CriticTerm(self.frame_critic, self.opt_frame, "_frame", self.config.frame_critic_weight,
                                  frames_of)]

    def _fake_scores(self, term: CriticTerm, real: torch.Tensor, fake: torch.Tensor, noise: InstanceNoise | None
                     ) -> torch.Tensor:
        """The fakes' fp32 scores for the G step: alone, or beside the reals (`critic_batch` "joint")."""
        if self.config.critic_batch == "joint":
            return self._scores(term, real, fake, noise)[1]
        return term.critic(term.inputs(fake), noise).float()

    def _scores(self, term: CriticTerm, real: torch.Tensor, fake: torch.Tensor, noise: InstanceNoise | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """A critic's fp32 scores of the real and the fake batch (B, C, T, H, W each), in one call or two."""
        real, fake = term.inputs(real), term.inputs(fake)
        if self.config.critic_batch == "joint":
            scores = term.critic(torch.cat([real, fake]), noise).float()  # (2B, T') or (2B·T,)
            return scores[: real.shape[0]], scores[real.shape[0]:]
        return term.critic(real, noise).float(), term.critic(fake, noise).float()

    def _latents(self, n: int, rng: torch.Generator) -> Any:
        latents = self.gen.sample_latents(n, rng)
        return dataclasses.replace(latents, clip_code=latents.clip_code.to(self.device))

    def _extra_real(self, step: int, extra: int, n: int) -> torch.Tensor:
        """Real windows for the extra critic update `extra` (1..critic_steps-1) of `step`: (n, C, T, H, W)."""
        c = self.config
        first = EXTRA_REAL_ITEMS + (step * (c.critic_steps - 1) + extra - 1) * c.batch
        items = [self._dataset[first + i]["video"] for i in range(n)]
        return torch.stack(items).to(self.device).transpose(1, 2)

    @torch.no_grad()
    def sample_clips(self, n: int = 8, seed: int = 0) -> torch.Tensor:
        """Clips from fixed latents, BN in inference mode: (N, T, 3, H, W) in [-1, 1]. The global RNG is untouched."""
        latents = self._latents(n, torch.Generator().manual_seed(seed))
        self.gen.eval()
        video = self.gen(latents).transpose(1, 2).float().cpu()  # (N, T, C, H, W)
        self.gen.train()
        return video.expand(-1, -1, 3, -1, -1) if video.shape[2] == 1 else video

    def write_sample(self, batch: dict[str, torch.Tensor] | None, path: Path) -> Path:
        """A grid PNG: eight generated clips, then two real clips of the batch, one per row, frames left to right."""
        clips = self.sample_clips()
        if batch is not None:
            real = batch["video"][:2].float()  # (2, T, C, H, W)
            clips = torch.cat([clips, real.expand(-1, -1, 3, -1, -1) if real.shape[2] == 1 else real])
        return write_clip_grid(path, clips)

    def metadata(self) -> dict[str, Any]:
        c, m = self.config, self.model_config
        stride = self._dataset.draw.stride
        fps = served_fps(c.fps, self._dataset.fps, stride)
        return self.run_metadata(
            generate={"num_frames": {"min": m.num_frames, "max": m.num_frames}, "trained_frames": m.num_frames,
                      "classes": [], "seeds": ["video"], "fps": fps, "frame_stride": stride})
