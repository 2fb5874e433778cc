"""Whether this CPU computes bf16 natively, and how much faster than fp32 it is: shared by the worker's serving
precision (`workers.precision`) and training's mixed precision (`training.precision`).

Without `avx512_bf16` / `amx_bf16` PyTorch emulates bf16, which on an AVX2 CPU is two orders of magnitude slower
than fp32; with them, a small convolution probe tells whether bf16 autocast pays on this machine.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import torch

MIN_BF16_SPEEDUP = 1.1
"""bf16 must beat fp32 by this factor on the probe before the CPU runs in it (serving, automatic training AMP)."""


def cpu_bf16_flags(cpuinfo: str) -> list[str]:
    """The bf16 instruction-set flags in a /proc/cpuinfo text."""
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[-1].split())
    return sorted(flags & {"avx512_bf16", "amx_bf16"})


def read_cpuinfo() -> str:
    path = Path("/proc/cpuinfo")
    return path.read_text() if path.is_file() else ""


def probe_bf16_speedup(repeats: int = 3) -> float:
    """fp32 time / bf16-autocast time of a small convolution stack (best of `repeats`, interleaved)."""
    net = torch.nn.Sequential(torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(32, 32, 3, padding=1)).eval()
    x = torch.randn(1, 32, 64, 64)  # (B, C, H, W)
    best = {"fp32": float("inf"), "bf16": float("inf")}
    with torch.inference_mode():
        for _ in range(repeats + 1):  # the first round warms up
            for name in best:
                context = torch.autocast("cpu", dtype=torch.bfloat16) if name == "bf16" else contextlib.nullcontext()
                started = time.perf_counter()
                with context:
                    net(x)
                best[name] = min(best[name], time.perf_counter() - started)
    return best["fp32"] / best["bf16"]
