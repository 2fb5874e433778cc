"""What the one-hot gather of vid2vid's label stems (`models.families.vid2vid.one_hot`) saves per frame.

Per preset and size: steady-state `step` time with the gather (the served default on CPU) and with the dense
convolution, interleaved step by step so that machine load cancels in the ratio; the label stems' share of the
frame's MACs (the work the gather replaces); and the largest difference between the two paths' frames from one state.
Labels are Cityscapes-like: blocks of classes, plus the instance-edge channel where the preset has one.

    python -m benchmarks.bench_label_gather --threads 1 [--quick] [--presets P ...] [--steps 5]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

import models.families.vid2vid.generator as generator_module
from benchmarks.common import NOTE_SHARED, add_common_args, emit, environment, md_table, pick_device, setup_threads
from benchmarks.macs import count_macs
from models.families.vid2vid.generator import PRESETS, Vid2VidGenerator

CASES = [("vid2vid-street-small", 128, 256), ("vid2vid-cityscapes-1024", 256, 512),
         ("vid2vid-cityscapes-2048", 256, 512)]
QUICK_CASES = [("vid2vid-street-small", 32, 64)]


def city_labels(channels: int, h: int, w: int, seed: int) -> torch.Tensor:
    """(1, C, H, W): one-hot classes in 16-px blocks; with 36 channels the last is the blocks' boundaries."""
    classes = 35 if channels == 36 else channels
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, classes, (1, h // 16, w // 16), generator=g)
    ids = ids.repeat_interleave(16, 1).repeat_interleave(16, 2)  # (1, H, W)
    x = nn.functional.one_hot(ids, classes).permute(0, 3, 1, 2).float()  # (1, K, H, W)
    if channels == classes:
        return x
    edge = torch.zeros(1, 1, h, w)
    edge[:, :, :, 1:] += (ids[:, None, :, 1:] != ids[:, None, :, :-1]).float()
    edge[:, :, 1:] += (ids[:, None, 1:] != ids[:, None, :-1]).float()
    return torch.cat([x, edge.clamp(0, 1)], dim=1)


@contextlib.contextmanager
def dense_convolutions() -> Iterator[None]:
    """Within: the generator convolves its label stems (the gather is off)."""
    fast = generator_module.fast_path_applies
    generator_module.fast_path_applies = lambda x: False  # type: ignore[assignment]
    try:
        yield
    finally:
        generator_module.fast_path_applies = fast


def frame_macs(gen: Vid2VidGenerator, labels: torch.Tensor, state: Any) -> tuple[int, int]:
    """MACs of one dense step, and of its convolutions that read the finest scale's labels (what the gather does)."""
    label_ch = gen.config.n_frames_G * gen.config.label_channels
    stems = [0]

    def count(module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        assert isinstance(module, nn.Conv2d)
        if module.in_channels == label_ch:
            stems[0] += module.weight[0].numel() * module.out_channels * output.shape[-2] * output.shape[-1]

    hooks = [m.register_forward_hook(count) for m in gen.scales[-1].modules() if isinstance(m, nn.Conv2d)]
    try:
        with dense_convolutions(), torch.inference_mode():
            total = count_macs(lambda: gen.step(labels, state)).total
    finally:
        for hook in hooks:
            hook.remove()
    return total, stems[0]


def run_case(preset: str, h: int, w: int, steps: int) -> dict[str, Any]:
    torch.manual_seed(0)
    gen = Vid2VidGenerator(PRESETS[preset]).eval()
    c = gen.config
    clip = [city_labels(c.label_channels, h, w, seed) for seed in range(steps + c.n_frames_G)]
    with torch.inference_mode():
        state = gen.start(1, h, w)
        for labels in clip[: c.n_frames_G]:  # a full history: steady state
            _, state = gen.step(labels, state)
    total_macs, stem_macs = frame_macs(gen, clip[-1], state)
    times: dict[str, list[float]] = {"gather": [], "dense": []}
    frames: dict[str, torch.Tensor] = {}
    for labels in clip[c.n_frames_G:]:
        for variant in ("gather", "dense"):  # the same state, alternately: load cancels in the ratio
            with dense_convolutions() if variant == "dense" else contextlib.nullcontext(), torch.inference_mode():
                start = time.perf_counter()
                out, _ = gen.step(labels, state)
                times[variant].append((time.perf_counter() - start) * 1e3)
            frames[variant] = out.frame
        with torch.inference_mode():
            _, state = gen.step(labels, state)
    gather_ms, dense_ms = statistics.median(times["gather"]), statistics.median(times["dense"])
    ratios = [d / g for g, d in zip(times["gather"], times["dense"], strict=True)]  # per interleaved pair
    return {"preset": preset, "height": h, "width": w, "steps": steps, "gmacs_per_frame": round(total_macs / 1e9, 2),
            "label_stem_share": round(stem_macs / total_macs, 3), "ms_gather": round(gather_ms, 1),
            "ms_dense": round(dense_ms, 1), "speedup": round(statistics.median(ratios), 3),
            "speedups": [round(r, 3) for r in ratios],
            "max_abs_difference": float((frames["gather"] - frames["dense"]).abs().max())}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--presets", nargs="*", default=None)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per variant (default 5, quick 2)")
    args = parser.parse_args(argv)
    setup_threads(args.threads)
    device = pick_device(args.device)
    if device.type != "cpu":
        raise SystemExit("the gather is a CPU path: run with --device cpu")
    cases = QUICK_CASES if args.quick else [c for c in CASES if not args.presets or c[0] in args.presets]
    steps = args.steps or (2 if args.quick else 5)
    rows = [run_case(preset, h, w, steps) for preset, h, w in cases]
    payload = {"benchmark": "label_gather", "env": {**environment(device), "note": NOTE_SHARED},
               "settings": {"steps": steps, "threads": torch.get_num_threads()}, "cases": rows}
    table = md_table(["preset", "size", "GMACs/frame", "label-stem share of MACs", "ms/frame gather",
                      "ms/frame dense", "speed-up (median)", "max |Δ|"],
                     [[r["preset"], f"{r['height']}×{r['width']}", r["gmacs_per_frame"], r["label_stem_share"],
                       r["ms_gather"], r["ms_dense"], f"{r['speedup']:.2f}×", f"{r['max_abs_difference']:.1e}"]
                      for r in rows])
    emit(payload, args.out, table, args.markdown)
    return payload


if __name__ == "__main__":
    main()
