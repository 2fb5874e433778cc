"""THE per-job loop, for every kind and family: inputs -> pipeline steps -> durable frames + state -> mp4 per sample.

Resuming: after each step its frames are written (PNG, atomically), then the pipeline state, the job's RNG and the
frame count (`workers.job_state`; the state on a background thread while the next frame is made, so a crash may
leave it one frame behind the PNGs: the resumed run remakes that frame, identically). A re-run of the same job
(after its worker died) restores them and continues with the next frame; generation is deterministic, so the frames
are byte-identical to an uninterrupted run. The state says which precision its frames were made in; a worker that
serves in another (its own start-up choice: `workers.precision`) continues the job in the recorded one. The videos
are muxed at the end from all PNGs, so a resumed job still produces whole videos.

Frames: `frames/000000.png`... for a single sample; `frames/sample_00/000000.png`... with several. Videos:
`result.mp4` (sample 0), then `result_01.mp4`, ...
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

import torch

from app.contracts import JobResult, JobSpec
from models.core.family import Adaptable, Describable, InputError, Pipeline
from models.core.labels import tensor_to_rgb
from models.core.low_precision import refresh_low_precision_weights
from workers.errors import JobCanceled, JobError
from workers.hooks import Hooks
from workers.inputs import InputSource, resize_rgb
from workers.job_state import (
    StateWriter,
    clear_job_state,
    load_job_state,
    load_named_tensors,
    save_named_tensors,
)
from workers.precision import Precision
from workers.prefetch import prefetched
from workers.video_io import encode_rgb_frames_to_mp4, write_png_atomic

log = logging.getLogger(__name__)

RESULT_NAME = "result.mp4"
_RNG_KEY = "__job__.generator"


def frame_path(frames_dir: Path, samples: int, sample: int, index: int) -> Path:
    folder = frames_dir if samples == 1 else frames_dir / f"sample_{sample:02d}"
    return folder / f"{index:06d}.png"


def video_name(sample: int) -> str:
    return RESULT_NAME if sample == 0 else f"result_{sample:02d}.mp4"


class _JobAdaptHooks:
    """`models.core.family.AdaptHooks` over the job's hooks and its state folder."""

    def __init__(self, hooks: Hooks, state_dir: Path) -> None:
        self.hooks, self.state_dir = hooks, state_dir

    def on_step(self, done: int) -> None:
        self.hooks.heartbeat()
        if self.hooks.should_stop():
            raise JobCanceled()

    def load_tensors(self, name: str, settings: Mapping[str, str]) -> dict[str, torch.Tensor] | None:
        return load_named_tensors(self.state_dir, name, dict(settings))

    def save_tensors(self, name: str, tensors: Mapping[str, torch.Tensor], settings: Mapping[str, str]) -> None:
        save_named_tensors(self.state_dir, name, dict(tensors), dict(settings))


