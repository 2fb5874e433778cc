"""Job overhead: a whole job through the worker's runner (decode the label video, encode labels, generate, PNG per
frame, state checkpoint per frame, H.264 mux) against the pure generator time for the same frames.

    python -m benchmarks.bench_jobs                      # served "street" model (vid2vid-street-small, 128x256)
    python -m benchmarks.bench_jobs --model people       # few-shot people model, K references (--k)
    python -m benchmarks.bench_jobs --quick              # vid2vid-tiny card at 32x48, seconds

The job runs `workers.runner.make_runner(card, ...).run(spec, NullHooks())` — the code path of the RQ worker and
of `v2v generate`, without Redis, after one untimed warm-up job — on a synthetic colour-coded label video written
with the worker's own H.264 writer. The runner's collaborators are wrapped (in this process only) with timers, so
the job's wall time splits into decode, label encoding, generator steps, frame conversion, PNG writes, state
checkpoints and the mp4 mux. The pure generator time is then measured again outside the job: the same frames'
labels pre-encoded, only `step` timed. overhead_fraction = 1 - pure generator time / job time. Model loading
(`setup`, once per worker) is reported apart.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import add_common_args, emit, environment, md_table, pick_device, setup_threads, summary

QUICK_CARD = {
    "name": "bench-tiny",
    "family": "vid2vid",
    "preset": "vid2vid-tiny",
    "description": "benchmark: 4-colour segmentation, untrained",
    "inputs": {
        "kind": "translate",
        "labels": {
            "type": "segmentation",
            "num_classes": 4,
            "palette": [[0, 0, 0], [128, 64, 128], [70, 130, 180], [220, 20, 60]],
            "channels": 4,
        },
    },
    "output": {"height": 32, "width": 48, "size_multiple": 4},
}


class Timers:
    """Named accumulators of wall time (seconds) and call counts."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.calls[name] = self.calls.get(name, 0) + 1

    def wrap(self, name: str, fn: Callable[..., Any], sync: Callable[[], None] = lambda: None) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                sync()
                self.add(name, time.perf_counter() - start)

        return timed

    def wrap_iter(self, name: str, fn: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        """Time every `next()` of the iterator `fn` returns (decoding happens lazily, frame by frame)."""

        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            it = iter(fn(*args, **kwargs))
            while True:
                start = time.perf_counter()
                try:
                    item = next(it)
                except StopIteration:
                    self.add(name, time.perf_counter() - start)
                    return
                self.add(name, time.perf_counter() - start)
                yield item

        return timed


@contextmanager
def instrumented(runner: Any, timers: Timers, sync: Callable[[], None]) -> Iterator[None]:
    """Wrap the job loop's collaborators with timers for the duration of the block (restored afterwards)."""
    import workers.inputs as inputs
    import workers.loop as loop

    names = {
        (inputs, "read_label_frames"): ("decode", "iter"),
        (loop, "write_png_atomic"): ("png_write", "call"),
        (loop.StateWriter, "submit"): ("state_save", "call"),  # what the loop waits for; the write overlaps
        (loop, "encode_rgb_frames_to_mp4"): ("mp4_mux", "call"),
        (loop, "tensor_to_rgb"): ("to_rgb", "call"),
        (loop, "resize_rgb"): ("resize_out", "call"),
    }
    saved = {key: getattr(*key) for key in names}
    saved_encoder = inputs.LabelEncoder
    pipeline = runner.pipeline
    step = pipeline.step

    class TimedEncoder(saved_encoder):  # type: ignore[misc, valid-type]
        def __call__(self, frame: np.ndarray) -> Any:
            start = time.perf_counter()
            try:
                return super().__call__(frame)
            finally:
                timers.add("label_encode", time.perf_counter() - start)

    try:
        for (module, name), (label, kind) in names.items():
            fn = saved[(module, name)]
            setattr(module, name, timers.wrap_iter(label, fn) if kind == "iter" else timers.wrap(label, fn))
        inputs.LabelEncoder = TimedEncoder
        pipeline.step = timers.wrap("generator_step", step, sync)
        yield
    finally:
        for (module, name), fn in saved.items():
            setattr(module, name, fn)
        inputs.LabelEncoder = saved_encoder
        del pipeline.step  # back to the class's method


# ------------------------------------------------------------------------------------------------- inputs


def segmentation_frame(t: int, height: int, width: int, palette: np.ndarray) -> np.ndarray:
    """A street-like colour-coded label frame: sky, road, a moving block in a third class."""
    n = len(palette)
    ids = np.full((height, width), min(23, n - 1), dtype=np.int64)  # sky (Cityscapes 23) or the last class
    ids[height // 2 :] = min(7, n - 1)  # road
    x = (4 + 5 * t) % max(1, width - width // 6)
    ids[height // 3 : height // 3 + height // 4, x : x + width // 6] = min(26, n - 1)  # car
    return palette[ids]


def pose_frame(t: int, height: int, width: int) -> np.ndarray:
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    x = width // 4 + (3 * t) % max(1, width // 2)
    frame[height // 8 : 7 * height // 8, x : x + 4] = (255, 0, 85)
    frame[height // 3 : height // 3 + 3, max(0, x - width // 5) : x + width // 5] = (0, 255, 0)
    return frame


def edge_frame(t: int, height: int, width: int) -> np.ndarray:
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    r = height // 4
    cx, cy = width // 2 + (3 * t) % (width // 4), height // 2
    yy, xx = np.ogrid[:height, :width]
    ring = np.abs(np.hypot(yy - cy, xx - cx) - r) < 1.5
    frame[ring] = 255
    return frame


def write_inputs(card: Any, folder: Path, frames: int, height: int, width: int, k: int) -> dict[str, Any]:
    """Label video (+ reference images for few-shot) at the upload size."""
    import cv2

    from workers.video_io import H264Writer

    label_type = card.inputs.labels.type.value
    palette = np.asarray(card.inputs.labels.palette or [[0, 0, 0]], dtype=np.uint8)

    def frame(t: int) -> np.ndarray:
        if label_type == "segmentation":
            return segmentation_frame(t, height, width, palette)
        if label_type == "pose":
            return pose_frame(t, height, width)
        return edge_frame(t, height, width)

    video = folder / "labels.mp4"
    # Lossless-ish labels: H.264 at CRF 0 keeps palette colours decodable (the API would accept this upload).
    with H264Writer(video, fps=15.0, width=width, height=height, crf=0) as writer:
        for t in range(frames):
            writer.write(frame(t))
    refs, ref_labels = [], []
    for i in range(k):
        ref, lab = folder / f"ref{i}.png", folder / f"ref{i}_label.png"
        rng = np.random.default_rng(i)
        image = (rng.random((height, width, 3)) * 255).astype(np.uint8)
        cv2.imwrite(str(ref), image)
        cv2.imwrite(str(lab), cv2.cvtColor(frame(10 * i), cv2.COLOR_RGB2BGR))
        refs.append(ref)
        ref_labels.append(lab)
    return {"video": video, "refs": refs, "ref_labels": ref_labels}


# ------------------------------------------------------------------------------------------------- run


def clear_reference_cache(runner: Any) -> None:
    """Pipelines that cache per reference set (few-shot) start cold, as for a new reference set."""
    cache = getattr(runner.pipeline, "_cache", None)
    if cache is not None:
        cache.clear()


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from app.contracts import DEFAULT_MANIFEST, JobSpec, ModelCard, OutputOptions, TranslateJob, load_manifest
    from models.core.family import TranslateStart
    from workers.hooks import NullHooks
    from workers.runner import make_runner
    from workers.video_io import read_label_frames

    setup_threads(args.threads)
    device = pick_device(args.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    if args.quick:
        card = ModelCard.model_validate(QUICK_CARD)
    else:
        card = load_manifest().models[args.model]
    with_references = card.inputs.references is not None
    k = args.k if with_references else 0
    upload_h, upload_w = args.upload_size or (card.output.height, card.output.width)
    frames = args.frames or (6 if args.quick else 24)

    with tempfile.TemporaryDirectory(prefix="bench_jobs_") as tmp:
        root = Path(tmp)
        runner = make_runner(card, device, root if args.quick else DEFAULT_MANIFEST.parent)  # the weights' folder
        t0 = time.perf_counter()
        runner.setup()
        setup_s = time.perf_counter() - t0
        inputs = write_inputs(card, root, frames, upload_h, upload_w, k)

        jobs = []
        for rep in range(-1, args.reps):  # rep -1: an untimed warm-up job (a serving worker is warm)
            job_dir = root / "jobs" / f"job{rep + 1}"
            job_dir.mkdir(parents=True)
            job_inputs = TranslateJob(labels_path=str(inputs["video"]), labels_kind="video",
                                      reference_paths=[str(p) for p in inputs["refs"]],
                                      reference_label_paths=[str(p) for p in inputs["ref_labels"]])
            spec = JobSpec(job_id=f"job{rep + 1}", owner="bench", model=card.name, job_dir=str(job_dir),
                           frames_total=frames, fps=15.0, options=OutputOptions(), inputs=job_inputs)
            clear_reference_cache(runner)  # every rep pays the reference encoding, like a new reference set
            timers = Timers()
            with instrumented(runner, timers, sync):
                start = time.perf_counter()
                result = runner.run(spec, NullHooks())
                job_s = time.perf_counter() - start
            if rep >= 0:
                jobs.append({"job_s": job_s, "timers": timers, "result": result})

        # Pure generator time for the same frames: labels pre-encoded, only start + step timed.
        from workers.inputs import TranslateSource
        from workers.labels_input import LabelEncoder

        height, width = card.output.height, card.output.width
        encoder = LabelEncoder(card.inputs.labels, height, width)
        labels = [encoder(f).to(device) for f in read_label_frames(inputs["video"], "video")]
        pipeline = runner.pipeline
        assert pipeline is not None
        start_inputs: TranslateStart = TranslateSource(spec, spec.inputs, card.inputs, height, width, device).start
        pure = []
        for _ in range(args.reps):
            with torch.inference_mode(), runner.precision.autocast(device):
                clear_reference_cache(runner)
                rng = torch.Generator().manual_seed(0)
                start = time.perf_counter()
                state = pipeline.start(start_inputs, rng)
                step_s = 0.0
                for lab in labels:
                    s0 = time.perf_counter()
                    out, state = pipeline.step(state, lab, rng)
                    sync()
                    step_s += time.perf_counter() - s0
                pure.append({"total_s": time.perf_counter() - start, "steps_s": step_s})

    job_times = [j["job_s"] for j in jobs]
    pure_steps = [p["steps_s"] for p in pure]
    pure_totals = [p["total_s"] for p in pure]
    med_job = statistics.median(job_times)
    med_pure = statistics.median(pure_steps)
    # breakdown of the median job
    mid = sorted(jobs, key=lambda j: j["job_s"])[len(jobs) // 2]
    parts = {name: round(s, 4) for name, s in sorted(mid["timers"].seconds.items())}
    accounted = sum(parts.values())
    parts["other"] = round(mid["job_s"] - accounted, 4)
    n = mid["result"].frames
    return {
        "benchmark": "jobs",
        "env": environment(device),
        "settings": {"quick": args.quick, "model": card.name, "preset": card.preset, "family": card.family,
                     "run_size": [card.output.height, card.output.width], "upload_size": [upload_h, upload_w],
                     "frames": frames,
                     "k": k or None, "reps": args.reps,
                     "code_path": "workers.runner.make_runner(...).run(spec, NullHooks())"},
        "setup_s": round(setup_s, 4),
        "job_s": summary([t * 1e3 for t in job_times]) | {"unit": "ms"},
        "pure_generator_steps_s": summary([t * 1e3 for t in pure_steps]) | {"unit": "ms"},
        "pure_generator_with_start_s": summary([t * 1e3 for t in pure_totals]) | {"unit": "ms"},
        "frames": n,
        "job_ms_per_frame": round(med_job * 1e3 / n, 2),
        "pure_ms_per_frame": round(med_pure * 1e3 / n, 2),
        "overhead_fraction": round(1 - med_pure / med_job, 4),
        "in_job_step_fraction": round(parts.get("generator_step", 0.0) / mid["job_s"], 4),
        "breakdown_s": parts,
        "breakdown_ms_per_frame": {name: round(s * 1e3 / n, 3) for name, s in parts.items()},
    }


def markdown(p: dict[str, Any]) -> str:
    s, env = p["settings"], p["env"]
    head = (f"Job overhead, model {s['model']} ({s['preset']}, run {s['run_size'][0]}x{s['run_size'][1]}, upload "
            f"{s['upload_size'][0]}x{s['upload_size'][1]}, {p['frames']} frames, K={s['k'] or '-'}), "
            f"{env['device']}, {env['torch_threads']} threads, {env['date']}, median of {s['reps']} jobs.\n\n")
    rows = [
        ["whole job", f"{p['job_s']['median']:.0f}", f"{p['job_ms_per_frame']:.1f}", "100%"],
        ["pure generator (same frames)", f"{p['pure_generator_steps_s']['median']:.0f}",
         f"{p['pure_ms_per_frame']:.1f}", f"{100 * (1 - p['overhead_fraction']):.1f}%"],
    ]
    job_ms = p["job_s"]["median"]
    for name, sec in p["breakdown_s"].items():
        rows.append([f"  in job: {name}", f"{sec * 1e3:.0f}", f"{p['breakdown_ms_per_frame'][name]:.2f}",
                     f"{100 * sec * 1e3 / job_ms:.1f}%"])
    table = md_table(["part", "ms (total)", "ms/frame", "share of job"], rows)
    return head + table + f"\n\nOverhead fraction (1 - pure generator / job): **{p['overhead_fraction']:.3f}**; " \
        f"model setup (once per worker) {p['setup_s']:.2f} s."


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--model", default="street", help="served model name from checkpoints/manifest.json")
    parser.add_argument("--frames", type=int, default=None, help="frames per job (default 24, quick 6)")
    parser.add_argument("--k", type=int, default=2, help="few-shot references")
    parser.add_argument("--reps", type=int, default=None, help="jobs to run (median; default 3, quick 1)")
    parser.add_argument("--upload-size", type=int, nargs=2, default=None, metavar=("H", "W"),
                        help="size of the label video (default: the model's run size)")
    args = parser.parse_args(argv)
    args.reps = args.reps or (1 if args.quick else 3)
    payload = run(args)
    emit(payload, args.out, markdown(payload), args.markdown)
    return payload


if __name__ == "__main__":
    main()
