"""Training steps in bf16 autocast against fp32 on a CPU with bf16 units (what `TrainConfig.amp = "auto"` picks).

Each case builds the same recipe twice (same seed, same weights): one with `amp="off"` (fp32), one with `amp="bf16"`,
and times whole optimisation steps (generation, G update, D updates) on the same batches, alternately step by step
so that load on this shared machine cancels in the per-pair ratio. Speed-up: median of the ratios fp32 / bf16.
Also: how far the two runs' generators have drifted apart after the timed steps (PSNR of their frames on one clip;
bf16 training is a different run, not a rounding of the fp32 one) and whether the bf16 run's losses stayed finite.

    python -m benchmarks.bench_train_bf16 --threads 1 [--steps 4] [--street data/street] [--people data/people]
    python -m benchmarks.bench_train_bf16 --quick --data DIR   # tiny presets on a tiny data set (smoke test)
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from typing import Any

import torch

from benchmarks.bench_cpu_bf16 import psnr
from benchmarks.common import NOTE_SHARED, add_common_args, cpu_bf16_setup, emit, environment, md_table
from corpora.clips import collate_clips
from models.families.fs_vid2vid.recipe import FewShotRecipe
from models.families.vid2vid.recipe import VideoRecipe

# name, recipe, preset, H, W, clip frames, K references (few-shot), data set flag
CASES: list[tuple[str, type[VideoRecipe], str, int, int, int, int, str]] = [
    ("street (shipped recipe)", VideoRecipe, "vid2vid-street-small", 128, 256, 4, 0, "street"),
    ("people (shipped recipe)", FewShotRecipe, "fs_vid2vid-people-small", 256, 128, 4, 2, "people"),
]
QUICK_CASES = [("vid2vid tiny", VideoRecipe, "vid2vid-tiny", 32, 32, 3, 0, "data"),
               ("few-shot tiny", FewShotRecipe, "fs_vid2vid-tiny", 32, 32, 3, 1, "data")]
QUICK_D = {"num_D": 1, "n_layers_D": 2, "ndf": 16, "n_scales_temporal": 1}


def _recipe(kind: type[VideoRecipe], preset: str, data: str, h: int, w: int, frames: int, k: int, amp: str,
            quick: bool) -> VideoRecipe:
    values: dict[str, Any] = {"preset": preset, "data": data, "out": "/nonexistent", "height": h, "width": w,
                              "clip_frames": frames, "max_clip_frames": frames, "clip_double_every": 0, "flip": False,
                              "checkpoint_every": 0, "sample_every": 0, "progress": False, "amp": amp,
                              "device": "cpu", "single_frame_steps": 0, "fix_global_steps": 0, "seed": 0}
    if k:
        values.update(references=k, min_references=k)
    if quick:
        values.update(QUICK_D if kind is VideoRecipe else {"ndf": 16, "n_layers_D": 2})
    return kind(kind.train_config(**values))


def case(name: str, kind: type[VideoRecipe], preset: str, h: int, w: int, frames: int, k: int, data: str,
         steps: int, quick: bool) -> dict[str, Any]:
    torch.manual_seed(0)
    fp32 = _recipe(kind, preset, data, h, w, frames, k, "off", quick)
    torch.manual_seed(0)
    bf16 = _recipe(kind, preset, data, h, w, frames, k, "bf16", quick)
    assert fp32.amp_dtype is None and bf16.amp_dtype == torch.bfloat16
    dataset = fp32.dataset()
    batches = [collate_clips([dataset[i % len(dataset)]]) for i in range(steps + 1)]
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    finite = True
    for step, batch in enumerate(batches):  # the first pair warms up (allocator, oneDNN kernels) and is not timed
        for label, recipe in (("bf16", bf16), ("fp32", fp32)):
            start = time.perf_counter()
            log = recipe.train_step(batch, step + 1)
            if step:
                times[label].append(time.perf_counter() - start)
            if label == "bf16":
                finite = finite and all(math.isfinite(v) for v in log.losses.values())
    ratios = [f / b for f, b in zip(times["fp32"], times["bf16"], strict=True)]
    clip = fp32.to_device(batches[0], frames, k)
    outputs = []
    for recipe in (fp32, bf16):
        recipe.gen.eval()
        with torch.no_grad():
            generated, _ = recipe.generate(clip, steps)
        outputs.append(torch.stack([g.frame for g in generated]))
    return {"case": name, "preset": preset, "height": h, "width": w, "clip_frames": frames, "k": k or None,
            "s_per_step_fp32": round(statistics.median(times["fp32"]), 3),
            "s_per_step_bf16": round(statistics.median(times["bf16"]), 3),
            "speedup": round(statistics.median(ratios), 3), "speedups": [round(r, 3) for r in ratios],
            "bf16_losses_finite": finite, "psnr_runs_apart_db": round(psnr(outputs[0], outputs[1]), 2)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per precision (default 4, quick 2)")
    parser.add_argument("--street", default="data/street", help="street data set (`v2v data street`)")
    parser.add_argument("--people", default="data/people", help="people data set (`v2v data people`)")
    parser.add_argument("--data", default=None, help="--quick: the tiny data set both tiny cases train on")
    args = parser.parse_args(argv)
    flags = cpu_bf16_setup(args)
    if args.quick and not args.data:
        raise SystemExit("--quick needs --data (a tiny segmentation data set)")
    steps = args.steps or (2 if args.quick else 4)
    folders = {"street": args.street, "people": args.people, "data": args.data}
    rows = []
    for name, kind, preset, h, w, frames, k, data in (QUICK_CASES if args.quick else CASES):
        rows.append(case(name, kind, preset, h, w, frames, k, folders[data], steps, args.quick))
        sys.stderr.write(f"{rows[-1]}\n")
    payload = {"benchmark": "train_bf16", "env": {**environment(torch.device("cpu")), "note": NOTE_SHARED,
                                                  "bf16_flags": flags},
               "settings": {"steps": steps, "threads": torch.get_num_threads(), "batch": 1},
               "cases": rows}
    table = md_table(["case", "size", "clip", "K", "s/step fp32", "s/step bf16", "speed-up (median)",
                      "bf16 losses finite"],
                     [[r["case"], f"{r['height']}×{r['width']}", r["clip_frames"], r["k"] or "-", r["s_per_step_fp32"],
                       r["s_per_step_bf16"], f"{r['speedup']:.2f}×", r["bf16_losses_finite"]] for r in rows])
    emit(payload, args.out, table, args.markdown)
    return payload


if __name__ == "__main__":
    main()
