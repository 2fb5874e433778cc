"""Memory against video length: streaming generation keeps a constant-size state, so peak memory must not grow with
the number of frames.

    python -m benchmarks.bench_memory                                  # 10, 40, 160 frames; tiny presets
    python -m benchmarks.bench_memory --preset vid2vid-street-small --size 128 256 --lengths 10 40 160
    python -m benchmarks.bench_memory --quick

Each (preset, length) runs in a fresh child process (peak RSS, `resource.getrusage().ru_maxrss`, is a process-wide
high-water mark): build the generator, `start`, then `step` through `length` frames under inference mode, turning
each frame into uint8 RGB as the worker does and dropping it. The child reports its peak RSS, its current RSS
(/proc/self/statm) after the first frame and at the end, and the bytes of the generator state at the first and last
frame. A control run keeps every output frame (what a non-streaming implementation would do) to show the
measurement does see growth when there is growth. On CUDA, `torch.cuda.max_memory_allocated` is reported too.
tracemalloc is not used: it sees only Python's allocator, not torch's tensor memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import add_common_args, emit, md_table

DEFAULT_CASES = [("vid2vid-tiny", (128, 256), 0), ("fs_vid2vid-tiny", (256, 128), 2)]
QUICK_CASES = [("vid2vid-tiny", (32, 32), 0), ("fs_vid2vid-tiny", (32, 32), 2)]
"""--quick runs in-process (no child start-up): peak RSS is then shared by the runs, so only the shape is tested."""
MB = 1024 * 1024


def current_rss_bytes() -> int:
    """Resident set size now (Linux /proc; elsewhere the peak, the best stdlib offers)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def state_bytes(state: Any) -> int:
    return sum(t.numel() * t.element_size() for t in state.to_tensors().values())


# ------------------------------------------------------------------------------------------------- child


