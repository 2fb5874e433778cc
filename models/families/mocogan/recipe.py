"""MoCoGAN's training recipe (reference §3.4), driven by the generic loop (`training.loop`).

Data: a clip folder of `v2v data actions` (`corpora.clip_folder`), held in memory as uint8. Item i (any i >= 0, a pure
function of i and the seed) is a real video of `num_frames` frames taken every `frame_stride`-th frame from a random
start of a clip (stride 1 when the clip is too short), resized to the model's size, with its action label, one real
image drawn uniformly from all frames of the corpus, and a frame of a partner clip (another clip of the same look, or of
the same scene: `identity_pair_real`). Per iteration: D_I, then D_V (with the category head on the real labels), then G
(image + video adversarial terms and the "InfoGAN" category term on the requested labels), each on fresh fakes; with
`identity_pair_weight` > 0 (ours) an identity-pair critic trains after D_V and G gets its term too. Adam lr 2e-4, betas
(0.5, 0.999), weight decay 1e-5, separately for G, D_I and D_V. Every random draw of step s (latents, fake frame picks,
instance noise) comes from a generator seeded with (seed, s), so a resumed run repeats exactly what an uninterrupted one
does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch
from torch import nn

from corpora.clip_folder import load_rgb_clips
from models.families.mocogan.config import PRESETS, MoCoGANConfig
from models.families.mocogan.losses import (
    fooling_loss,
    frame_pair,
    generator_loss,
    image_discriminator_loss,
    random_frame_per_clip,
    video_discriminator_loss,
)
from models.families.mocogan.networks import (
    IdentityPairDiscriminator,
    ImageDiscriminator,
    MoCoGANGenerator,
    MoCoGANLatents,
    VideoDiscriminator,
)
from training.clip_windows import EpochWindows, fitting_stride
from training.distributed import step_seed
from training.recipe import StepLog
from training.recipe_parts import PresetRecipe, PresetRunConfig, model_config_from_preset, served_fps, write_clip_grid

MAX_SERVED_FRAMES = 64
"""The longest video a served card offers (MoCoGAN unrolls its GRU for any length)."""


NoisedDiscriminators = Literal["both", "image", "video"]
PairSource = Literal["clip", "look", "scene"]


@dataclass(frozen=True)
class MoCoGANRunConfig(PresetRunConfig):
    """One MoCoGAN training run (`v2v train mocogan`); flags map onto fields by name."""

    preset: str = "mocogan-small"
    steps: int = 5000
    batch: int = 16
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 1e-5
    frame_stride: int = 2
    """Real clips take every frame_stride-th frame (reference: 2); stride 1 when a clip is too short."""
    category_weight: float = 1.0
    """Weight of G's category cross-entropy (the paper: 1; ours to trade realism for action control)."""
    identity_pair_weight: float = 0.0
    """Ours (0 = off, the paper): weight of G's term against an identity-pair critic (`IdentityPairDiscriminator`),
    trained on two frames of one real clip against frames of two fakes that share z_C but not the action or motion."""
    identity_pair_real: PairSource = "clip"
    """Where the identity-pair critic's real pairs come from: "clip" (two times of one clip: one scene, one action),
    "look" (a frame of the clip and one of another clip of the same look: other action, other background) or "scene"
    (the other clip of the clip's scene: the same look and background, another action; data written with
    `v2v data actions --paired-scenes`)."""
    instance_noise_decay_steps: int = 0
    """When > 0, the discriminators' instance noise falls linearly from the preset's std to 0 over this many steps of
    the run (then stays off); 0: constant (the paper)."""
    instance_noise_on: NoisedDiscriminators = "both"
    """Which discriminators get the instance noise: "both" (the paper), "image" (D_I only) or "video" (D_V only)."""
    fps: float | None = None
    """Frame rate of served videos (None: the data's fps / the stride used, so motion plays at its real pace)."""

    def __post_init__(self) -> None:
        if self.instance_noise_on not in get_args(NoisedDiscriminators):
            raise ValueError(f"instance_noise_on must be both, image or video, got {self.instance_noise_on!r}")
        if self.identity_pair_real not in get_args(PairSource):
            raise ValueError(f"identity_pair_real must be clip, look or scene, got {self.identity_pair_real!r}")


