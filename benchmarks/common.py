"""Shared helpers of the benchmark scripts: device choice, clocks, the matmul reference, environment, output."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

NOTE_SHARED = (
    "Timings are noisy when the machine is shared; compare ratios taken in one run (generator GFLOP/s vs the "
    "matmul timed next to it), not absolute ms across runs."
)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="tiny presets, few steps: a smoke run (seconds)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here (it always goes to stdout)")
    parser.add_argument("--markdown", type=Path, default=None, help="also write a Markdown table here ('-': stderr)")


def pick_device(name: str) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device is available")
        return torch.device("cuda")
    return torch.device("cpu")


def setup_threads(threads: int | None) -> None:
    if threads is not None:
        torch.set_num_threads(threads)


def cpu_bf16_setup(args: argparse.Namespace, gpu_hint: str = "") -> list[str]:
    """For the CPU bf16 benchmarks: threads set, a CPU device required, and the CPU's bf16 flags, which must be there
    unless `--quick` (a smoke run on any CPU)."""
    from models.core.cpu_bf16 import cpu_bf16_flags, read_cpuinfo

    setup_threads(args.threads)
    if pick_device(args.device).type != "cpu":
        raise SystemExit(f"this benchmark is about CPUs: run with --device cpu{gpu_hint}")
    flags = cpu_bf16_flags(read_cpuinfo())
    if not flags and not args.quick:
        raise SystemExit("this CPU has no bf16 instructions: bf16 would be emulated (hundreds of times slower)")
    return flags


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_ms(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """Wall time of fn() in ms (device work included), and its result."""
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return (time.perf_counter() - start) * 1e3, result


def summary(samples_ms: Sequence[float]) -> dict[str, Any]:
    """Median and quartiles of repeated timings (ms)."""
    xs = sorted(samples_ms)
    if len(xs) >= 2:
        q = statistics.quantiles(xs, n=4, method="inclusive")
        p25, p75 = q[0], q[2]
    else:
        p25 = p75 = xs[0]
    return {
        "median": round(statistics.median(xs), 3),
        "p25": round(p25, 3),
        "p75": round(p75, 3),
        "min": round(xs[0], 3),
        "n": len(xs),
    }


def matmul_reference(device: torch.device, n: int, reps: int, dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """Achieved GFLOP/s of an n x n x n matmul (median of `reps` after one warm-up)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    with torch.inference_mode():
        torch.mm(a, b)  # warm-up (threads, allocator, cuBLAS heuristics)
        samples = [timed_ms(lambda: torch.mm(a, b), device)[0] for _ in range(reps)]
    med = statistics.median(samples)
    return {
        "n": n,
        "dtype": str(dtype).removeprefix("torch."),
        "ms": summary(samples),
        "gflops": round(2 * n**3 / (med * 1e-3) / 1e9, 2),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device) -> dict[str, Any]:
    env: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": device.type,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "note": NOTE_SHARED,
    }
    try:
        env["load_average_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def emit(payload: dict[str, Any], out: Path | None, markdown: str | None, markdown_path: Path | None) -> None:
    """JSON to stdout (and --out); the Markdown table to --markdown ('-' = stderr)."""
    text = json.dumps(payload, indent=1)
    sys.stdout.write(text + "\n")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    if markdown_path is not None and markdown is not None:
        if str(markdown_path) == "-":
            sys.stderr.write(markdown + "\n")
        else:
            markdown_path.parent.mkdir(parents=True, exist_ok=True)
            markdown_path.write_text(markdown + "\n")


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
