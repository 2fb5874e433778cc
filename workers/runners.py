"""Runners: one per served model. `setup()` loads the generator once; `run(spec, hooks)` runs one job.

Sizes: the generator runs at the model card's resolution unless the job's options give a height/width; every
generated frame is then resized back to the *label video's own size*, so the client gets back exactly the frame
count and size it uploaded (the mp4 pads an odd width/height by one pixel, as yuv420p requires even sizes).

Resuming: after each frame the PNG is written (atomically), then the generator state + RNG + frame count
(`workers.job_state`). A re-run of the same job (after its worker died) restores that state and continues with the
next frame; generation is deterministic, so the frames are byte-identical to an uninterrupted run. The mp4 is
muxed at the end from all PNGs, so a resumed job still produces the whole video.

vid2vid first frames (reference §1.6): streams start empty (zeros mode, raw hallucination first) unless the card's
config has first_frame "single_image"; then the first L frames are the single-image generator's images (weights:
the card's `first_frame_weights`), pushed into the state with `observe`, and `step` takes over from frame L.

Few-shot fine-tuning (`options.finetune_steps` > 0, reference §3.9): the job runs on a deep copy of the loaded
generator, fine-tuned on the job's references before `start` (`models.families.fs_vid2vid.finetune`); the shared generator and
the reference-set cache are never touched by it. The fine-tuned parameters are saved in the job's `state/` folder,
so a resumed job serves with the very same weights (no re-run, which could differ on CUDA).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from app.contracts import JobResult, JobSpec, ModelCard, ModelFamily
from models.core.labels import rgb_to_tensor, tensor_to_rgb
from workers.errors import JobCanceled, JobError
from workers.hooks import Hooks
from workers.job_state import clear_job_state, load_finetuned, load_job_state, save_finetuned, save_job_state
from workers.labels_input import LabelEncoder
from workers.video_io import DecodeError, encode_frames_to_mp4, read_image_rgb, read_label_frames, write_png_atomic

BUILD_SEED = 0
"""Seed for building untrained generators: every worker gets identical weights."""
REFERENCE_CACHE_SIZE = 8
FINETUNE_LR = 1e-4
"""Adam learning rate of few-shot fine-tuning on a job's references (`options.finetune_steps`)."""
RESULT_NAME = "result.mp4"


def frame_name(index: int) -> str:
    return f"{index:06d}.png"


