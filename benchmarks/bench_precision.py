"""Quality gate of reduced precision: every shipped translate model, whole sample clip, free-running, reduced vs fp32.

    python -m benchmarks.bench_precision --device cuda --out precision.json --markdown precision.md
    python -m benchmarks.bench_precision --precision bf16 --models street     # force a precision (CPU: slow)
    python -m benchmarks.bench_precision --quick --precision bf16               # tiny random models, 32x32, seconds

For each served translate model of `checkpoints/manifest.json` (street, edges, people) the model's shipped sample
(`samples/manifest.json`; few-shot models with the first `--k` of its references) is read as a job reads it
(`workers.inputs.input_source`: `workers.video_io.read_label_frames` decodes, `workers.labels_input.LabelEncoder`
encodes, at the card's size), and the whole clip is generated twice through the worker's pipeline
(`workers.runner.make_runner(card).setup()`, trained weights), free-running (each frame from the model's own previous
frames), under `torch.inference_mode`: once in fp32, once under the reduced precision's autocast
(`--precision`; default: what `workers.precision.choose_precision(device)` serves in: bf16 on Ampere+ GPUs, fp16 on
older ones, fp32 on CPUs without bf16 instructions, in which case there is nothing to compare and the models are
reported as skipped). The few-shot reference cache is cleared between the runs.

PSNR of the reduced-precision frames against the fp32 frames, both mapped from [-1, 1] to [0, 1] (peak 1), before
any uint8 rounding: per frame, and over the whole clip (from the mean squared error of all frames). Gate: PASS when
every frame's PSNR is at least `--threshold` dB (default 30; then the whole clip's is too). Identical frames have
no finite PSNR: reported as null with `identical: true` and counted as passing.

`--quick`: the worker's path on untrained tiny models (vid2vid-tiny with a 4-colour palette on the street sample,
fs_vid2vid-tiny on the people sample with 1 reference) at 32x32, the first 2 frames. On a CPU without bf16
instructions bf16 autocast is emulated (about 200x slower than fp32), which is why the full run belongs on a GPU.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.bench_jobs import QUICK_CARD, clear_reference_cache
from benchmarks.common import add_common_args, emit, environment, md_table, pick_device, setup_threads
from workers.precision import PRECISIONS, Precision, choose_precision

DEFAULT_THRESHOLD_DB = 30.0
QUICK_SIZE = 32
QUICK_FRAMES = 2
QUICK_FEW_SHOT_CARD = {
    "name": "bench-tiny-fs",
    "family": "fs_vid2vid",
    "preset": "fs_vid2vid-tiny",
    "description": "benchmark: OpenPose-coloured pose, untrained",
    "inputs": {"kind": "translate", "labels": {"type": "pose", "channels": 3}, "references": {"min": 1, "max": 8}},
}
QUICK_MODELS = [(QUICK_CARD, "street"), (QUICK_FEW_SHOT_CARD, "people")]
"""--quick: (card, whose sample it reads)."""


def quick_card(card: dict[str, Any]) -> Any:
    """A tiny card at QUICK_SIZE (its size multiple taken from the preset)."""
    from app.contracts import ModelCard
    from models import get_family

    family = get_family(card["family"])
    multiple = family.size_multiple(family.config(card["preset"]))
    output = {"height": QUICK_SIZE, "width": QUICK_SIZE, "size_multiple": multiple}
    return ModelCard.model_validate({**card, "output": output})


def psnr_db(mse: float) -> float | None:
    """PSNR (peak 1) of a mean squared error; None for identical frames (no finite value)."""
    return None if mse == 0 else round(10 * math.log10(1.0 / mse), 3)


def job_inputs(card: Any, sample: str, k: int, frames: int | None, device: torch.device, job_dir: Path
               ) -> tuple[Any, list[torch.Tensor]]:
    """The sample as a job sees it: the pipeline's start inputs and every frame's encoded labels."""
    from app.contracts import JobSpec, OutputOptions, TranslateJob
    from app.samples import sample_files
    from workers.inputs import input_source

    files = sample_files(sample)
    refs = files.get("references", [])[:k] if card.inputs.references is not None else []
    ref_labels = files.get("reference_labels", [])[: len(refs)]
    inputs = TranslateJob(labels_path=str(files["video"][0]), labels_kind="video",
                          reference_paths=[str(p) for p in refs], reference_label_paths=[str(p) for p in ref_labels])
    spec = JobSpec(job_id="precision", owner="bench", model=card.name, job_dir=str(job_dir), frames_total=frames or 1,
                   fps=15.0, options=OutputOptions(max_frames=frames), inputs=inputs)
    source = input_source(spec, card, card.output.height, card.output.width, device)
    conditions = [c for c in source.conditions(0) if c is not None]
    return source.start, conditions[:frames] if frames else conditions


def free_run(runner: Any, start: Any, conditions: list[torch.Tensor], precision: Precision, device: torch.device,
             seed: int) -> tuple[list[torch.Tensor], float]:
    """The clip's frames (CPU fp32, (3, H, W) in [-1, 1]) generated from a fresh start, and the seconds it took."""
    clear_reference_cache(runner)  # the reduced run must encode the references itself
    pipeline = runner.pipeline
    rng = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    frames = []
    started = time.perf_counter()
    with torch.inference_mode(), precision.autocast(device):
        state = pipeline.start(start, rng)
        for condition in conditions:
            out, state = pipeline.step(state, condition, rng)
            frames.append(out.frames[0, -1].float().cpu())  # (3, H, W)
    return frames, time.perf_counter() - started


