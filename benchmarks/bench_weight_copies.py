"""bf16 serving with and without the weight copies a reduced-precision worker keeps (`models.core.low_precision`).

Under autocast every convolution casts its fp32 weight to bf16 at each call (`torch.inference_mode` disables
autocast's weight cache); a bf16 worker now keeps bf16 copies instead. Per case, one generator (random weights,
seed 0) steps a steady-state stream in bf16 autocast under `torch.inference_mode`, interleaved step by step: a twin
with the copies against the plain generator (speed-up: median of the per-pair ratios), eager and, with `--compile`,
both compiled as `v2v worker --compile` serves them. The frames must be bit-identical (reported).

    python -m benchmarks.bench_weight_copies --threads 1 [--quick] [--compile] [--presets P ...] [--steps 4]
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from benchmarks.bench_cpu_bf16 import CASES, QUICK_CASES, _stream
from benchmarks.bench_savings import interleaved
from benchmarks.common import add_common_args, emit, environment, md_table, setup_threads
from models.core.family import Compilable
from models.core.low_precision import keep_low_precision_weights


def _bf16(run: Callable[[nn.Module], torch.Tensor], net: nn.Module) -> Callable[[], torch.Tensor]:
    def step() -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return run(net)
    return step


def case(preset: str, h: int, w: int, k: int, steps: int, compiled: bool) -> dict[str, Any]:
    gen, run, advance, _ = _stream(preset, h, w, k, 2 * steps + 6)
    plain, with_copies = gen, copy.deepcopy(gen)
    if compiled and isinstance(gen, Compilable):
        plain, with_copies = copy.deepcopy(gen), copy.deepcopy(gen)
        plain.compile_networks()
        with_copies.compile_networks()
    layers = keep_low_precision_weights(with_copies, torch.bfloat16)  # after compile_networks, as a worker does
    fast, slow = _bf16(run, with_copies), _bf16(run, plain)
    for _ in range(2):  # warm-up (compiles)
        fast(), slow()
    timed = interleaved(fast, slow, steps, advance)
    return {"preset": preset, "height": h, "width": w, "k": k or None, "compiled": compiled, "layers": layers,
            "ms_plain": timed["ms_slow"], "ms_with_copies": timed["ms_fast"], "speedup": timed["speedup"],
            "speedups": timed["speedups"], "bit_identical": timed["max_abs_difference"] == 0.0}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--presets", nargs="*", default=None)
    parser.add_argument("--steps", type=int, default=None, help="timed pairs per case (default 4, quick 2)")
    parser.add_argument("--compile", action="store_true", help="also compare the compiled serving path")
    args = parser.parse_args(argv)
    setup_threads(args.threads)
    steps = args.steps or (2 if args.quick else 4)
    cases = [c for c in (QUICK_CASES if args.quick else CASES) if not args.presets or c[0] in args.presets]
    rows = [case(*c, steps, compiled) for c in cases for compiled in ((False, True) if args.compile else (False,))]
    payload = {"benchmark": "weight_copies", "env": environment(torch.device("cpu")),
               "rows": rows}
    table = md_table(["preset", "size", "K", "compiled", "layers", "plain ms", "with copies ms", "speed-up",
                      "bit-identical"],
                     [[r["preset"], f"{r['height']}×{r['width']}", r["k"] or "-", r["compiled"], r["layers"],
                       r["ms_plain"], r["ms_with_copies"], f"{r['speedup']}×", r["bit_identical"]] for r in rows])
    emit(payload, args.out, table, args.markdown)
    return payload


if __name__ == "__main__":
    main()
