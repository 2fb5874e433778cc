"""VideoVAE's training recipe (reference §6.1, §6.3), driven by the generic loop (`training.loop`).

Data: a clip folder of `v2v data actions` (`corpora.clip_folder`, labels "action" and "look" per clip), held in
memory as uint8 at the model's size. Item i (a pure function of i and the seed) is a window of `clip_frames`
consecutive frames (every `frame_stride`-th frame) from a random start of a clip, with the clip's action and look:
as the port, every window of a training clip is a training clip. The attributes are the true labels, not the
classifier's predictions (the reference's advice for labelled synthetic data); with the model's `look_dropout`
(ours) a share of clips is shown no look.

Two stages, one step counter (so a resumed run continues in the right stage):
1. steps < `classifier_steps`: the frame encoder and the attribute classifier learn per-frame action and look with
   cross-entropy (every frame of the batch);
2. then the ELBO: per clip Σ_frames [Σ_pixels |x̂_t - x_t| + kl_weight · Σ_dims KL(q_dy ‖ p)] (the port's unweighted
   sum). With `freeze_encoder` (the port) the encoder is frozen (eval mode: no dropout, fixed BatchNorm statistics)
   and the rest learns the ELBO. Without it, the encoder and classifier keep learning: the objective is the ELBO plus
   the attribute cross-entropies (weight 1, the reference gives none) on every frame's x_enc. Measured here on
   data/actions32 (random backgrounds per clip): a classification-trained frozen encoder keeps no background, so
   after 1,300 ELBO steps the predicted frames were a grey mean with a faint figure (L1 670 per frame, flat).
Adam lr 1e-4, betas (0.9, 0.999), batch 32 (the port's setting), one optimiser for the encoder and classifier and
one for the rest. Every random draw of step s (dropout, z, h_0) comes from a generator seeded with (seed, s), so a
resumed run repeats an uninterrupted one.

The checkpoint metadata carries `n_past` / `n_future` (the card's context and horizon) and `attributes`: the value
names a job may ask for ({"action": [...], "look": [...]}), in the order of the model's one-hot blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from corpora.clip_folder import load_rgb_clips
from models.families.videovae.config import PRESETS, VideoVaeConfig
from models.families.videovae.losses import VIDEOVAE_ADAM, attribute_classification_loss, videovae_loss
from models.families.videovae.networks import VideoVae, attribute_vector, blank_looks
from training.clip_windows import EpochWindows
from training.distributed import step_seed
from training.precision import in_fp32
from training.recipe import StepLog
from training.recipe_parts import PresetRecipe, PresetRunConfig, model_config_from_preset, write_clip_grid


@dataclass(frozen=True)
class VideoVaeRunConfig(PresetRunConfig):
    """One VideoVAE training run (`v2v train videovae`); flags map onto fields by name."""

    preset: str = "videovae-small"
    steps: int = 5000
    batch: int = VIDEOVAE_ADAM.batch_size
    lr: float = VIDEOVAE_ADAM.learning_rate
    beta1: float = VIDEOVAE_ADAM.betas[0]
    beta2: float = VIDEOVAE_ADAM.betas[1]
    classifier_steps: int = 500
    """Stage 1 length: steps that train only the encoder and the attribute classifier."""
    freeze_encoder: bool = True
    """Stage 2 freezes the encoder (the port); False trains it on the ELBO plus the attribute terms."""
    kl_warmup_steps: int = 0
    """ELBO steps over which the KL weight rises linearly from 0 to the config's `kl_weight` (0: the port's constant
    weight). The usual remedy for posterior collapse, but alone it did not cure ours: with the port's decoder and
    initialisation and a unit-variance posterior start the KL stayed under 1 nat per frame and frames stayed the
    data's median. With `videovae-small-resize` and `posterior_logvar_init` (config) a 1,000-step warm-up to 0.05
    learns (docs/eval/eval_weizmann_videovae.md)."""
    frame_stride: int = 1
    """Training windows take every frame_stride-th frame (1: consecutive frames, as the port)."""
    n_past: int = 4
    """Most context frames a served job may give (one image is a context too)."""
    n_future: int | None = None
    """Trained future after one context frame (the card serves up to 3x); None = clip_frames - 1."""


class ActionLookClips(torch.utils.data.Dataset):
    """A clip folder in memory; item i: {"video": (T, 3, S, S) in [-1, 1], "action": (), "look": ()}."""

    def __init__(self, root: str, split: str, size: int, frames: int, stride: int, seed: int) -> None:
        self.clips, folder = load_rgb_clips(Path(root), split, size)  # (N, T0, 3, S, S) uint8
        self.actions = torch.tensor([int(folder.labels[n]["action"]) for n in folder.names])  # (N,)
        self.looks = torch.tensor([int(folder.labels[n]["look"]) for n in folder.names])  # (N,)
        self.action_names = [str(a) for a in folder.generator.get("actions", [])]  # type: ignore[union-attr]
        self.draw = EpochWindows(len(self.clips), self.clips.shape[1], frames, stride, seed)
        if self.draw.span > self.clips.shape[1]:
            raise ValueError(f"{root}: clips have {self.clips.shape[1]} frames, a window needs {self.draw.span}")

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        clip = self.draw.clip(index)
        video = self.clips[clip, self.draw.window(index)]  # (T, 3, S, S) uint8
        return {"video": video.float() / 127.5 - 1, "action": self.actions[clip], "look": self.looks[clip]}


class VideoVAERecipe(PresetRecipe):
    """The attribute classifier, then the structured recurrent VAE, on people-action clips."""

    family = "videovae"
    run_config_type = VideoVaeRunConfig
    supports_amp = True

    def __init__(self, config: VideoVaeRunConfig) -> None:
        self.config = c = config
        self.model_config = m = model_config_from_preset(PRESETS, c.preset, c.overrides, VideoVaeConfig, self.family)
        self.n_future = m.clip_frames - 1 if c.n_future is None else c.n_future
        if c.n_past < 1 or self.n_future < 1:
            raise ValueError(f"n_past and n_future must be >= 1, got {c.n_past} and {self.n_future}")
        self._setup_run(c)
        self._dataset = ActionLookClips(c.data, c.split, m.image_size, m.clip_frames, c.frame_stride, c.seed)
        actions, looks = int(self._dataset.actions.max()) + 1, int(self._dataset.looks.max()) + 1
        if actions > m.num_actions or looks > m.num_identities:
            raise ValueError(f"{c.data} ({c.split}) has {actions} actions and {looks} looks; the preset models "
                             f"{m.num_actions} and {m.num_identities}")
        self.model = VideoVae(m).to(self.device)
        adam = {"lr": c.lr, "betas": (c.beta1, c.beta2)}
        stage1 = [*self.model.encoder.parameters(), *self.model.classifier.parameters()]
        stage1_ids = {id(p) for p in stage1}
        self.opt_classifier = torch.optim.Adam(stage1, **adam)
        self.opt_vae = torch.optim.Adam([p for p in self.model.parameters() if id(p) not in stage1_ids], **adam)

    # -- the loop's interface --------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.model}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"classifier": self.opt_classifier, "vae": self.opt_vae}

    def kl_weight_at(self, step: int) -> float:
        """The KL weight of ELBO step `step` (counted on the run's step counter, after the classifier stage)."""
        c = self.config
        ramp = 1.0 if c.kl_warmup_steps <= 0 else min(1.0, (step - c.classifier_steps) / c.kl_warmup_steps)
        return self.model_config.kl_weight * max(ramp, 0.0)

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> StepLog:
        generator = torch.Generator(device=self.device).manual_seed(step_seed(self.config.seed, step))
        video = batch["video"].to(self.device)  # (B, T, 3, S, S)
        actions, looks = batch["action"].to(self.device), batch["look"].to(self.device)  # (B,), (B,)
        if step < self.config.classifier_steps:
            return self._classifier_step(video, actions, looks, generator)
        frozen = self.config.freeze_encoder
        self.model.train()
        if frozen:
            self.model.encoder.eval().requires_grad_(False)
        else:
            self.model.encoder.requires_grad_(True)
        shown_looks = blank_looks(looks, self.model_config.look_dropout, generator)  # (B,): some blank
        attributes = attribute_vector(actions, shown_looks, self.model_config)  # (B, A)
        with self.autocast():
            out = self.model(video, attributes, generator)
            logits = self.model.classifier(out.features.flatten(0, 1)) if not frozen else None  # per frame: (B·T, K)
        out, logits = in_fp32(out), in_fp32(logits)  # the losses in fp32 whatever the forward's precision
        kl_weight = self.kl_weight_at(step)
        losses = videovae_loss(out, video, kl_weight)
        t = video.shape[1]
        total, logged = losses.total, {}
        if logits is not None:  # the attribute terms keep the classifier in step with the learning encoder
            ce = attribute_classification_loss(logits, actions.repeat_interleave(t), looks.repeat_interleave(t))
            total = total + ce.total
            logged = {"ce_action": float(ce.action.detach()), "ce_look": float(ce.identity.detach())}
        optimizers = (self.opt_vae,) if frozen else (self.opt_vae, self.opt_classifier)
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        total.backward()
        for opt in optimizers:
            opt.step()
        return StepLog({"loss": float(total.detach()) / t, "l1": float(losses.reconstruction.detach()) / t,
                        "kl": float(losses.kl.detach()) / t, "kl_weight": kl_weight, **logged},
                       {"stage": 2})

    def _classifier_step(self, video: torch.Tensor, actions: torch.Tensor, looks: torch.Tensor,
                         generator: torch.Generator) -> StepLog:
        self.model.train()
        self.model.encoder.requires_grad_(True)
        t = video.shape[1]
        with self.autocast():
            logits = in_fp32(self.model.classify(video.flatten(0, 1), generator))  # per frame: (B·T, K)
        losses = attribute_classification_loss(logits, actions.repeat_interleave(t), looks.repeat_interleave(t))
        self.opt_classifier.zero_grad(set_to_none=True)
        losses.total.backward()
        self.opt_classifier.step()
        accuracy = {name: float((lg.argmax(1) == y.repeat_interleave(t)).float().mean())
                    for name, lg, y in (("action_acc", logits.action, actions), ("look_acc", logits.identity, looks))}
        return StepLog({"ce": float(losses.total.detach()), "ce_action": float(losses.action.detach()),
                        "ce_look": float(losses.identity.detach()), **accuracy}, {"stage": 1})

    @torch.no_grad()
    def predict_clips(self, first: torch.Tensor, actions: torch.Tensor, looks: torch.Tensor, frames: int,
                      seed: int) -> torch.Tensor:
        """From first frames (N, 3, S, S) with attributes (N,), (N,): (N, frames, 3, S, S), the first frame then
        frames - 1 predicted ones, eval mode (the training mode is restored)."""
        generator = torch.Generator(device=self.device).manual_seed(seed)
        was_training = self.model.training
        self.model.eval()
        state = self.model.start(attribute_vector(actions, looks, self.model_config), generator)
        state = self.model.observe(first, state, generator)
        out = [first]
        for _ in range(frames - 1):
            frame, state = self.model.predict(state, generator)
            out.append(frame)
        self.model.train(was_training)
        return torch.stack(out, 1)

    def write_sample(self, batch: dict[str, torch.Tensor], path: Path) -> Path:
        """A PNG, per clip of the first 3: the truth, the prediction from its first frame with its attributes, and
        with the next action and look (attribute control)."""
        n = min(3, batch["video"].shape[0])
        video = batch["video"][:n].to(self.device)  # (n, T, 3, S, S)
        actions, looks = batch["action"][:n].to(self.device), batch["look"][:n].to(self.device)
        m, t = self.model_config, video.shape[1]
        same = self.predict_clips(video[:, 0], actions, looks, t, self.config.seed)
        other = self.predict_clips(video[:, 0], (actions + 1) % m.num_actions, (looks + 1) % m.num_identities, t,
                                   self.config.seed)
        rows = [clip for i in range(n) for clip in (video[i], same[i], other[i])]
        return write_clip_grid(path, torch.stack(rows).cpu())

    def metadata(self) -> dict[str, Any]:
        c, m = self.config, self.model_config
        actions = self._dataset.action_names[:m.num_actions]
        actions += [f"action_{k}" for k in range(len(actions), m.num_actions)]
        return self.run_metadata(n_past=c.n_past, n_future=self.n_future, attributes={
            "action": actions, "look": [f"look_{k}" for k in range(m.num_identities)]})
