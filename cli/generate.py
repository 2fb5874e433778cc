"""`v2v generate`: offline synthesis, label video in, video out, through the same runner code as the worker.

    v2v generate --model street --labels labels.mp4 -o out.mp4 [--max-frames N]
    v2v generate --model people --labels pose.mp4 --references a.png b.png --reference-labels a_pose.png b_pose.png \
        [--finetune-steps 100]

No Redis, no server: the job runs in a temporary job folder and the mp4 is moved to `-o` when complete.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from app.contracts import DEFAULT_MANIFEST, JobSpec, OutputOptions


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("--model", required=True, help="served model name (see `v2v models`)")
    parser.add_argument("--labels", type=Path, required=True, help="label video, or a zip of PNG frames")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output .mp4 (H.264)")
    parser.add_argument("--references", type=Path, nargs="*", default=[], help="few-shot: example images")
    parser.add_argument("--reference-labels", type=Path, nargs="*", default=[], help="few-shot: their label images")
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--fps", type=float, default=None, help="output frame rate (default: the input's, or 15)")
    parser.add_argument("--height", type=int, default=None, help="run height (default: the model's)")
    parser.add_argument("--width", type=int, default=None, help="run width (default: the model's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--finetune-steps", type=int, default=0,
                        help="few-shot: fine-tune on the references for N steps first (0..200; the paper uses 100)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--manifest", type=Path, default=Path(os.environ.get("V2V_MANIFEST", DEFAULT_MANIFEST)))
    parser.add_argument("--frames-dir", type=Path, default=None, help="also keep the PNG frames in this folder")


def _probe(path: Path, kind: str) -> tuple[int, float | None]:
    """(frame count, fps or None) for progress and the default frame rate."""
    if kind == "zip":
        with zipfile.ZipFile(path) as archive:
            return sum(1 for n in archive.namelist() if n.lower().endswith(".png")), None
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        count, fps = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), float(capture.get(cv2.CAP_PROP_FPS))
    finally:
        capture.release()
    return max(count, 0), (fps if 0 < fps <= 240 else None)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from workers.errors import JobError
    from workers.hooks import NullHooks
    from workers.worker import load_runners, resolve_device

    if not args.labels.is_file():
        sys.stderr.write(f"v2v generate: {args.labels} does not exist\n")
        return 2
    kind = "zip" if args.labels.suffix.lower() == ".zip" else "video"
    try:
        total, input_fps = _probe(args.labels, kind)
    except (OSError, zipfile.BadZipFile) as exc:
        sys.stderr.write(f"v2v generate: cannot read {args.labels}: {exc}\n")
        return 2
    if not 0 <= args.finetune_steps <= 200:
        sys.stderr.write("v2v generate: --finetune-steps must be in 0..200\n")
        return 2
    if args.max_frames:
        total = min(total, args.max_frames) if total else args.max_frames
    runners = load_runners(args.manifest, resolve_device(args.device), only=[args.model])

    with tempfile.TemporaryDirectory(prefix="v2v-generate-") as job_dir:
        spec = JobSpec(
            job_id="generate",
            owner="local",
            model=args.model,
            labels_path=str(args.labels.resolve()),
            labels_kind=kind,
            reference_paths=[str(p.resolve()) for p in args.references],
            reference_label_paths=[str(p.resolve()) for p in args.reference_labels],
            job_dir=job_dir,
            frames_total=total,
            fps=args.fps or input_fps or 15.0,
            options=OutputOptions(
                max_frames=args.max_frames,
                seed=args.seed,
                height=args.height,
                width=args.width,
                fps=args.fps,
                finetune_steps=args.finetune_steps,
            ),
        )
        with tqdm(total=total or None, unit="frame", file=sys.stderr) as bar:
            hooks = NullHooks(lambda done, _total: bar.update(done - bar.n))
            try:
                result = runners[args.model].run(spec, hooks)
            except JobError as exc:
                sys.stderr.write(f"v2v generate: {exc.code}: {exc.message}\n")
                return 1
        args.output.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(result.video_path, args.output)
        if args.frames_dir is not None:
            shutil.copytree(Path(job_dir) / "frames", args.frames_dir, dirs_exist_ok=True)
    sys.stdout.write(f"{args.output}: {result.frames} frames, {result.width}x{result.height}, {result.fps:g} fps\n")
    return 0
