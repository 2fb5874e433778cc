"""The CPU serving path in bf16 against fp32, per frame, on a CPU with bf16 units (avx512_bf16 / amx_bf16).

Each case builds one generator (random weights, seed 0) as the worker serves it (few-shot: spectral norms baked) and
times the steady-state `step` on the same state twice, interleaved step by step so that load cancels in the ratio:
fp32 (the CPU fp32 path, label stems as a gather) and bf16 autocast (`workers.precision`: what a worker on such a CPU
serves in, with the bf16 weight copies it keeps: `models.core.low_precision`), both under `torch.inference_mode` as
in `workers.loop`. Speed-up: median of the per-pair ratios fp32 / bf16. Also the PSNR of the bf16 frame against
the fp32 frame of the same step (peak 1 on [0, 1]).

The original code is not run here: the issue's author timed it side by side with ours and found our fp32 frames as
fast as the original's at these configurations (ratios 0.92..1.15), so fp32 / bf16 here is close to "times the
original's fp32 speed".

With `--compile`, vid2vid cases also time bf16 on a copy of the generator whose scale networks are torch.compile'd
(`Vid2VidGenerator.compile_networks`, what `v2v worker --compile` serves), against fp32 again, after a warm-up
that compiles (its time is reported: the first job of each frame size pays it).

Each timed pair is followed by one timed fp32 2048^3 matmul: "× fp32 matmul" is the achieved rate counted on the
*reference's* MACs per frame (vid2vid: label stems convolved densely, as the original does; our gather skips most of
that work, so work avoided counts as speed) over that matmul's rate, median over the pairs: the issue's measure.

    python -m benchmarks.bench_cpu_bf16 --threads 1 [--quick] [--compile] [--presets P ...] [--steps 3]
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from benchmarks.bench_generators import MatmulPair, build
from benchmarks.bench_savings import city_labels, frame_macs, interleaved
from benchmarks.common import NOTE_SHARED, add_common_args, cpu_bf16_setup, emit, environment, md_table
from benchmarks.macs import count_macs
from models.core.family import Compilable
from models.core.low_precision import keep_low_precision_weights, refresh_low_precision_weights
from models.families.vid2vid.generator import PRESETS as VID2VID_PRESETS
from models.families.vid2vid.generator import Vid2VidGenerator

CASES: list[tuple[str, int, int, int]] = [  # preset, H, W, K (0: vid2vid)
    ("vid2vid-street-small", 128, 256, 0),
    ("vid2vid-cityscapes-1024", 256, 512, 0),
    ("vid2vid-cityscapes-2048", 256, 512, 0),
    ("fs_vid2vid-people-small", 256, 128, 1),
    ("fs_vid2vid-pose-256", 256, 256, 1),
    ("fs_vid2vid-pose-256", 256, 256, 3),
]
QUICK_CASES = [("vid2vid-tiny", 32, 64, 0), ("fs_vid2vid-tiny", 32, 32, 2)]
MATMUL_N = 2048
"""The paired reference: an fp32 MATMUL_N^3 matmul (the issue's "same-run fp32 matmul rate")."""


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of two frames in [-1, 1], mapped to [0, 1] (peak 1); inf when equal."""
    mse = float(((a.float() - b.float()) / 2).pow(2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def _stream(preset: str, h: int, w: int, k: int, steps: int
            ) -> tuple[nn.Module, Callable[[nn.Module], torch.Tensor], Callable[[], None], int]:
    """(the generator, one step of a generator with its weights on the current state -> frame, advance the state by
    one frame, the reference's MACs of one such step) for a steady-state stream of at least `steps` more frames.

    Reference MACs: vid2vid's step with its label stems convolved densely, as the original computes them (our gather
    avoids most of them); few-shot's step as we compute it (a lower bound of the original's work)."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    if k == 0:
        gen: nn.Module = Vid2VidGenerator(VID2VID_PRESETS[preset]).eval()
        c = gen.config
        clip = [city_labels(c.label_channels, h, w, seed) for seed in range(steps + 2 * c.n_frames_G)]  # (1, C, H, W)
        with torch.inference_mode():
            state = gen.start(1, h, w)
            for labels in clip[: c.n_frames_G]:  # a full history
                _, state = gen.step(labels, state)
        step_args: dict[str, Any] = {}
        t = [c.n_frames_G]
        macs = frame_macs(gen, clip[t[0]], state)[0]
    else:
        gen = build(preset, references=k).eval()  # K above the preset's own: the same network built for K references
        c = gen.config
        refs = torch.rand(1, k, 3, h, w, generator=g) * 2 - 1  # (1, K, 3, H, W)
        ref_labels = torch.rand(1, k, c.label_channels, h, w, generator=g) * 2 - 1  # (1, K, C, H, W)
        clip = [torch.rand(1, c.label_channels, h, w, generator=g) * 2 - 1 for _ in range(steps + 2)]
        with torch.inference_mode():
            state = gen.start(references=refs, reference_labels=ref_labels)
            _, state = gen.step(clip[0], state, with_raw=False)  # a previous frame: steady state
        step_args = {"with_raw": False}
        t = [1]
        with torch.inference_mode():
            macs = count_macs(lambda: gen.step(clip[1], state, with_raw=False)).total

    def run(net: nn.Module) -> torch.Tensor:
        with torch.inference_mode():
            return net.step(clip[t[0]], state, **step_args)[0].frame.float()

    def advance() -> None:
        nonlocal state
        with torch.inference_mode():
            _, state = gen.step(clip[t[0]], state, **step_args)
        t[0] += 1

    return gen, run, advance, macs


