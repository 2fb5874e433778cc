"""One trainer for both generator families, driving the streaming API `gen.start` / `gen.step` over clips, and for
vid2vid's single-image first-frame generator (family `single`: one-frame clips, `frame = gen(labels)`, D_I only).

Owns the training loop: data loading, per-clip generation (previous outputs detached between steps: no backprop
through time, as in the paper), the update order (vid2vid and single: G, then D_I, then each D_V; few-shot: D, then G),
learning-rate schedule, coarse-to-fine freezing, AMP on CUDA, the progress bar, RUN/log.jsonl, sample strips and
checkpoints (`training.state`). Losses live in `objectives`, the schedule in `schedule`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from tqdm import tqdm

from models.core.checkpoints import config_overrides_from_json
from models.families.vid2vid.first_frame import single_image_config
from models.registry import build_generator, get_preset_config
from models.families.vid2vid import schedule
from corpora.clips import Clip, ClipDataset, ClipSpec, collate_clips
from models.families.vid2vid.objectives import (
    ClipTensors,
    Discriminators,
    GeneratedFrame,
    generator_terms,
    image_d_loss,
    temporal_d_losses,
)
from training.samples import write_sample_strip
from models.families.vid2vid.schedule import TrainConfig
from models.core.vgg import VGGLoss
from models.families.vid2vid.single import SingleImageGenerator


@dataclass
class StepResult:
    """Losses of one optimisation step (floats, named as in log.jsonl)."""

    step: int
    losses: dict[str, float]
    clip_frames: int
    seconds: float
    references: int = 0
    """Few-shot K used in this step (0 for vid2vid)."""


def pick_device(choice: str) -> torch.device:
    """`auto`: CUDA when available, else CPU."""
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


class Trainer:
    """Build with a `TrainConfig`; `fit()` trains to `config.steps`, `resume()` first restores the last checkpoint."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.out = Path(config.out)
        self.device = pick_device(config.device)
        torch.manual_seed(config.seed)
        self.step = 0

        # 1. Data: label encoding decides the generator's label channels.
        base = get_preset_config(config.preset)
        self.is_fewshot = config.family == "fs_vid2vid"
        self.is_single = config.family == "single"
        use_instance = False
        probe = ClipDataset(config.data, config.split, ClipSpec(1, config.height, config.width))
        if probe.label_type == "segmentation":
            use_instance = int(config.overrides.get("label_channels", base.label_channels)) == probe.num_classes + 1
        self.n_prev = 0 if self.is_fewshot or self.is_single else base.n_frames_G - 1
        longest = max(schedule.clip_frames_at(config, config.steps), config.clip_frames, self.n_prev + 1)
        spec = ClipSpec(clip_frames=longest, height=config.height,
                        width=config.width, max_t_step=config.max_t_step, flip=config.flip,
                        references=config.references if self.is_fewshot else 0, use_instance=use_instance,
                        seed=config.seed)
        self.dataset = ClipDataset(config.data, config.split, spec)
        self.label_type, self.num_classes = self.dataset.label_type, self.dataset.num_classes
        self.overrides = {**config.overrides, "label_channels": self.dataset.channels}

        # 2. Networks and optimisers.
        if self.is_single:  # the preset's first-frame generator; the overrides stay the vid2vid config's
            self.gen = SingleImageGenerator(self._single_image_config()).to(self.device)
        else:
            typed = config_overrides_from_json(type(base), self.overrides)
            self.gen = build_generator(config.preset, **typed).to(self.device)
        self.no_first_frame = config.family == "vid2vid" and self.gen.config.first_frame == "zeros"
        vgg = None
        if config.vgg_weights:
            vgg = VGGLoss.from_state_dict(_read_tensors(Path(config.vgg_weights)))
        self.disc = Discriminators(config, self.dataset.channels, vgg).to(self.device)
        lr_g, lr_d, betas = schedule.learning_rates(config)
        self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.disc.image.parameters(), lr=lr_d, betas=betas)
        self.opt_dt = [torch.optim.Adam(m.parameters(), lr=lr_d, betas=betas)
                       for m in (self.disc.temporal.scales if self.disc.temporal is not None else [])]
        self.base_lrs = (lr_g, lr_d)

        # 3. Mixed precision (CUDA only): bf16 where supported, else fp16 with loss scaling.
        cuda = self.device.type == "cuda" and config.amp
        bf16 = cuda and torch.cuda.is_bf16_supported()
        self.amp_dtype = (torch.bfloat16 if bf16 else torch.float16) if cuda else None
        scaling = cuda and self.amp_dtype == torch.float16
        self.scalers = [torch.amp.GradScaler("cuda", enabled=scaling) for _ in range(2 + len(self.opt_dt))]

    # -- public ---------------------------------------------------------------------------------------------
    def fit(self) -> list[StepResult]:
        """Train from `self.step` to `config.steps`, checkpointing and sampling on schedule."""
        c = self.config
        results = []
        self.out.mkdir(parents=True, exist_ok=True)
        bar = tqdm(total=c.steps, initial=self.step, disable=not c.progress, desc=f"train {c.preset}")
        with bar, open(self.out / "log.jsonl", "a") as log:
            for clip in self._batches():
                result = self.train_step(clip)
                results.append(result)
                row = {"step": result.step, "clip_frames": result.clip_frames, "seconds": round(result.seconds, 4)}
                if result.references:
                    row["references"] = result.references
                log.write(json.dumps({**row, **result.losses}) + "\n")
                log.flush()
                bar.update(1)
                bar.set_postfix(G=f"{result.losses['G_total']:.3f}", D=f"{result.losses['D_image']:.3f}")
                if c.checkpoint_every > 0 and (self.step % c.checkpoint_every == 0 or self.step == c.steps):
                    self.save_checkpoint()
                if c.sample_every > 0 and self.step % c.sample_every == 0:
                    self.write_sample(clip)
        return results

    def train_step(self, batch: Clip) -> StepResult:
        """One optimisation step on a batch of clips; increments `self.step`."""
        started = time.perf_counter()
        c = self.config
        factor = schedule.lr_factor(c, self.step)
        for opt, base in ((self.opt_g, self.base_lrs[0]), (self.opt_d, self.base_lrs[1]),
                          *((o, self.base_lrs[1]) for o in self.opt_dt)):
            for group in opt.param_groups:
                group["lr"] = base * factor
        self._freeze_coarse(not schedule.train_coarse_scales(c, self.step))
        length = 1 if schedule.single_frame_phase(c, self.step) else schedule.clip_frames_at(c, self.step)
        length = max(length, self.n_prev + 1)
        references = schedule.references_at(c, self.step) if self.is_fewshot else 0
        clip = self._to_device(batch, length, references)

        self.gen.train()
        self.disc.train()
        logged: dict[str, float] = {}
        with self._autocast():
            generated, fake_sequence = self._generate(clip)
        if self.is_fewshot:  # few-shot: D step first, then G against the updated D
            logged.update(self._d_steps(clip, generated, fake_sequence))
            logged.update(self._g_step(clip, generated, fake_sequence))
        else:  # vid2vid and single: G, then D_I, then each D_V
            logged.update(self._g_step(clip, generated, fake_sequence))
            logged.update(self._d_steps(clip, generated, fake_sequence))
        self.step += 1
        logged["lr_G"] = self.opt_g.param_groups[0]["lr"]
        return StepResult(self.step, logged, length, time.perf_counter() - started, references)

    def save_checkpoint(self) -> Path:
        from training.state import save_checkpoint

        return save_checkpoint(self)

    def resume(self, path: Path | None = None) -> bool:
        """Restore the latest (or given) checkpoint of this run; False when there is none."""
        from training.state import latest_checkpoint, load_checkpoint

        path = path or latest_checkpoint(self.out)
        if path is None:
            return False
        load_checkpoint(self, path)
        return True

    def write_sample(self, batch: Clip) -> Path:
        """Strip (labels | output | ground truth) of the first clip of `batch`, generated without gradients."""
        clip = self._to_device(batch, batch.frames.shape[1])
        self.gen.eval()
        with torch.no_grad(), self._autocast():
            generated, _ = self._generate(clip)
        self.gen.train()
        outputs = [g.frame[0].float().cpu() for g in generated]
        first = generated[0].t
        return write_sample_strip(self.out / "samples" / f"step_{self.step:07d}.png", clip.labels[0, first:].cpu(),
                                  outputs, clip.frames[0, first:].cpu(), self.label_type)

    # -- generation -----------------------------------------------------------------------------------------
    def _generate(self, clip: ClipTensors) -> tuple[list[GeneratedFrame], torch.Tensor]:
        """Run the stream over the clip; returns the generated frames and the (B, T, 3, H, W) sequence the
        temporal D sees (observed real first frames, then generated frames)."""
        b, t_len, _, h, w = clip.frames.shape
        gen: Any = self.gen
        if self.is_single:  # every frame is an independent image (pix2pixHD): no state, no history
            frames = [gen(clip.labels[:, t]) for t in range(t_len)]
            return [_single_generated(t, f) for t, f in enumerate(frames)], torch.stack(frames, dim=1)
        if self.is_fewshot:
            state = gen.start(references=clip.references, reference_labels=clip.reference_labels)
            first = 0
        elif gen.config.first_frame == "zeros":
            state = gen.start(batch_size=b, height=h, width=w)
            first = 0
        else:  # real first frames (vid2vid training default)
            first = self.n_prev
            state = gen.start(batch_size=b, height=h, width=w, first_frames=clip.frames[:, :first],
                              first_labels=clip.labels[:, :first])
        generated: list[GeneratedFrame] = []
        sequence = [clip.frames[:, i] for i in range(first)]
        prev: torch.Tensor | None = clip.frames[:, first - 1] if first > 0 else None
        single = schedule.single_frame_phase(self.config, self.step)
        for t in range(first, t_len):
            if self.is_fewshot:  # the state keeps only a detached previous frame
                out, state = gen.step(clip.labels[:, t], state, single_frame=single)
            else:
                out, state = gen.step(clip.labels[:, t], state)
                state = state.detach()  # no backprop through time
            generated.append(_as_generated(out, t, prev, self.is_fewshot))
            prev = out.frame.detach()
            sequence.append(out.frame)
        return generated, torch.stack(sequence, dim=1)

    # -- updates --------------------------------------------------------------------------------------------
    def _g_step(self, clip: ClipTensors, generated: list[GeneratedFrame], fake_sequence: torch.Tensor
                ) -> dict[str, float]:
        self.disc.requires_grad_(False)
        with self._autocast():
            terms = generator_terms(self.config, self.disc, clip, generated, fake_sequence,
                                    no_first_frame=self.no_first_frame)
        total = sum(terms.values(), torch.zeros((), device=self.device))
        self.opt_g.zero_grad(set_to_none=True)
        self._backward_step(total, self.opt_g, self.scalers[0])
        self.disc.requires_grad_(True)
        if self.disc.vgg is not None:
            self.disc.vgg.requires_grad_(False)
        return {"G_total": float(total.detach()), **{k: float(v.detach()) for k, v in terms.items()}}

    def _d_steps(self, clip: ClipTensors, generated: list[GeneratedFrame], fake_sequence: torch.Tensor
                 ) -> dict[str, float]:
        logged = {}
        with self._autocast():
            d_loss = image_d_loss(self.disc, clip, generated)
        self.opt_d.zero_grad(set_to_none=True)
        self._backward_step(d_loss, self.opt_d, self.scalers[1])
        logged["D_image"] = float(d_loss.detach())
        with self._autocast():
            temporal = temporal_d_losses(self.disc, clip, generated[0].t, fake_sequence)
        for s, loss in temporal.items():
            self.opt_dt[s].zero_grad(set_to_none=True)
            self._backward_step(loss, self.opt_dt[s], self.scalers[2 + s])
            logged[f"D_temporal{s}"] = float(loss.detach())
        return logged

    def _backward_step(self, loss: torch.Tensor, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    # -- helpers --------------------------------------------------------------------------------------------
    def _single_image_config(self) -> Any:
        """The preset's (+ overrides') `SingleImageConfig`, checked against the data set's label encoding."""
        single = single_image_config(self.config.preset, self.overrides)
        expected = self.num_classes if self.label_type == "segmentation" else self.dataset.channels
        if single.input_channels != expected:
            raise ValueError(f"single_image.input_channels is {single.input_channels}, but the {self.label_type} "
                             f"labels of {self.config.data} give it {expected} channels (one-hot classes without "
                             "instance edges, or the continuous label channels)")
        return single

    def _freeze_coarse(self, frozen: bool) -> None:
        """Coarse-to-fine: while `frozen`, only the finest vid2vid scale (`gen.scales[-1]`) gets gradients."""
        if self.config.family != "vid2vid" or len(self.gen.scales) < 2:
            return
        scales = self.gen.scales
        for module in list(scales)[:-1]:
            module.requires_grad_(not frozen)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=self.amp_dtype)

    def _to_device(self, batch: Clip, length: int, references: int = 0) -> ClipTensors:
        """The first `length` frames on the device; few-shot: the first `references` references (0: all)."""
        def move(x: torch.Tensor | None) -> torch.Tensor | None:
            if x is not None and references > 0:
                x = x[:, :references]  # (B, K, C, H, W)
            return None if x is None else x.to(self.device, non_blocking=True)

        return ClipTensors(labels=batch.labels[:, :length].to(self.device),
                           frames=batch.frames[:, :length].to(self.device),
                           flows=batch.flows[:, :length].to(self.device), references=move(batch.references),
                           reference_labels=move(batch.reference_labels))

    def _batches(self) -> Iterator[Clip]:
        """Item i of the data set is a pure function of i, so a resumed run continues with the same clips."""
        c = self.config
        indices = range(self.step * c.batch, c.steps * c.batch)
        loader = torch.utils.data.DataLoader(self.dataset, batch_size=c.batch, sampler=indices,
                                             num_workers=c.workers, collate_fn=collate_clips)
        yield from loader


