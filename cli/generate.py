"""`v2v generate`: offline synthesis through the same runner and per-job loop as the worker (no Redis, no server).

    v2v generate --model street --labels labels.mp4 -o out.mp4 [--max-frames N]            # translate
    v2v generate --model people --labels pose.mp4 --references a.png --reference-labels a_pose.png \\
        [--option finetune_steps=100]                                                      # translate + references
    v2v generate --model M --context clip.mp4 --horizon 20 --num-samples 4 -o out.mp4    # predict
    v2v generate --model M --num-samples 4 --num-frames 16 -o out.mp4                      # generate

The job runs in a temporary job folder; the videos are moved to `-o` (sample i > 0 to OUT_01.mp4, ...).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from app.contracts import (
    DEFAULT_MANIFEST,
    GenerateInputs,
    GenerateJob,
    IntRange,
    JobSpec,
    ModelCard,
    OutputOptions,
    PredictInputs,
    PredictJob,
    TranslateJob,
    load_manifest,
)


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--model", required=True, help="served model name (see `v2v models`)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output .mp4 (H.264)")
    parser.add_argument("--labels", type=Path, help="translate: label video, or a zip of PNG frames")
    parser.add_argument("--references", type=Path, nargs="*", default=[], help="translate: example images")
    parser.add_argument("--reference-labels", type=Path, nargs="*", default=[], help="their label images")
    parser.add_argument("--context", type=Path, help="predict: context video, zip of PNG frames, or one image")
    parser.add_argument("--horizon", type=int, default=None, help="predict: frames to predict (default: the most)")
    parser.add_argument("--num-samples", type=int, default=1, help="predict/generate: videos to make (default 1)")
    parser.add_argument("--num-frames", type=int, default=None, help="generate: frames per video")
    parser.add_argument("--class", dest="class_name", default=None, help="generate: a class of the model's")
    parser.add_argument("--truncation", type=float, default=1.0,
                        help="generate: psi in (0, 1], the scale of every latent drawn (default 1: the paper's)")
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--fps", type=float, default=None, help="output frame rate (default: the input's, or 15)")
    parser.add_argument("--height", type=int, default=None, help="run height (default: the model's)")
    parser.add_argument("--width", type=int, default=None, help="run width (default: the model's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--option", action="append", default=[], metavar="NAME=INT",
                        help="a family option of the model (see `v2v models`), e.g. finetune_steps=100")
    parser.add_argument("--finetune-steps", type=int, default=None, help="same as --option finetune_steps=N")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--manifest", type=Path, default=Path(os.environ.get("V2V_MANIFEST", DEFAULT_MANIFEST)))
    parser.add_argument("--frames-dir", type=Path, default=None, help="also keep the PNG frames in this folder")


def _probe(path: Path, kind: str) -> tuple[int, float | None]:
    """(frame count, fps or None) for progress and the default frame rate."""
    if kind == "zip":
        with zipfile.ZipFile(path) as archive:
            return sum(1 for n in archive.namelist() if n.lower().endswith(".png")), None
    if kind == "image":
        return 1, None
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        count, fps = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), float(capture.get(cv2.CAP_PROP_FPS))
    finally:
        capture.release()
    return max(count, 0), (fps if 0 < fps <= 240 else None)


def _kind_of(path: Path) -> str:
    suffix = path.suffix.lower()
    return "zip" if suffix == ".zip" else "image" if suffix in (".png", ".jpg", ".jpeg") else "video"


def _family_options(args: argparse.Namespace, card: ModelCard) -> dict[str, int]:
    options: dict[str, int] = {}
    for item in args.option:
        name, _, value = item.partition("=")
        if not value.lstrip("-").isdigit():
            raise ValueError(f"--option {item!r}: expected NAME=INTEGER")
        options[name] = int(value)
    if args.finetune_steps:
        options["finetune_steps"] = args.finetune_steps
    for name, value in options.items():
        spec = card.options.get(name)
        if spec is None:
            raise ValueError(f"model {card.name} has no option {name!r} (options: {sorted(card.options) or 'none'})")
        if not spec.min <= value <= spec.max:
            raise ValueError(f"option {name} must be in {spec.min}..{spec.max}")
    return options


def _existing(path: Path | None, what: str) -> Path:
    if path is None:
        raise ValueError(f"this model needs {what}")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return path.resolve()


def _within(flag: str, value: int, allowed: IntRange) -> int:
    """`value` when the card allows it, else a ValueError naming the flag and the range."""
    if not allowed.min <= value <= allowed.max:
        raise ValueError(f"{flag} {value}: this model takes {allowed.min}..{allowed.max}")
    return value


def _job_inputs(args: argparse.Namespace, card: ModelCard) -> tuple[TranslateJob | PredictJob | GenerateJob, int,
                                                                     float | None]:
    """The job's per-kind inputs, its frames per sample, and the input's frame rate."""
    if isinstance(card.inputs, GenerateInputs):
        spec = card.inputs
        frames = _within("--num-frames", spec.num_frames.value_or_default(args.num_frames), spec.num_frames)
        _within("--num-samples", args.num_samples, spec.num_samples)
        if args.class_name and args.class_name not in spec.classes:
            raise ValueError(f"--class {args.class_name}: classes of {card.name}: "
                             f"{', '.join(spec.classes) or 'none (unconditional model)'}")
        class_id = spec.classes.index(args.class_name) if args.class_name else None
        if not 0 < args.truncation <= 1:
            raise ValueError(f"--truncation {args.truncation}: must be in (0, 1]")
        job = GenerateJob(num_samples=args.num_samples, num_frames=frames, class_id=class_id,
                          truncation=args.truncation)
        return job, frames, None
    if isinstance(card.inputs, PredictInputs):
        context = _existing(args.context, "--context")
        kind = _kind_of(context)
        _, fps = _probe(context, kind)
        horizon = _within("--horizon", card.inputs.horizon.value_or_default(args.horizon), card.inputs.horizon)
        _within("--num-samples", args.num_samples, card.inputs.num_samples)
        job = PredictJob(context_path=str(context), context_kind=kind,  # type: ignore[arg-type]
                         context_frames=card.inputs.context_frames.max, horizon=horizon, num_samples=args.num_samples)
        return job, horizon, fps
    labels = _existing(args.labels, "--labels")
    kind = "zip" if labels.suffix.lower() == ".zip" else "video"
    canvas, keypoint_frames = None, 0
    if kind == "zip" and card.inputs.labels.type == "pose":  # type: ignore[union-attr]
        from app.errors import ApiError
        from app.probe import Limits, probe_labels

        unlimited = Limits(10**6, 10**5, 10**5, 10.0**9, 2**62, 15.0)
        try:
            probe = probe_labels(labels, unlimited, (card.output.width, card.output.height))
        except ApiError as exc:
            raise ValueError(f"{labels}: {exc.detail}") from exc
        if probe.kind == "keypoints":
            kind, canvas, keypoint_frames = "keypoints", (probe.width, probe.height), probe.frames
    total, fps = (keypoint_frames, None) if kind == "keypoints" else _probe(labels, kind)
    for path in [*args.references, *args.reference_labels]:
        _existing(path, "")
    job = TranslateJob(labels_path=str(labels), labels_kind=kind, labels_canvas=canvas,  # type: ignore[arg-type]
                       reference_paths=[str(p.resolve()) for p in args.references],
                       reference_label_paths=[str(p.resolve()) for p in args.reference_labels])
    return job, total, fps


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from workers.errors import JobError
    from workers.hooks import NullHooks
    from workers.loop import video_name
    from workers.worker import load_runners, resolve_device

    manifest = load_manifest(args.manifest)
    if args.model not in manifest.models:
        raise KeyError(f"unknown model {args.model!r}; served models: {', '.join(sorted(manifest.models))}")
    card = manifest.models[args.model]
    inputs, total, input_fps = _job_inputs(args, card)
    family_options = _family_options(args, card)
    if args.max_frames:
        total = min(total, args.max_frames) if total else args.max_frames
    runners = load_runners(args.manifest, resolve_device(args.device), only=[args.model])

    with tempfile.TemporaryDirectory(prefix="v2v-generate-") as job_dir:
        spec = JobSpec(
            job_id="generate", owner="local", model=args.model, job_dir=job_dir, frames_total=total,
            fps=args.fps or input_fps or card.output.fps,
            options=OutputOptions(max_frames=args.max_frames, seed=args.seed, height=args.height, width=args.width,
                                  fps=args.fps),
            family_options=family_options, inputs=inputs,
        )
        with tqdm(total=total or None, unit="frame", file=sys.stderr) as bar:
            hooks = NullHooks(lambda done, _total: bar.update(done - bar.n))
            try:
                result = runners[args.model].run(spec, hooks)
            except JobError as exc:
                sys.stderr.write(f"v2v generate: {exc.code}: {exc.message}\n")
                return 1
        args.output.parent.mkdir(parents=True, exist_ok=True)
        outputs = []
        for i, name in enumerate(result.videos):
            target = args.output if i == 0 else args.output.with_name(f"{args.output.stem}_{i:02d}{args.output.suffix}")
            shutil.move(str(Path(job_dir) / name), target)
            outputs.append(target)
        assert result.videos[0] == video_name(0)
        if args.frames_dir is not None:
            shutil.copytree(Path(job_dir) / "frames", args.frames_dir, dirs_exist_ok=True)
    for target in outputs:
        sys.stdout.write(f"{target}: {result.frames} frames, {result.width}x{result.height}, {result.fps:g} fps\n")
    return 0