class ActionClips(torch.utils.data.Dataset):
    """A clip folder in memory; item i: {"video": (T, 3, S, S) in [-1, 1], "action": (), "image": (3, S, S),
    "partner": (3, S, S), a frame of another clip with the video's `partners_by` label, "look" or "scene" (the clip
    itself when no other has it)}."""

    def __init__(self, root: str, split: str, size: int, frames: int, stride: int, seed: int,
                 partners_by: str = "look") -> None:
        self.clips, folder = load_rgb_clips(Path(root), split, size)  # (N, T0, 3, S, S) uint8
        self.actions = torch.tensor([int(folder.labels[n]["action"]) for n in folder.names])  # (N,)
        if partners_by == "scene" and any("scene" not in folder.labels[n] for n in folder.names):
            raise ValueError(f"{root} has no scene labels: write it with `v2v data actions --paired-scenes`")
        keys = [int(folder.labels[n].get(partners_by, -1)) for n in folder.names]
        by_key: dict[int, list[int]] = {}
        for n, key in enumerate(keys):
            by_key.setdefault(key, []).append(n)
        self.partners = [[m for m in by_key[key] if m != n] or [n] for n, key in enumerate(keys)]
        self.names: list[str] = list(folder.generator.get("actions", []))
        self.fps = folder.fps
        n, t0 = self.clips.shape[:2]
        self.draw = EpochWindows(n, t0, frames, fitting_stride(frames, stride, t0, root), seed)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.draw.seed, index])
        n, t0 = self.clips.shape[:2]
        clip = self.draw.clip(index)
        video = self.clips[clip, self.draw.window(index, rng)]  # (T, 3, S, S)
        image = self.clips[int(rng.integers(n)), int(rng.integers(t0))]  # (3, S, S)
        partners = self.partners[clip]
        partner = self.clips[partners[int(rng.integers(len(partners)))], int(rng.integers(t0))]  # (3, S, S)
        return {"video": video.float() / 127.5 - 1, "action": self.actions[clip], "image": image.float() / 127.5 - 1,
                "partner": partner.float() / 127.5 - 1}


