"""Work the served path avoids, exactly, and what it saves per frame.

- vid2vid, label stems as a gather (`models.families.vid2vid.label_gather`, the CPU default): per preset and size, the
  steady-state `step` with the gather and with the dense convolution; the label stems' share of the frame's MACs (the
  work the gather replaces). Labels are Cityscapes-like: blocks of classes, plus the instance-edge channel where the
  preset has one.
- few-shot vid2vid, spectral norms baked at load (`models.core.baking`, what the served pipeline does): the steady-state
  `step` (K = 1, previous frame present) of the baked generator and of the same weights under their
  parametrizations.
Each case times the two paths on the same state, interleaved step by step so that machine load cancels in the ratio
(speed-up: median of the per-pair ratios), and reports the largest difference between their frames.

    python -m benchmarks.bench_savings --threads 1 [--quick] [--presets P ...] [--steps 5] [--bf16] [--compile]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

import models.families.vid2vid.generator as generator_module
from benchmarks.common import NOTE_SHARED, add_common_args, emit, environment, md_table, pick_device, setup_threads
from benchmarks.macs import count_macs
from models.core.baking import bake_parametrizations
from models.core.low_precision import keep_low_precision_weights
from models.families.fs_vid2vid.generator import PRESETS as FEW_SHOT_PRESETS
from models.families.fs_vid2vid.generator import FewShotGenerator
from models.families.vid2vid.generator import PRESETS, Vid2VidGenerator

GATHER_CASES = [("vid2vid-street-small", 128, 256), ("vid2vid-cityscapes-1024", 256, 512),
                ("vid2vid-cityscapes-2048", 256, 512)]
BAKED_CASES = [("fs_vid2vid-people-small", 256, 128), ("fs_vid2vid-pose-256", 256, 256)]
QUICK_GATHER = [("vid2vid-street-small", 32, 64)]
QUICK_BAKED = [("fs_vid2vid-tiny", 32, 32)]


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


def interleaved(fast: Callable[[], torch.Tensor], slow: Callable[[], torch.Tensor], steps: int,
                advance: Callable[[], None]) -> dict[str, Any]:
    """Time `fast` and `slow` (each returns a frame) alternately, `steps` times, calling `advance` after each pair."""
    times: dict[str, list[float]] = {"fast": [], "slow": []}
    frames: dict[str, torch.Tensor] = {}
    for _ in range(steps):
        for variant, run in (("fast", fast), ("slow", slow)):
            start = time.perf_counter()
            frames[variant] = run()
            times[variant].append((time.perf_counter() - start) * 1e3)
        advance()
    ratios = [s / f for f, s in zip(times["fast"], times["slow"], strict=True)]  # per interleaved pair
    return {"steps": steps, "ms_fast": round(statistics.median(times["fast"]), 1),
            "ms_slow": round(statistics.median(times["slow"]), 1), "speedup": round(statistics.median(ratios), 3),
            "speedups": [round(r, 3) for r in ratios], "ms_fast_all": [round(t, 2) for t in times["fast"]],
            "ms_slow_all": [round(t, 2) for t in times["slow"]],
            "max_abs_difference": float((frames["fast"] - frames["slow"]).abs().max())}


def label_gather_case(preset: str, h: int, w: int, steps: int, bf16: bool = False,
                      compiled: bool = False) -> dict[str, Any]:
    """With `bf16`, both paths step in bf16 autocast with the weight copies a bf16 CPU worker keeps (the gather stays
    fp32); with `compiled`, through the networks `v2v worker --compile` serves (compiled once per path, untimed)."""
    torch.manual_seed(0)
    gen = Vid2VidGenerator(PRESETS[preset]).eval()
    c = gen.config
    clip = [city_labels(c.label_channels, h, w, seed) for seed in range(steps + c.n_frames_G)]
    with torch.inference_mode():
        state = gen.start(1, h, w)
        for labels in clip[: c.n_frames_G]:  # a full history: steady state
            _, state = gen.step(labels, state)
    total_macs, stem_macs = frame_macs(gen, clip[-1], state)
    t = [c.n_frames_G]
    served = copy.deepcopy(gen) if compiled or bf16 else gen
    if compiled:
        served.compile_networks()
    if bf16:
        keep_low_precision_weights(served, torch.bfloat16)

    def gathered() -> torch.Tensor:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return served.step(clip[t[0]], state)[0].frame.float()

    def dense() -> torch.Tensor:
        with dense_convolutions():
            return gathered()

    def advance() -> None:
        nonlocal state
        with torch.inference_mode():
            _, state = gen.step(clip[t[0]], state)
        t[0] += 1

    for _ in range(2 if compiled else 0):  # compiles both paths' graphs
        gathered(), dense()
    timed = interleaved(gathered, dense, steps, advance)
    path = ("bf16" if bf16 else "fp32") + (" compiled" if compiled else "")
    return {"saving": f"label stems as a gather ({path})", "preset": preset, "height": h, "width": w,
            "gmacs_per_frame": round(total_macs / 1e9, 2), "label_stem_share": round(stem_macs / total_macs, 3),
            **timed}


def baked_norm_case(preset: str, h: int, w: int, steps: int) -> dict[str, Any]:
    def build() -> FewShotGenerator:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return FewShotGenerator(FEW_SHOT_PRESETS[preset]).eval()

    parametrized, baked = build(), bake_parametrizations(build())
    c = parametrized.config
    g = torch.Generator().manual_seed(0)
    refs = torch.rand(1, 1, 3, h, w, generator=g) * 2 - 1  # (1, K, 3, H, W)
    ref_labels = torch.rand(1, 1, c.label_channels, h, w, generator=g) * 2 - 1
    clip = [torch.rand(1, c.label_channels, h, w, generator=g) * 2 - 1 for _ in range(steps + 1)]
    with torch.inference_mode():
        state = baked.start(references=refs, reference_labels=ref_labels)
        _, state = baked.step(clip[0], state, with_raw=False)  # a previous frame: steady state
    t = [1]

    def step_of(gen: FewShotGenerator) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            with torch.inference_mode():
                return gen.step(clip[t[0]], state, with_raw=False)[0].frame
        return run

    def advance() -> None:
        nonlocal state
        with torch.inference_mode():
            _, state = baked.step(clip[t[0]], state, with_raw=False)
        t[0] += 1

    timed = interleaved(step_of(baked), step_of(parametrized), steps, advance)
    return {"saving": "spectral norms baked", "preset": preset, "height": h, "width": w, "k": 1, **timed}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--presets", nargs="*", default=None)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per variant (default 5, quick 2)")
    parser.add_argument("--bf16", action="store_true", help="label-gather cases in bf16 autocast too")
    parser.add_argument("--compile", action="store_true", help="label-gather cases compiled too (with --bf16: bf16)")
    args = parser.parse_args(argv)
    setup_threads(args.threads)
    device = pick_device(args.device)
    if device.type != "cpu":
        raise SystemExit("these savings are measured on CPU: run with --device cpu")
    steps = args.steps or (2 if args.quick else 5)

    def wanted(cases: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
        return [c for c in cases if not args.presets or c[0] in args.presets]

    paths = [(False, False)] + [(True, False)] * args.bf16 + [(args.bf16, True)] * args.compile
    rows = [label_gather_case(p, h, w, steps, bf16, compiled) for p, h, w in
            wanted(QUICK_GATHER if args.quick else GATHER_CASES) for bf16, compiled in paths]
    rows += [baked_norm_case(p, h, w, steps) for p, h, w in wanted(QUICK_BAKED if args.quick else BAKED_CASES)]
    payload = {"benchmark": "savings", "env": {**environment(device), "note": NOTE_SHARED},
               "settings": {"steps": steps, "threads": torch.get_num_threads()}, "cases": rows}
    table = md_table(["saving", "preset", "size", "label-stem share of MACs", "ms/frame with", "ms/frame without",
                      "speed-up (median)", "max |Δ|"],
                     [[r["saving"], r["preset"], f"{r['height']}×{r['width']}", r.get("label_stem_share", "-"),
                       r["ms_fast"], r["ms_slow"], f"{r['speedup']:.2f}×", f"{r['max_abs_difference']:.1e}"]
                      for r in rows])
    emit(payload, args.out, table, args.markdown)
    return payload


if __name__ == "__main__":
    main()