def _resize_rgb(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    if frame.shape[:2] == (height, width):
        return frame
    shrink = frame.shape[0] > height or frame.shape[1] > width
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Runner:
    """Loads one served model once and runs jobs for it. Subclasses say how a job's initial state is made."""

    def __init__(self, card: ModelCard, device: torch.device, checkpoints_dir: Path) -> None:
        self.card = card
        self.device = device
        self.checkpoints_dir = checkpoints_dir
        self.generator: nn.Module | None = None

    # --------------------------------------------------------------------------------------------- setup

    def setup(self) -> None:
        """Build the generator (verified weights when the card has them), move it to the device, eval mode."""
        from models.core.checkpoints import load_generator

        weights = self.checkpoints_dir / self.card.weights if self.card.weights else None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(BUILD_SEED)  # untrained models: identical weights in every worker
            generator = load_generator(self.card.preset, dict(self.card.config), weights, self.card.sha256, "cpu")
        self.generator = generator.to(self.device).eval()

    def job_generator(self, spec: JobSpec, height: int, width: int, state_dir: Path, hooks: Hooks) -> nn.Module:
        """The generator this job runs: the shared loaded one unless the job's options adapt a copy (few-shot)."""
        assert self.generator is not None
        if spec.options.finetune_steps:
            raise JobError("bad_spec", f"finetune_steps applies to few-shot models only; model {self.card.name} is "
                                       f"{self.card.family.value}")
        return self.generator

    def start_state(self, spec: JobSpec, height: int, width: int, generator: nn.Module | None = None) -> Any:
        """The job's initial state, made by `generator` (default: the shared one)."""
        raise NotImplementedError

    def step(self, labels: torch.Tensor, state: Any, generator: nn.Module | None = None) -> tuple[Any, Any]:
        """One frame by `generator` (default: the shared one)."""
        generator = generator if generator is not None else self.generator
        assert generator is not None
        return generator.step(labels, state)

    # --------------------------------------------------------------------------------------------- run

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def run_size(self, spec: JobSpec) -> tuple[int, int]:
        return spec.options.height or self.card.height, spec.options.width or self.card.width

    def run(self, spec: JobSpec, hooks: Hooks) -> JobResult:
        """The per-job loop: labels in, frames + state out per frame, the mp4 at the end."""
        assert self.generator is not None, "call setup() first"
        started = time.monotonic()
        job_dir = Path(spec.job_dir)
        frames_dir, state_dir = job_dir / "frames", job_dir / "state"
        frames_dir.mkdir(parents=True, exist_ok=True)
        height, width = self.run_size(spec)
        limit = spec.options.max_frames
        encoder = LabelEncoder(self.card.labels, height, width)

        # 1. The job's generator (few-shot fine-tuning happens here, with gradients), then the initial state: fresh
        #    (seeded) or restored from the last completed frame of an earlier attempt.
        generator = self.job_generator(spec, height, width, state_dir, hooks)
        with torch.inference_mode(), self._autocast():
            state = self.start_state(spec, height, width, generator)
        saved = load_job_state(state_dir, self.device)  # also restores the RNG when present
        if saved is not None:
            state = type(state).from_tensors(saved.tensors)
            first = saved.next_frame
        else:
            torch.manual_seed(spec.options.seed)
            first = 0
        done = first

        # 2. Stream the label frames; skip those already generated.
        out_size: tuple[int, int] | None = None  # (height, width) of the upload
        with contextlib.closing(_label_frames(spec)) as frames:
            for index, label_frame in enumerate(frames):
                if limit is not None and index >= limit:
                    break
                out_size = out_size or (label_frame.shape[0], label_frame.shape[1])
                if index < first:
                    continue

                # 3. Generate frame `index` from its labels and the state of the frames before it.
                labels = encoder(label_frame).to(self.device)  # (1, C, H, W)
                with torch.inference_mode(), self._autocast():
                    out, state = self.step(labels, state, generator)
                rgb = tensor_to_rgb(out.frame[0])  # (H, W, 3) uint8
                rgb = _resize_rgb(rgb, *out_size)

                # 4. Durable record: the frame, then the state after it (the order resuming relies on).
                write_png_atomic(frames_dir / frame_name(index), rgb)
                done = index + 1
                save_job_state(state_dir, done, state.to_tensors(), self.device)

                # 5. Tell the world; stop if asked.
                hooks.report_progress(done, max(spec.frames_total, done))
                hooks.heartbeat()
                if hooks.should_stop():
                    raise JobCanceled()

        if done == 0:
            raise JobError("decode_failed", "the label input has no frames")
        assert out_size is not None

        # 6. Mux every frame (including those of earlier attempts) into the browser-playable mp4.
        hooks.heartbeat()
        frame_paths = [frames_dir / frame_name(i) for i in range(done)]
        missing = [p.name for p in frame_paths if not p.is_file()]
        if missing:
            raise JobError("internal", f"frames missing on disk: {', '.join(missing[:5])}", retryable=True)
        encode_frames_to_mp4(frame_paths, job_dir / RESULT_NAME, fps=spec.fps)
        clear_job_state(state_dir)  # the frames and the video are the record now
        hooks.report_progress(done, done)

        # 7. The result RQ stores.
        return JobResult(
            frames=done,
            fps=spec.fps,
            width=out_size[1],
            height=out_size[0],
            video_path=str(job_dir / RESULT_NAME),
            seconds=round(time.monotonic() - started, 3),
            resumed_from_frame=first,
        )


def _label_frames(spec: JobSpec) -> Iterator[np.ndarray]:
    """Label frames with decoding problems turned into a clear job error."""
    try:
        yield from read_label_frames(spec.labels_path, spec.labels_kind)
    except DecodeError as exc:
        raise JobError("decode_failed", str(exc)) from exc


@dataclass
class FirstFrameOutput:
    """A frame made by vid2vid's single-image generator (what the job loop reads of a step's output)."""

    frame: torch.Tensor  # (B, 3, H, W) in [-1, 1]


class Vid2VidRunner(Runner):
    """vid2vid: every stream starts empty. With first_frame "single_image" the frames t < L come from the single-image
    generator and enter the history through `observe`; the state's `frame_index` (saved with it) says which path a
    frame takes, so a resumed job continues exactly as an uninterrupted one."""

    def __init__(self, card: ModelCard, device: torch.device, checkpoints_dir: Path) -> None:
        super().__init__(card, device, checkpoints_dir)
        self.first_frame_generator: nn.Module | None = None

    def setup(self) -> None:
        """The video generator, and the single-image generator (verified weights when the card has them) when the
        config asks for one."""
        from models.core.checkpoints import load_single_image_generator

        super().setup()
        assert self.generator is not None
        if self.generator.config.first_frame != "single_image":
            if self.card.first_frame_weights:
                raise ValueError(f'model {self.card.name} has first_frame_weights but its config has first_frame '
                                 f'{self.generator.config.first_frame!r}, not "single_image"')
            return
        weights = self.checkpoints_dir / self.card.first_frame_weights if self.card.first_frame_weights else None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(BUILD_SEED)  # untrained: identical weights in every worker
            single = load_single_image_generator(self.card.preset, dict(self.card.config), weights,
                                                 self.card.first_frame_sha256, "cpu")
        self.first_frame_generator = single.to(self.device).eval()

    def start_state(self, spec: JobSpec, height: int, width: int, generator: nn.Module | None = None) -> Any:
        generator = generator if generator is not None else self.generator
        assert generator is not None
        return generator.start(batch_size=1, height=height, width=width)

    def step(self, labels: torch.Tensor, state: Any, generator: nn.Module | None = None) -> tuple[Any, Any]:
        generator = generator if generator is not None else self.generator
        assert generator is not None
        single = self.first_frame_generator
        if single is None or state.frame_index >= generator.config.n_prev:
            return generator.step(labels, state)
        frame = single(labels)  # (1, 3, H, W): frame t < L, from this frame's labels alone
        return FirstFrameOutput(frame), generator.observe(labels, frame, state)


class FewShotRunner(Runner):
    """Few-shot: the started state (the weights generated from the references) is cached per reference set (for the
    shared generator only; a job that fine-tunes starts its own copy)."""

    def __init__(self, card: ModelCard, device: torch.device, checkpoints_dir: Path) -> None:
        super().__init__(card, device, checkpoints_dir)
        self._cache: OrderedDict[str, dict[str, torch.Tensor]] = OrderedDict()
        self._state_type: Any = None

    def job_generator(self, spec: JobSpec, height: int, width: int, state_dir: Path, hooks: Hooks) -> nn.Module:
        """The shared generator, or (finetune_steps > 0) a copy fine-tuned on the job's references: loaded from the
        job's state folder when an earlier attempt saved it, else fine-tuned now and saved."""
        from models.families.fs_vid2vid.finetune import finetune_on_references

        assert self.generator is not None
        steps = spec.options.finetune_steps
        if not steps:
            return self.generator
        refs, ref_labels = self._reference_paths(spec)
        settings = {"steps": str(steps), "seed": str(spec.options.seed), "lr": repr(FINETUNE_LR),
                    "model": self.card.name, "weights": self.card.sha256 or "",
                    "references": self._reference_key(refs, ref_labels, height, width)}
        generator = copy.deepcopy(self.generator)  # never mutate the shared loaded model
        tunable = {id(p) for p in generator.finetune_parameters()}
        named = {name: p for name, p in generator.named_parameters() if id(p) in tunable}
        saved = load_finetuned(state_dir, settings)
        if saved is not None and set(saved) == set(named):
            with torch.no_grad():
                for name, p in named.items():
                    p.copy_(saved[name])
            return generator.eval()

        def on_step(done: int) -> None:
            hooks.heartbeat()
            if hooks.should_stop():
                raise JobCanceled()

        references, reference_labels = self._load_references(refs, ref_labels, height, width)
        finetune_on_references(generator, references, reference_labels, steps, lr=FINETUNE_LR,
                               seed=spec.options.seed, on_step=on_step)
        save_finetuned(state_dir, named, settings)
        return generator.eval()

    def start_state(self, spec: JobSpec, height: int, width: int, generator: nn.Module | None = None) -> Any:
        assert self.generator is not None
        refs, ref_labels = self._reference_paths(spec)
        if generator is not None and generator is not self.generator:  # fine-tuned for this job: own state, uncached
            references, reference_labels = self._load_references(refs, ref_labels, height, width)
            return generator.start(references=references, reference_labels=reference_labels)
        key = self._reference_key(refs, ref_labels, height, width)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return self._state_type.from_tensors({k: v.clone() for k, v in cached.items()})
        references, reference_labels = self._load_references(refs, ref_labels, height, width)
        state = self.generator.start(references=references, reference_labels=reference_labels)
        self._state_type = type(state)
        self._cache[key] = {k: v.clone() for k, v in state.to_tensors().items()}
        while len(self._cache) > REFERENCE_CACHE_SIZE:
            self._cache.popitem(last=False)
        return state

    def step(self, labels: torch.Tensor, state: Any, generator: nn.Module | None = None) -> tuple[Any, Any]:
        generator = generator if generator is not None else self.generator
        assert generator is not None
        return generator.step(labels, state, with_raw=False)  # serving needs no raw output

    def _reference_paths(self, spec: JobSpec) -> tuple[list[Path], list[Path]]:
        refs = [Path(p) for p in spec.reference_paths]
        ref_labels = [Path(p) for p in spec.reference_label_paths]
        self._check_references(refs, ref_labels)
        return refs, ref_labels

    @staticmethod
    def _reference_key(refs: list[Path], ref_labels: list[Path], height: int, width: int) -> str:
        return hashlib.sha256(
            f"{height}x{width}|".encode() + "|".join(_sha256_file(p) for p in refs + ref_labels).encode()
        ).hexdigest()

    def _check_references(self, refs: list[Path], ref_labels: list[Path]) -> None:
        bounds = self.card.references
        low, high = (bounds.min, bounds.max) if bounds is not None else (1, 8)
        if not low <= len(refs) <= high:
            raise JobError("bad_references", f"model {self.card.name} needs {low}..{high} reference images")
        if len(ref_labels) != len(refs):
            raise JobError("bad_references", "give one reference label image per reference image")

    def _load_references(
        self, refs: list[Path], ref_labels: list[Path], height: int, width: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        encoder = LabelEncoder(self.card.labels, height, width)
        try:
            images = [rgb_to_tensor(_resize_rgb(read_image_rgb(p), height, width)) for p in refs]  # K x (3, H, W)
            labels = [encoder(read_image_rgb(p))[0] for p in ref_labels]  # K x (C, H, W)
        except DecodeError as exc:
            raise JobError("bad_references", str(exc)) from exc
        references = torch.stack(images).unsqueeze(0).to(self.device)  # (1, K, 3, H, W)
        reference_labels = torch.stack(labels).unsqueeze(0).to(self.device)  # (1, K, C, H, W)
        return references, reference_labels


def make_runner(card: ModelCard, device: torch.device, checkpoints_dir: Path) -> Runner:
    """The runner class for a model card's family (not yet set up)."""
    if card.family == ModelFamily.FS_VID2VID:
        return FewShotRunner(card, device, checkpoints_dir)
    return Vid2VidRunner(card, device, checkpoints_dir)