def case(preset: str, h: int, w: int, k: int, steps: int, compiled: bool = False) -> dict[str, Any]:
    """fp32 vs bf16 (eager), then with `compiled` (vid2vid) fp32 vs bf16 on a twin whose networks are compiled."""
    gen, run, advance, macs = _stream(preset, h, w, k, 2 * steps + 4)
    keep_low_precision_weights(gen, torch.bfloat16)  # as a bf16 worker serves; fp32 steps use the fp32 weights
    matmul = MatmulPair(torch.device("cpu"), MATMUL_N, torch.float32)
    frames: dict[str, torch.Tensor] = {}

    def bf16_of(net: nn.Module) -> Callable[[], torch.Tensor]:
        def bf16() -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                frames["bf16"] = run(net)
            return frames["bf16"]
        return bf16

    def fp32() -> torch.Tensor:
        frames["fp32"] = run(gen)
        return frames["fp32"]

    psnrs: list[float] = []
    matmul_ms: list[float] = []

    def advance_and_compare() -> None:
        psnrs.append(psnr(frames["bf16"], frames["fp32"]))
        matmul_ms.append(matmul.time_ms())  # the paired reference: one fp32 matmul after each pair
        advance()

    def vs_matmul(timed: dict[str, Any]) -> dict[str, float]:
        """Per pair: the achieved rate on the reference's MACs (2 MACs/frame / time) over the paired matmul's."""
        def rate(times: list[float]) -> float:
            return round(statistics.median(2 * macs / (t * 1e-3) / 1e9 / matmul.gflops(m)
                                           for t, m in zip(times, matmul_ms[-len(times):], strict=True)), 3)
        return {"fp32": rate(timed["ms_slow_all"]), "bf16": rate(timed["ms_fast_all"])}

    timed = interleaved(bf16_of(gen), fp32, steps, advance_and_compare)
    row = {"preset": preset, "height": h, "width": w, "k": k or None, "reference_gmacs": round(macs / 1e9, 3),
           "ms_fp32": timed["ms_slow"], "ms_bf16": timed["ms_fast"], "speedup": timed["speedup"],
           "speedups": timed["speedups"], "matmul_gflops": round(matmul.gflops(statistics.median(matmul_ms)), 1),
           "vs_matmul": vs_matmul(timed), "psnr_bf16_vs_fp32_db_min": round(min(psnrs), 2), "compiled": None}
    if compiled and isinstance(gen, Compilable):
        twin = copy.deepcopy(gen)
        names = twin.compile_networks()
        refresh_low_precision_weights(twin)  # the copies in the compiled networks' (channels_last) layout
        start = time.perf_counter()
        for _ in range(2):  # compiles (once per size)
            bf16_of(twin)()
        compile_s = time.perf_counter() - start
        psnrs.clear()
        timed = interleaved(bf16_of(twin), fp32, steps, advance_and_compare)
        row["compiled"] = {"networks": names, "compile_and_2_steps_s": round(compile_s, 1),
                           "ms_fp32": timed["ms_slow"], "ms_bf16": timed["ms_fast"], "speedup": timed["speedup"],
                           "speedups": timed["speedups"], "vs_matmul": vs_matmul(timed),
                           "psnr_bf16_vs_fp32_db_min": round(min(psnrs), 2)}
    return row


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--presets", nargs="*", default=None)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per precision (default 3, quick 2)")
    parser.add_argument("--compile", action="store_true",
                        help="also bf16 with the networks torch.compile'd (what `v2v worker --compile` serves)")
    args = parser.parse_args(argv)
    flags = cpu_bf16_setup(args, " (GPUs: benchmarks.bench_gpu)")
    steps = args.steps or (2 if args.quick else 3)
    cases = [c for c in (QUICK_CASES if args.quick else CASES) if not args.presets or c[0] in args.presets]
    rows = []
    for c in cases:
        rows.append(case(*c, steps, args.compile))
        sys.stderr.write(f"{rows[-1]}\n")
    payload = {"benchmark": "cpu_bf16", "env": {**environment(torch.device("cpu")), "note": NOTE_SHARED,
                                                "bf16_flags": flags},
               "settings": {"steps": steps, "threads": torch.get_num_threads(), "weights": "random (seed 0)"},
               "cases": rows}
    def compiled(r: dict[str, Any]) -> str:
        c = r["compiled"]
        return "-" if c is None else (f"{c['ms_bf16']} ms, {c['speedup']:.2f}× ({c['psnr_bf16_vs_fp32_db_min']} dB; "
                                      f"compile {c['compile_and_2_steps_s']:.0f} s)")

    def rates(r: dict[str, Any]) -> str:
        compiled_rate = "-" if r["compiled"] is None else f"{r['compiled']['vs_matmul']['bf16']:.2f}"
        return f"{r['vs_matmul']['fp32']:.2f} / {r['vs_matmul']['bf16']:.2f} / {compiled_rate}"

    table = md_table(["preset", "size", "K", "ms/frame fp32", "ms/frame bf16", "speed-up (median)",
                      "PSNR bf16 vs fp32 (min)", "bf16 compiled vs fp32",
                      "reference GMACs", "× fp32 matmul: fp32 / bf16 / compiled"],
                     [[r["preset"], f"{r['height']}×{r['width']}", r["k"] or "-", r["ms_fp32"], r["ms_bf16"],
                       f"{r['speedup']:.2f}×", f"{r['psnr_bf16_vs_fp32_db_min']} dB", compiled(r),
                       r["reference_gmacs"], rates(r)] for r in rows])
    emit(payload, args.out, table, args.markdown)
    return payload


if __name__ == "__main__":
    main()