def _as_generated(out: Any, t: int, prev: torch.Tensor | None, fewshot: bool) -> GeneratedFrame:
    """Named generator output (`Vid2VidOutput` or `FewShotOutput`) -> the fields the objectives use."""
    if fewshot:
        first = out.flow_prev is None
        return GeneratedFrame(t=t, frame=out.frame, raw=out.raw, flow=out.flow_prev, warped_prev=out.warped_prev,
                              mask_prev=out.mask_prev, warped_ref=out.warped_ref, mask_ref=out.mask_ref,
                              prev_fake=None if first else prev, ref_index=out.ref_index)
    if out.raw_only:  # vid2vid first frame without history: the frame is the raw hallucination
        return GeneratedFrame(t=t, frame=out.frame, raw=None, flow=None, warped_prev=None, mask_prev=None,
                              warped_ref=None, mask_ref=None, prev_fake=None)
    return GeneratedFrame(t=t, frame=out.frame, raw=out.raw, flow=out.flow, warped_prev=out.warped,
                          mask_prev=out.mask, warped_ref=None, mask_ref=None, prev_fake=prev)


def _single_generated(t: int, frame: torch.Tensor) -> GeneratedFrame:
    """A single-image generator's output as frame t: the image alone (no raw, flow, mask or previous frame)."""
    return GeneratedFrame(t=t, frame=frame, raw=None, flow=None, warped_prev=None, mask_prev=None, warped_ref=None,
                          mask_ref=None, prev_fake=None)


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from safetensors or a torch file (weights_only)."""
    if path.suffix == ".safetensors":
        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)