def child(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    import models
    from benchmarks.bench_generators import Stream, autocast_for, build
    from benchmarks.common import pick_device, setup_threads
    from models.core.labels import tensor_to_rgb

    setup_threads(args.threads)
    device = pick_device(args.device)
    h, w = args.size
    gen = build(args.preset).to(device)
    assert isinstance(gen, torch.nn.Module) and args.preset in models.list_presets()
    stream = Stream(gen, h, w, args.k, device)
    kept: list[Any] = []
    samples: list[list[float]] = []
    started = time.perf_counter()
    with torch.inference_mode(), autocast_for(device):
        state = stream.start()
        first_state = last_state = None
        rss_first = 0
        for t in range(args.frames):
            out, state = stream.step(state)
            rgb = tensor_to_rgb(out.frame[0])  # (H, W, 3) uint8, as the worker does
            if args.retain:
                kept.append(rgb)
            if t == 0:
                rss_first, first_state = current_rss_bytes(), state_bytes(state)
            if t % max(1, args.frames // 8) == 0 or t == args.frames - 1:
                samples.append([t + 1, round(current_rss_bytes() / MB, 2)])
        last_state = state_bytes(state)
    result = {
        "preset": args.preset,
        "size": [h, w],
        "k": args.k or None,
        "frames": args.frames,
        "retain_outputs": args.retain,
        "peak_rss_mb": round(peak_rss_bytes() / MB, 2),
        "rss_after_first_frame_mb": round(rss_first / MB, 2),
        "rss_end_mb": round(current_rss_bytes() / MB, 2),
        "rss_samples_mb": samples,
        "state_bytes_first_frame": first_state,
        "state_bytes_last_frame": last_state,
        "seconds": round(time.perf_counter() - started, 3),
        "kept_frames": len(kept),
    }
    if device.type == "cuda":
        result["cuda_max_allocated_mb"] = round(torch.cuda.max_memory_allocated(device) / MB, 2)
    return result


def run_child(preset: str, size: tuple[int, int], k: int, frames: int, retain: bool,
              args: argparse.Namespace) -> dict[str, Any]:
    if args.in_process:
        child_args = argparse.Namespace(preset=preset, size=list(size), k=k, frames=frames, retain=retain,
                                        threads=args.threads, device=args.device)
        return child(child_args) | {"in_process": True}
    cmd = [sys.executable, "-m", "benchmarks.bench_memory", "--child", "--preset", preset, "--size", str(size[0]),
           str(size[1]), "--k", str(k), "--frames", str(frames), "--device", args.device]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    if retain:
        cmd.append("--retain")
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child {' '.join(cmd)} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    frames = [r["frames"] for r in runs]
    peaks = [r["peak_rss_mb"] for r in runs]
    return {
        "frames": frames,
        "peak_rss_mb": peaks,
        "peak_growth_mb": round(peaks[-1] - peaks[0], 2),
        "peak_slope_kb_per_frame": round(slope(frames, peaks) * 1024, 2),
        "state_bytes_constant": all(r["state_bytes_first_frame"] == r["state_bytes_last_frame"] for r in runs)
        and len({r["state_bytes_last_frame"] for r in runs}) == 1,
        "state_bytes": runs[-1]["state_bytes_last_frame"],
    }


def markdown(payload: dict[str, Any]) -> str:
    rows = []
    for case in payload["cases"]:
        for label, key in (("streaming", "streaming"), ("control: keep outputs", "control")):
            s = case.get(key)
            if s is None:
                continue
            rows.append([
                case["preset"], "x".join(map(str, case["size"])), case["k"] or "", label,
                " / ".join(map(str, s["frames"])), " / ".join(f"{p:.1f}" for p in s["peak_rss_mb"]),
                f"{s['peak_growth_mb']:+.1f}", f"{s['peak_slope_kb_per_frame']:.1f}",
                f"{s['state_bytes'] / 1024:.0f} KiB" + ("" if s["state_bytes_constant"] else " (varies!)"),
            ])
    header = ["preset", "size", "K", "run", "frames", "peak RSS MiB", "growth MiB", "slope KiB/frame", "state"]
    env = payload["env"]
    return (f"Memory vs video length, {env['device']}, torch {env['torch']}, {env['torch_threads']} threads, "
            f"{env['date']}; {payload['settings']['measure']}.\n\n" + md_table(header, rows))


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--preset", default=None, help="one preset instead of the default cases")
    parser.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"))
    parser.add_argument("--k", type=int, default=0, help="few-shot references (default 2 for few-shot presets)")
    parser.add_argument("--lengths", type=int, nargs="*", default=None, help="video lengths (default 10 40 160)")
    parser.add_argument("--no-control", action="store_true", help="skip the keep-every-frame control run")
    parser.add_argument("--in-process", action="store_true",
                        help="no child processes (default with --quick): fast, but peak RSS is shared by all runs")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, default=10, help=argparse.SUPPRESS)
    parser.add_argument("--retain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        sys.stdout.write(json.dumps(child(args)) + "\n")
        return None

    import torch

    from benchmarks.common import environment, pick_device, setup_threads

    setup_threads(args.threads)
    device = pick_device(args.device)
    args.device = device.type
    args.in_process = args.in_process or args.quick
    lengths = args.lengths or ([2, 4, 8] if args.quick else [10, 40, 160])
    if args.preset is not None:
        size = tuple(args.size) if args.size else (64, 64)
        k = args.k or (2 if args.preset.startswith("fs_") else 0)
        cases = [(args.preset, size, k)]
    else:
        cases = QUICK_CASES if args.quick else DEFAULT_CASES
    out_cases = []
    for preset, size, k in cases:
        runs = [run_child(preset, size, k, n, False, args) for n in lengths]
        case: dict[str, Any] = {"preset": preset, "size": list(size), "k": k or None, "runs": runs,
                                "streaming": summarise(runs)}
        if not args.no_control:
            control = [run_child(preset, size, k, n, True, args) for n in (lengths[0], lengths[-1])]
            case["control_runs"] = control
            case["control"] = summarise(control)
        out_cases.append(case)
    payload = {
        "benchmark": "memory",
        "env": environment(device) | {"torch_threads": args.threads or torch.get_num_threads()},
        "settings": {"quick": args.quick, "lengths": lengths, "mode": "torch.inference_mode",
                     "measure": "peak RSS (getrusage ru_maxrss) of a fresh child process per run"
                     if not args.in_process else "in-process: peak RSS shared by all runs (smoke only)"},
        "cases": out_cases,
    }
    emit(payload, args.out, markdown(payload), args.markdown)
    return payload


if __name__ == "__main__":
    main()
