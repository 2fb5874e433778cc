"""vid2vid's training recipes, driven by the generic loop (`training.loop`): the video generator (`VideoRecipe`) and
the single-image first-frame generator (`SingleImageRecipe`, reference §1.6). Few-shot vid2vid builds on
`VideoRecipe` (`models.families.fs_vid2vid.recipe`).

A recipe owns: the clip data set (label encoding decides the generator's label channels), per-clip generation through
the streaming API (`gen.start` / `gen.step`, previous outputs detached between steps: no backprop through time, as in
the paper), the update order (here: G, then D_I, then each D_V), learning-rate schedule, coarse-to-fine freezing and
mixed precision. Losses live in `objectives`, the schedule in `schedule`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from corpora.clips import Clip, ClipDataset, ClipSpec, collate_clips
from models.core.checkpoints import config_overrides_from_json
from models.core.vgg import VGGLoss
from models.families.vid2vid import schedule
from models.families.vid2vid.first_frame import single_image_config
from models.families.vid2vid.generator import PRESETS, Vid2VidGenerator
from models.families.vid2vid.objectives import (
    ClipTensors,
    Discriminators,
    DiscriminatorStyle,
    GeneratedFrame,
    generator_terms,
    image_d_loss,
    temporal_d_losses,
)
from models.families.vid2vid.schedule import TrainConfig
from models.families.vid2vid.single import SingleImageGenerator
from training.loop import pick_device
from training.precision import amp_dtype, autocast_context
from training.recipe import RunSettings, StepLog
from training.samples import write_sample_strip


class VideoRecipe:
    """vid2vid's video generator on labelled clips."""

    family = "vid2vid"
    checkpoint_exclude: tuple[str, ...] = ("D.vgg.",)
    discriminator_style = DiscriminatorStyle()
    ttur_betas: tuple[float, float] = (0.0, 0.9)
    """Adam betas with TTUR (reference §2.5)."""
    d_first = False
    """Update order: False = G, then D_I, then each D_V (vid2vid); True = the Ds first, then G (few-shot)."""
    defaults: dict[str, Any] = {}
    forced: dict[str, Any] = {}

    @classmethod
    def train_config(cls, **values: Any) -> TrainConfig:
        """This recipe's `TrainConfig`: its defaults under `values` (None keeps a default); a clip longer than the
        clip-length cap raises the cap."""
        config = TrainConfig.create(cls.family, defaults=cls.defaults, forced=cls.forced, **values)
        if config.clip_frames > config.max_clip_frames:
            config = config.replace(max_clip_frames=config.clip_frames)
        return config

    @classmethod
    def config_fields(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(TrainConfig)]

    def __init__(self, config: TrainConfig) -> None:
        self.config = c = config
        self.run = RunSettings(out=c.out, steps=c.steps, batch=c.batch, seed=c.seed, workers=c.workers,
                               checkpoint_every=c.checkpoint_every, sample_every=c.sample_every, progress=c.progress)
        self.device = pick_device(c.device)
        torch.manual_seed(c.seed)

        # 1. Data: the label encoding decides the generator's label channels.
        base = self.preset_config()
        probe = ClipDataset(c.data, c.split, ClipSpec(1, c.height, c.width))
        use_instance = False
        if probe.label_type == "segmentation":
            use_instance = int(c.overrides.get("label_channels", base.label_channels)) == probe.num_classes + 1
        self.n_prev = self.history_frames(base)
        longest = max(schedule.clip_frames_at(c, c.steps), c.clip_frames, self.n_prev + 1) + c.rollout_frames
        spec = ClipSpec(clip_frames=longest, height=c.height, width=c.width, max_t_step=c.max_t_step, flip=c.flip,
                        references=self.max_references(), use_instance=use_instance, still_share=c.still_share,
                        seed=c.seed)
        self._dataset = ClipDataset(c.data, c.split, spec)
        self.label_type, self.num_classes = self._dataset.label_type, self._dataset.num_classes
        self.overrides = {**c.overrides, "label_channels": self._dataset.channels}

        # 2. Networks and optimisers.
        self.gen = self.build_generator(base).to(self.device)
        vgg = VGGLoss.from_state_dict(_read_tensors(Path(c.vgg_weights))) if c.vgg_weights else None
        self.disc = Discriminators(c, self._dataset.channels, vgg, self.discriminator_style).to(self.device)
        lr_g, lr_d, betas = schedule.learning_rates(c, self.ttur_betas)
        self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.disc.image.parameters(), lr=lr_d, betas=betas)
        self.opt_dt = [torch.optim.Adam(m.parameters(), lr=lr_d, betas=betas)
                       for m in (self.disc.temporal.scales if self.disc.temporal is not None else [])]
        self.base_lrs = {"G": lr_g, "D_image": lr_d, **{f"D_temporal{s}": lr_d for s in range(len(self.opt_dt))}}

        # 3. Mixed precision (`training.precision`): bf16 autocast on CUDA and on CPUs with bf16 units, fp16 with loss
        #    scaling on older GPUs, fp32 otherwise.
        self.amp_dtype = amp_dtype(self.device, c.amp)
        scaling = self.amp_dtype == torch.float16
        self._scalers = {name: torch.amp.GradScaler(self.device.type, enabled=scaling) for name in self.base_lrs}

    # -- what the family varies ------------------------------------------------------------------------------
    def preset_config(self) -> Any:
        if self.config.preset not in PRESETS:
            raise KeyError(f"unknown vid2vid preset {self.config.preset!r}; valid: {', '.join(sorted(PRESETS))}")
        return PRESETS[self.config.preset]

    def history_frames(self, base: Any) -> int:
        """Real frames a clip starts with before the first generated one (vid2vid: L; zeros mode uses none)."""
        return base.n_frames_G - 1

    def max_references(self) -> int:
        return 0

    def build_generator(self, base: Any) -> nn.Module:
        return Vid2VidGenerator(dataclasses.replace(base, **config_overrides_from_json(type(base), self.overrides)))

    def references_at(self, step: int) -> int:
        return 0

    def start_stream(self, clip: ClipTensors) -> tuple[Any, int]:
        """(state, index of the first generated frame)."""
        b, _, _, h, w = clip.frames.shape
        gen: Any = self.gen
        if gen.config.first_frame == "zeros":
            return gen.start(batch_size=b, height=h, width=w), 0
        first = self.n_prev  # real first frames (vid2vid training default)
        return gen.start(batch_size=b, height=h, width=w, first_frames=clip.frames[:, :first],
                         first_labels=clip.labels[:, :first]), first

    def step_stream(self, labels_t: torch.Tensor, state: Any, step: int) -> tuple[Any, Any]:
        out, state = self.gen.step(labels_t, state)  # type: ignore[operator]
        return out, state.detach()  # no backprop through time

    def as_generated(self, out: Any, t: int, prev: torch.Tensor | None) -> GeneratedFrame:
        if out.raw_only:  # first frame without history: the frame is the raw hallucination
            return GeneratedFrame(t=t, frame=out.frame, raw=None, flow=None, warped_prev=None, mask_prev=None,
                                  warped_ref=None, mask_ref=None, prev_fake=None)
        return GeneratedFrame(t=t, frame=out.frame, raw=out.raw, flow=out.flow, warped_prev=out.warped,
                              mask_prev=out.mask, warped_ref=None, mask_ref=None, prev_fake=prev)

    def generator_losses(self, clip: ClipTensors, generated: list[GeneratedFrame], fake_sequence: torch.Tensor
                         ) -> dict[str, torch.Tensor]:
        no_first_frame = self.gen.config.first_frame == "zeros"  # type: ignore[union-attr]
        return generator_terms(self.config, self.disc, clip, generated, fake_sequence, no_first_frame=no_first_frame)

    def freeze_coarse(self, frozen: bool) -> None:
        """Coarse-to-fine: while `frozen`, only the finest scale (`gen.scales[-1]`) gets gradients."""
        scales = list(self.gen.scales)  # type: ignore[union-attr]
        for module in scales[:-1]:
            module.requires_grad_(not frozen)

    # -- the loop's interface --------------------------------------------------------------------------------
    def dataset(self) -> ClipDataset:
        return self._dataset

    def collate(self, items: list[Clip]) -> Clip:
        return collate_clips(items)

    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.gen, "D": self.disc}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D_image": self.opt_d, **{f"D_temporal{s}": o for s, o in enumerate(self.opt_dt)}}

    def scalers(self) -> dict[str, torch.amp.GradScaler]:
        return self._scalers

    def train_step(self, batch: Clip, step: int) -> StepLog:
        c = self.config
        factor = schedule.lr_factor(c, step)
        for name, opt in self.optimizers().items():
            for group in opt.param_groups:
                group["lr"] = self.base_lrs[name] * factor
        self.freeze_coarse(not schedule.train_coarse_scales(c, step))
        length = 1 if schedule.single_frame_phase(c, step) else schedule.clip_frames_at(c, step)
        length = max(length, self.n_prev + 1) + c.rollout_frames
        references = self.references_at(step)
        clip = self.to_device(batch, length, references)

        self.gen.train()
        self.disc.train()
        logged: dict[str, float] = {}
        with self.autocast():
            generated, fake_sequence = self.generate(clip, step)
        updates = (self._d_steps, self._g_step) if self.d_first else (self._g_step, self._d_steps)
        for update in updates:
            logged.update(update(clip, generated, fake_sequence))
        logged["lr_G"] = self.opt_g.param_groups[0]["lr"]
        info = {"clip_frames": length, **({"references": references} if references else {})}
        return StepLog(logged, info)

    def write_sample(self, batch: Clip, path: Path) -> Path:
        """Strip (labels | output | ground truth) of the first clip of `batch`, generated without gradients."""
        clip = self.to_device(batch, batch.frames.shape[1])
        self.gen.eval()
        with torch.no_grad(), self.autocast():
            generated, _ = self.generate(clip, self.config.steps)
        self.gen.train()
        outputs = [g.frame[0].float().cpu() for g in generated]
        first = generated[0].t
        return write_sample_strip(path, clip.labels[0, first:].cpu(), outputs, clip.frames[0, first:].cpu(),
                                  self.label_type)

    def metadata(self) -> dict[str, Any]:
        c = self.config
        return {"family": c.family, "preset": c.preset, "config": self.overrides, "train_config": asdict(c),
                "labels": {"type": self.label_type, "num_classes": self.num_classes,
                           "channels": self._dataset.channels},
                "height": c.height, "width": c.width}

    def check_resume(self, meta: dict[str, Any]) -> None:
        c = self.config
        if meta["preset"] != c.preset or meta["family"] != c.family:
            raise ValueError(f"the checkpoint is a {meta['family']} {meta['preset']} run, not {c.family} {c.preset}")

    # -- generation and updates ------------------------------------------------------------------------------
    def generate(self, clip: ClipTensors, step: int) -> tuple[list[GeneratedFrame], torch.Tensor]:
        """Run the stream over the clip; the generated frames and the (B, T, 3, H, W) sequence the temporal D sees
        (observed real first frames, then generated frames). The first `rollout_frames` generated frames are made
        without gradients and left out of the returned list (they stay in the sequence)."""
        state, first = self.start_stream(clip)
        generated: list[GeneratedFrame] = []
        sequence = [clip.frames[:, i] for i in range(first)]
        prev: torch.Tensor | None = clip.frames[:, first - 1] if first > 0 else None
        trained_from = min(first + self.config.rollout_frames, clip.frames.shape[1] - 1)
        grad = torch.is_grad_enabled()
        for t in range(first, clip.frames.shape[1]):
            with torch.set_grad_enabled(grad and t >= trained_from):
                out, state = self.step_stream(clip.labels[:, t], state, step)
            if t >= trained_from:
                generated.append(self.as_generated(out, t, prev))
            prev = out.frame.detach()
            sequence.append(out.frame)
        return generated, torch.stack(sequence, dim=1)

    def _g_step(self, clip: ClipTensors, generated: list[GeneratedFrame], fake_sequence: torch.Tensor
                ) -> dict[str, float]:
        self.disc.requires_grad_(False)
        with self.autocast():
            terms = self.generator_losses(clip, generated, fake_sequence)
        total = sum(terms.values(), torch.zeros((), device=self.device))
        self.opt_g.zero_grad(set_to_none=True)
        self._backward_step(total, self.opt_g, self._scalers["G"])
        self.disc.requires_grad_(True)
        if self.disc.vgg is not None:
            self.disc.vgg.requires_grad_(False)
        return {"G_total": float(total.detach()), **{k: float(v.detach()) for k, v in terms.items()}}

    def _d_steps(self, clip: ClipTensors, generated: list[GeneratedFrame], fake_sequence: torch.Tensor
                 ) -> dict[str, float]:
        logged = {}
        with self.autocast():
            d_loss = image_d_loss(self.disc, clip, generated)
        self.opt_d.zero_grad(set_to_none=True)
        self._backward_step(d_loss, self.opt_d, self._scalers["D_image"])
        logged["D_image"] = float(d_loss.detach())
        with self.autocast():
            temporal = temporal_d_losses(self.disc, clip, generated[0].t, fake_sequence)
        for s, loss in temporal.items():
            self.opt_dt[s].zero_grad(set_to_none=True)
            self._backward_step(loss, self.opt_dt[s], self._scalers[f"D_temporal{s}"])
            logged[f"D_temporal{s}"] = float(loss.detach())
        return logged

    @staticmethod
    def _backward_step(loss: torch.Tensor, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        return autocast_context(self.device, self.amp_dtype)

    def to_device(self, batch: Clip, length: int, references: int = 0) -> ClipTensors:
        """The first `length` frames on the device; with references, the first `references` of them (0: all)."""
        def move(x: torch.Tensor | None) -> torch.Tensor | None:
            if x is not None and references > 0:
                x = x[:, :references]  # (B, K, C, H, W)
            return None if x is None else x.to(self.device, non_blocking=True)

        return ClipTensors(labels=batch.labels[:, :length].to(self.device),
                           frames=batch.frames[:, :length].to(self.device),
                           flows=batch.flows[:, :length].to(self.device), references=move(batch.references),
                           reference_labels=move(batch.reference_labels))


class SingleImageRecipe(VideoRecipe):
    """vid2vid's single-image first-frame generator: every frame an independent image (pix2pixHD), D_I only."""

    family = "single"
    forced: dict[str, Any] = {"clip_frames": 1, "max_clip_frames": 1, "clip_double_every": 0,
                              "n_scales_temporal": 0}

    def history_frames(self, base: Any) -> int:
        return 0

    def build_generator(self, base: Any) -> nn.Module:
        single = single_image_config(self.config.preset, self.overrides)
        expected = self.num_classes if self.label_type == "segmentation" else self._dataset.channels
        if single.input_channels != expected:
            raise ValueError(f"single_image.input_channels is {single.input_channels}, but the {self.label_type} "
                             f"labels of {self.config.data} give it {expected} channels (one-hot classes without "
                             "instance edges, or the continuous label channels)")
        return SingleImageGenerator(single)

    def freeze_coarse(self, frozen: bool) -> None:
        return None

    def generate(self, clip: ClipTensors, step: int) -> tuple[list[GeneratedFrame], torch.Tensor]:
        frames = [self.gen(clip.labels[:, t]) for t in range(clip.frames.shape[1])]
        generated = [GeneratedFrame(t=t, frame=f, raw=None, flow=None, warped_prev=None, mask_prev=None,
                                    warped_ref=None, mask_ref=None, prev_fake=None) for t, f in enumerate(frames)]
        return generated, torch.stack(frames, dim=1)

    def generator_losses(self, clip: ClipTensors, generated: list[GeneratedFrame], fake_sequence: torch.Tensor
                         ) -> dict[str, torch.Tensor]:
        return generator_terms(self.config, self.disc, clip, generated, fake_sequence)


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from safetensors or a torch file (weights_only)."""
    if path.suffix == ".safetensors":
        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)