def run_job(pipeline: Pipeline, source: InputSource, spec: JobSpec, hooks: Hooks, device: torch.device,
            precision: Precision | None = None) -> JobResult:
    """Run one job to its videos in `precision` (default fp32; a resumed job: the one its frames were made in);
    raises JobError (clear code), JobCanceled, or OSError (disk)."""
    started = time.monotonic()
    job_dir = Path(spec.job_dir)
    frames_dir, state_dir = job_dir / "frames", job_dir / "state"
    frames_dir.mkdir(parents=True, exist_ok=True)
    precision = precision or Precision("fp32", "default")
    samples = source.samples
    for sample in range(samples):
        frame_path(frames_dir, samples, sample, 0).parent.mkdir(parents=True, exist_ok=True)

    writer = StateWriter(state_dir, precision.name)
    try:
        # 1. The job's pipeline (a family may adapt a copy to this job, with gradients), then the state: fresh
        #    (seeded) or restored from the last completed step of an earlier attempt.
        if isinstance(pipeline, Adaptable):
            hooks_for_adapt = _JobAdaptHooks(hooks, state_dir)
            pipeline = pipeline.adapt(source.start, spec.family_options, spec.options.seed, hooks_for_adapt)
            refresh_low_precision_weights(pipeline)  # its weights changed: re-make any reduced-precision copies
        rng = torch.Generator().manual_seed(spec.options.seed)
        saved = load_job_state(state_dir, device)
        if saved is not None and saved.precision not in (None, precision.name):
            log.info("job %s: continuing in %s, the precision of its earlier frames", spec.job_id, saved.precision)
            precision = Precision(saved.precision, "the precision of the job's earlier frames")
            writer.precision = precision.name
        fast = precision.autocast(device)
        if saved is not None:
            tensors = dict(saved.tensors)
            rng.set_state(tensors.pop(_RNG_KEY).cpu())
            state, done = pipeline.state_from_tensors(tensors), saved.next_frame
        else:
            torch.manual_seed(spec.options.seed)
            with torch.inference_mode(), fast:
                state = pipeline.start(source.start, rng)
            done = 0
        first = done

        # 2. Step until the inputs end or the job has its frames.
        for condition in prefetched(source.conditions(first)):  # decoded and encoded while the generator works
            if source.limit is not None and done >= source.limit:
                break
            with torch.inference_mode(), fast:
                out, state = pipeline.step(state, condition, rng)
            height, width = source.output_size()
            frames = out.frames  # (B, n, 3, H, W)
            if frames.shape[0] != samples:
                raise JobError("internal", f"the model returned {frames.shape[0]} samples, not {samples}")
            for j in range(frames.shape[1]):
                if source.limit is not None and done >= source.limit:
                    break
                for b in range(samples):
                    rgb = resize_rgb(tensor_to_rgb(frames[b, j]), height, width)  # (H, W, 3) uint8
                    write_png_atomic(frame_path(frames_dir, samples, b, done), rgb)
                done += 1

            # 3. Durable record: the frames, then the state after them (the order resuming relies on), written
            #    in the background while the next frame is made.
            tensors = {**pipeline.state_to_tensors(state), _RNG_KEY: rng.get_state()}
            writer.submit(done, tensors, device)

            # 4. Tell the world; stop if asked.
            hooks.report_progress(done, max(spec.frames_total, done))
            hooks.heartbeat()
            if hooks.should_stop():
                raise JobCanceled()
        writer.flush()
    except InputError as exc:
        raise JobError("bad_input", str(exc)) from exc
    finally:
        writer.close()

    if done == 0:
        raise JobError("decode_failed", "the input has no frames")
    height, width = source.output_size()

    # 5. Mux every frame (including those of earlier attempts) into one browser-playable mp4 per sample.
    hooks.heartbeat()
    videos, all_paths = [], []
    for b in range(samples):
        paths = [frame_path(frames_dir, samples, b, i) for i in range(done)]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise JobError("internal", f"frames missing on disk: {', '.join(missing[:5])}", retryable=True)
        encode_rgb_frames_to_mp4(source.video_frames(b, paths), job_dir / video_name(b), fps=spec.fps)
        videos.append(video_name(b))
        all_paths.append(paths)
        hooks.heartbeat()

    # 6. What the kind and the family add to the result (scores against a true future, seeds per sample...).
    report = source.report(all_paths)
    if isinstance(pipeline, Describable):
        report = {**report, **source.worded(pipeline.describe(state))}
    clear_job_state(state_dir)  # the frames and the videos are the record now
    hooks.report_progress(done, done)

    # 7. The result RQ stores.
    return JobResult(frames=done, fps=spec.fps, width=width, height=height, video_path=str(job_dir / RESULT_NAME),
                     videos=videos, seconds=round(time.monotonic() - started, 3), resumed_from_frame=first,
                     seeds={"seed": spec.options.seed, **source.seeds}, report=report)