class MoCoGANRecipe(PresetRecipe):
    """G (GRU + G_I), D_I and D_V on people-action clips."""

    family = "mocogan"
    run_config_type = MoCoGANRunConfig
    supports_amp = True

    def __init__(self, config: MoCoGANRunConfig) -> None:
        self.config = c = config
        self.model_config = m = model_config_from_preset(PRESETS, c.preset, c.overrides, MoCoGANConfig, self.family)
        self._setup_run(c)
        partners_by = "scene" if c.identity_pair_real == "scene" else "look"
        self._dataset = ActionClips(c.data, c.split, m.image_size, m.num_frames, c.frame_stride, c.seed, partners_by)
        classes = int(self._dataset.actions.max()) + 1
        if m.num_categories and classes > m.num_categories:
            raise ValueError(f"{c.data} has {classes} actions, the preset models {m.num_categories}")
        self.gen = MoCoGANGenerator(m).to(self.device)
        self.d_image = ImageDiscriminator(m).to(self.device)
        self.d_video = VideoDiscriminator(m).to(self.device)
        adam = {"lr": c.lr, "betas": (c.beta1, c.beta2), "weight_decay": c.weight_decay}
        self.opt_g = torch.optim.Adam(self.gen.parameters(), **adam)
        self.opt_di = torch.optim.Adam(self.d_image.parameters(), **adam)
        self.opt_dv = torch.optim.Adam(self.d_video.parameters(), **adam)
        self.d_pair = IdentityPairDiscriminator(m).to(self.device) if c.identity_pair_weight > 0 else None
        self.opt_dp = torch.optim.Adam(self.d_pair.parameters(), **adam) if self.d_pair is not None else None

    # -- the loop's interface --------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        pair = {"D_pair": self.d_pair} if self.d_pair is not None else {}
        return {"G": self.gen, "D_I": self.d_image, "D_V": self.d_video, **pair}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        pair = {"D_pair": self.opt_dp} if self.opt_dp is not None else {}
        return {"G": self.opt_g, "D_I": self.opt_di, "D_V": self.opt_dv, **pair}

    def _on_device(self, latents: MoCoGANLatents) -> MoCoGANLatents:
        return dataclasses.replace(latents, **{k: getattr(latents, k).to(self.device) for k in
                                               ("content", "category", "initial_motion", "motion_noise")})

    def fakes(self, batch: int, grad: bool, rng: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor | None, MoCoGANLatents]:
        """Fresh fake clips (B, C, T, H, W), the class labels z_A encoded (None without categories), their latents."""
        m = self.model_config
        labels = torch.randint(m.num_categories, (batch,), generator=rng) if m.num_categories else None
        with torch.set_grad_enabled(grad):
            latents = self._on_device(self.gen.sample_latents(batch, m.num_frames, rng, labels))
            video = self.gen(latents)  # (B, C, T, H, W)
        return video, None if labels is None else labels.to(self.device), latents

    def partner_clips(self, latents: MoCoGANLatents, grad: bool, rng: torch.Generator) -> torch.Tensor:
        """Clips (B, C, T, H, W) with the same z_C as `latents`, another action (when there are classes) and a
        fresh motion: what the identity-pair critic sets against two times of one real clip."""
        m, batch = self.model_config, latents.content.shape[0]
        other = None
        if m.num_categories:
            labels = latents.category.argmax(dim=1).cpu()  # (B,)
            other = (labels + torch.randint(1, m.num_categories, (batch,), generator=rng)) % m.num_categories
        with torch.set_grad_enabled(grad):
            drawn = self._on_device(self.gen.sample_latents(batch, m.num_frames, rng, other))
            return self.gen(dataclasses.replace(drawn, content=latents.content))  # (B, C, T, H, W)

    def _pair_step(self, real_video: torch.Tensor, partner_frame: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """One update of the identity-pair critic; its loss."""
        with self.autocast():
            fake, _, latents = self.fakes(real_video.shape[0], grad=False, rng=rng)
            partner = self.partner_clips(latents, grad=False, rng=rng)
            second = real_video[:, :, -1] if self.config.identity_pair_real == "clip" else partner_frame  # (B, C, H, W)
            real_pair = torch.cat([real_video[:, :, 0], second], dim=1)  # (B, 2C, H, W)
            dp = image_discriminator_loss(self.d_pair(real_pair, rng), self.d_pair(frame_pair(fake, partner, rng), rng))
        self.opt_dp.zero_grad(set_to_none=True)
        dp.total.backward()
        self.opt_dp.step()
        return dp.total

    def instance_noise_std(self, step: int) -> float:
        """The discriminators' instance noise at `step` (`instance_noise_decay_steps`)."""
        std, decay = self.model_config.instance_noise_std, self.config.instance_noise_decay_steps
        return std if decay <= 0 else std * max(0.0, 1.0 - step / decay)

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> StepLog:
        rng = torch.Generator().manual_seed(step_seed(self.config.seed, step))
        std, on = self.instance_noise_std(step), self.config.instance_noise_on
        self.d_image.instance_noise_std = std if on in ("both", "image") else 0.0
        self.d_video.instance_noise_std = std if on in ("both", "video") else 0.0
        if self.d_pair is not None:
            self.d_pair.instance_noise_std = self.d_image.instance_noise_std
        real_video = batch["video"].to(self.device).transpose(1, 2)  # (B, C, T, H, W)
        real_image = batch["image"].to(self.device)  # (B, C, H, W)
        labels = batch["action"].to(self.device) if self.model_config.num_categories else None
        b = real_video.shape[0]
        for module in self.modules().values():
            module.train()

        # 1. D_I on real frames and one frame of each fresh fake clip.
        with self.autocast():
            fake, _, _ = self.fakes(b, grad=False, rng=rng)
            di = image_discriminator_loss(self.d_image(real_image, rng),
                                          self.d_image(random_frame_per_clip(fake, rng), rng))
        self.opt_di.zero_grad(set_to_none=True)
        di.total.backward()
        self.opt_di.step()

        # 2. D_V on real clips (with their action labels) and fresh fakes.
        with self.autocast():
            fake, _, _ = self.fakes(b, grad=False, rng=rng)
            dv = video_discriminator_loss(self.d_video(real_video, rng), self.d_video(fake, rng), labels)
        self.opt_dv.zero_grad(set_to_none=True)
        dv.total.backward()
        self.opt_dv.step()
        pair_losses = {}
        if self.d_pair is not None:
            pair_losses["D_pair"] = self._pair_step(real_video, batch["partner"].to(self.device), rng)

        # 3. G on fresh fakes through the discriminators (theirs frozen), with the category term.
        critics = [module for name, module in self.modules().items() if name != "G"]
        for critic in critics:
            critic.requires_grad_(False)
        with self.autocast():
            fake, fake_labels, latents = self.fakes(b, grad=True, rng=rng)
            g = generator_loss(self.d_image(random_frame_per_clip(fake, rng), rng), self.d_video(fake, rng),
                               fake_labels, self.config.category_weight)
            total = g.total
            if self.d_pair is not None:
                partner = self.partner_clips(latents, grad=True, rng=rng)
                pair_losses["G_pair"] = fooling_loss(self.d_pair(frame_pair(fake, partner, rng), rng))
                total = total + self.config.identity_pair_weight * pair_losses["G_pair"]
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        self.opt_g.step()
        for critic in critics:
            critic.requires_grad_(True)
        losses = {"G": total, "D_I": di.total, "D_V": dv.total, "G_image": g.image_adversarial,
                  "G_video": g.video_adversarial, "G_category": g.category, "D_V_category": dv.category, **pair_losses}
        return StepLog({k: float(v.detach()) for k, v in losses.items()})

    @torch.no_grad()
    def sample_clips(self, per_class: int = 2, seed: int = 0) -> torch.Tensor:
        """Clips from fixed latents, `per_class` per action (or 8 without classes), BN in inference mode:
        (N, T, 3, H, W) in [-1, 1]. The global generator is not touched."""
        m = self.model_config
        rng = torch.Generator().manual_seed(seed)
        k = m.num_categories
        labels = torch.arange(k).repeat_interleave(per_class) if k else None
        n = len(labels) if labels is not None else 8
        latents = self.gen.sample_latents(n, m.num_frames, rng, labels)
        latents = dataclasses.replace(latents, **{f: getattr(latents, f).to(self.device) for f in
                                                  ("content", "category", "initial_motion", "motion_noise")})
        self.gen.eval()
        video = self.gen(latents).transpose(1, 2).float().cpu()  # (N, T, C, H, W)
        self.gen.train()
        return video

    def write_sample(self, batch: dict[str, torch.Tensor], path: Path) -> Path:
        """A grid PNG: one generated clip per row (two per action), frames left to right."""
        return write_clip_grid(path, self.sample_clips())

    def metadata(self) -> dict[str, Any]:
        c, m = self.config, self.model_config
        names = self._dataset.names[:m.num_categories] if m.num_categories else []
        stride = self._dataset.draw.stride
        fps = served_fps(c.fps, self._dataset.fps, stride)
        return self.run_metadata(
            generate={"num_frames": {"min": 1, "max": MAX_SERVED_FRAMES}, "trained_frames": m.num_frames,
                      "classes": names, "class_option": "action" if names else None,
                      "seeds": ["content", "motion"], "fps": fps, "frame_stride": stride})