def compare(reference: list[torch.Tensor], reduced: list[torch.Tensor], threshold: float) -> dict[str, Any]:
    """Per-frame and whole-clip PSNR of `reduced` against `reference` (both in [-1, 1]), and the gate."""
    mses = [float(((a - b) / 2).pow(2).mean()) for a, b in zip(reference, reduced, strict=True)]  # on [0, 1]
    per_frame = [psnr_db(m) for m in mses]
    finite = [p for p in per_frame if p is not None]
    worst = min(finite) if finite else None
    return {
        "frames": len(mses),
        "psnr_per_frame_db": per_frame,
        "psnr_clip_db": psnr_db(sum(mses) / len(mses)),
        "psnr_min_frame_db": worst,
        "max_abs_diff": max(float((a - b).abs().max()) for a, b in zip(reference, reduced, strict=True)),
        "identical": not finite,
        "pass": worst is None or worst >= threshold,
    }


def run_model(card: Any, sample: str, args: argparse.Namespace, device: torch.device, reduced: Precision,
              checkpoints: Path) -> dict[str, Any]:
    from workers.runner import make_runner

    row: dict[str, Any] = {"model": card.name, "preset": card.preset, "family": card.family, "sample": sample,
                           "size": [card.output.height, card.output.width], "trained": card.weights is not None}
    runner = make_runner(card, device, checkpoints)
    runner.setup()
    with tempfile.TemporaryDirectory(prefix="bench_precision_") as tmp:
        start, conditions = job_inputs(card, sample, args.k, args.frames, device, Path(tmp))
    row["k"] = None if start.references is None else int(start.references.shape[1])
    fp32, fp32_s = free_run(runner, start, conditions, Precision("fp32", "reference"), device, args.seed)
    low, low_s = free_run(runner, start, conditions, reduced, device, args.seed)
    row["seconds"] = {"fp32": round(fp32_s, 3), reduced.name: round(low_s, 3)}
    return row | compare(fp32, low, args.threshold)


def markdown(payload: dict[str, Any]) -> str:
    env, s = payload["env"], payload["settings"]
    head = (f"Reduced precision vs fp32, {env['device']} ({env.get('gpu') or env['cpu']}), torch {env['torch']}, "
            f"{env['date']}: {payload['precision']['name']} ({payload['precision']['reason']}); free-running whole "
            f"clips; gate: every frame >= {s['threshold_db']} dB.\n\n")
    rows = []
    for r in payload["results"]:
        if "skipped" in r:
            rows.append([r["model"], r["preset"], "", "", "", "", "", f"skipped: {r['skipped']}"])
            continue
        frames = " / ".join("=" if p is None else f"{p:.1f}" for p in r["psnr_per_frame_db"])
        clip = "identical" if r["psnr_clip_db"] is None else f"{r['psnr_clip_db']:.1f}"
        worst = "identical" if r["psnr_min_frame_db"] is None else f"{r['psnr_min_frame_db']:.1f}"
        rows.append([r["model"], r["preset"], r["k"] or "", r["frames"], clip, worst, frames,
                     "PASS" if r["pass"] else "FAIL"])
    header = ["model", "preset", "K", "frames", "clip PSNR dB", "worst frame dB", "per frame dB", "gate"]
    return head + md_table(header, rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--precision", choices=[p for p in PRECISIONS if p != "fp32"], default="auto",
                        help="the reduced precision to check (default: what the worker would serve in)")
    parser.add_argument("--models", nargs="*", default=None, help="only these served models")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD_DB, help="gate: min PSNR per frame")
    parser.add_argument("--frames", type=int, default=None, help="first N frames (default: the whole clip)")
    parser.add_argument("--k", type=int, default=1, help="few-shot references from the sample")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    setup_threads(args.threads)
    device = pick_device(args.device)
    from app.contracts import DEFAULT_MANIFEST, load_manifest

    reduced = choose_precision(device, args.precision)
    if args.quick:
        args.frames = args.frames or QUICK_FRAMES
        models = [(quick_card(card), sample) for card, sample in QUICK_MODELS]
    else:
        cards = load_manifest().models
        models = [(c, name) for name, c in cards.items() if c.inputs.kind == "translate" and c.weights is not None]
        if args.models:
            unknown = sorted(set(args.models) - {c.name for c, _ in models})
            if unknown:
                parser.error(f"unknown models {unknown}; shipped translate models: {[c.name for c, _ in models]}")
            models = [(c, s) for c, s in models if c.name in args.models]
    results = []
    for card, sample in models:
        if reduced.name == "fp32":
            results.append({"model": card.name, "preset": card.preset, "pass": None,
                            "skipped": "the serving precision here is fp32 (nothing reduced to check; "
                                       "--precision bf16|fp16 forces one)"})
            continue
        results.append(run_model(card, sample, args, device, reduced, DEFAULT_MANIFEST.parent))
    checked = [r for r in results if "skipped" not in r]
    payload = {
        "benchmark": "precision",
        "env": environment(device),
        "settings": {"quick": args.quick, "threshold_db": args.threshold, "frames": args.frames or "whole clip",
                     "k": args.k, "seed": args.seed, "mode": "torch.inference_mode, free-running",
                     "psnr": "frames mapped [-1, 1] -> [0, 1], peak 1, before uint8 rounding",
                     "gate": "every frame's PSNR >= threshold_db"},
        "precision": {"name": reduced.name, "reason": reduced.reason},
        "results": results,
        "all_pass": all(r["pass"] for r in checked) if checked else None,
    }
    emit(payload, args.out, markdown(payload), args.markdown)
    return payload


if __name__ == "__main__":
    main()
