"""GPU serving figures at the papers' sizes: frames/s in the worker's precision, torch.compile, peak memory, resume.

    python -m benchmarks.bench_gpu --device cuda --out gpu.json --markdown gpu.md             # the paper cases
    python -m benchmarks.bench_gpu --device cuda --compile --out gpu.json --markdown gpu.md   # + torch.compile
    python -m benchmarks.bench_gpu --quick                                                     # tiny, CPU, seconds

Cases (H x W): vid2vid-cityscapes-1024 at 512x1024, vid2vid-cityscapes-2048 at 1024x2048, fs_vid2vid-pose-256 at
512x256 with K = 1 and K = 3; random weights (speed and memory do not depend on them). `--quick`: vid2vid-tiny and
fs_vid2vid-tiny (K = 1, 3) at 64x64.

Per case:
- frames/s: 1000 / median ms of `--steps` steady-state steps (history full) after warm-up, streamed as
  `benchmarks.bench_generators.Stream` does (few-shot `with_raw=False`, as served), under `torch.inference_mode`
  and the worker's serving precision: `workers.precision.choose_precision(device)` (`--precision` forces one) and
  its `Precision.autocast(device)`.
- `--compile`: the same compiled as `v2v worker --compile` serves (vid2vid: each scale's network; few-shot: its
  whole `step`; once per size; `--compile-mode` only for generators without `compile_networks`); compile time
  (first steps), frames/s, speed-up over eager, and the largest difference from eager of one steady-state step from
  the same state ("paid": faster by > PAID_SPEEDUP and within COMPILE_TOLERANCE). The free-running difference is
  reported too but is no test: a stream's first frame starts from an all-zero history, and normalising those
  constant maps turns rounding differences into visible ones (eager gets exact zeros; a fused kernel, or bf16,
  need not), so free-running frames of two correct implementations can differ a lot. A compile error is reported,
  not raised. Compiling takes minutes per case (on this CPU ~8 min for vid2vid-tiny under load); resume runs eager.
- peak memory: CUDA: `torch.cuda.max_memory_allocated` / `max_memory_reserved` after `reset_peak_memory_stats`,
  over start + warm-up + timed steps (weights and the stream's four pre-made label frames resident: included);
  `working_mb` = peak - allocated before (activations, state, outputs), and `serving_peak_mb` = weights + one label
  frame + working set, what one served stream needs (the Markdown column). CPU: the process's peak RSS growth over
  the same span (`ru_maxrss` is a high-water mark: null when the case stayed below an earlier case's peak).
- resume: N frames generated uninterrupted, then again with the state saved after frame N/2 through the worker's own
  job-state file (`workers.job_state.save_job_state` / `load_job_state`: `state.to_tensors()`, bit-packed
  safetensors, CPU, back to the device, `type(state).from_tensors`) and the rest generated from the restored state;
  when they differ, a third, uninterrupted run says whether the run itself repeats (`repeat_identical`, else null).
  "identical" means every output frame's bytes are equal. On CUDA this runs with
  `torch.use_deterministic_algorithms(True)` (warn_only: an op without a deterministic kernel is listed in
  `nondeterministic_ops`), cuDNN benchmark off, and `CUBLAS_WORKSPACE_CONFIG=:4096:8` (set by this script before
  CUDA is initialised); the output's `determinism.promise` says exactly what the check covers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmarks.bench_generators import Case, Stream, build, is_few_shot
from benchmarks.bench_memory import current_rss_bytes, peak_rss_bytes
from benchmarks.common import (
    add_common_args,
    emit,
    environment,
    md_table,
    pick_device,
    setup_threads,
    summary,
    timed_ms,
)
from workers.precision import PRECISIONS, Precision, choose_precision

CUBLAS_WORKSPACE = ":4096:8"
MB = 1024 * 1024
COMPILE_EXTRA_WARMUP = 2
"""--compile: extra warm-up steps, for both runs (the first steps compile, and recompile while the history fills)."""
PAID_SPEEDUP = 1.05
"""torch.compile "paid" when its frames/s beat eager by more than this factor (timing noise is a few per cent) and
its steady-state step matches eager within COMPILE_TOLERANCE."""
COMPILE_TOLERANCE = {"fp32": 1e-3, "bf16": 5e-2, "fp16": 1e-2}
"""Largest |compiled - eager| of one steady-state step's frame (in [-1, 1]) that counts as the same output."""
PAPER_CASES = [
    Case("vid2vid-cityscapes-1024", (512, 1024), kind="paper"),
    Case("vid2vid-cityscapes-2048", (1024, 2048), kind="paper"),
    Case("fs_vid2vid-pose-256", (512, 256), ks=(1, 3), kind="paper"),
]
QUICK_CASES = [
    Case("vid2vid-tiny", (64, 64), kind="tiny"),
    Case("fs_vid2vid-tiny", (64, 64), ks=(1, 3), kind="tiny"),
]
PROMISE_CUDA = (
    "Byte-identical frames after a resume, on the same GPU model, driver, torch/CUDA/cuDNN build and serving "
    "precision, with torch.use_deterministic_algorithms(True), cudnn.benchmark False and CUBLAS_WORKSPACE_CONFIG "
    f"{CUBLAS_WORKSPACE} (the state is restored from the worker's job-state file). Checked here within one process "
    "(eager, not compiled); not promised across GPU models or library versions, nor with deterministic algorithms "
    "off (cuDNN/cuBLAS may then pick different kernels)."
)
PROMISE_CPU = (
    "Byte-identical frames after a resume on the same CPU and torch build (CPU kernels are deterministic for a "
    "fixed thread count); the state is restored from the worker's job-state file. Checked within one process."
)


# ------------------------------------------------------------------------------------------------- measures


class MemoryMeter:
    """Peak memory over a span: CUDA allocator statistics, or the process's peak RSS growth on CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def __enter__(self) -> MemoryMeter:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
        else:
            self.base, self.peak_before = current_rss_bytes(), peak_rss_bytes()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.result = {
                "measure": "torch.cuda.max_memory_allocated / max_memory_reserved",
                "allocated_before_mb": round(self.base / MB, 1),
                "peak_allocated_mb": round(torch.cuda.max_memory_allocated(self.device) / MB, 1),
                "peak_reserved_mb": round(torch.cuda.max_memory_reserved(self.device) / MB, 1),
                "working_mb": round((torch.cuda.max_memory_allocated(self.device) - self.base) / MB, 1),
            }
        else:
            peak = peak_rss_bytes()
            grew = peak > self.peak_before
            self.result = {
                "measure": "process peak RSS (ru_maxrss) growth over the case",
                "rss_before_mb": round(self.base / MB, 1),
                "peak_rss_mb": round(peak / MB, 1),
                "peak_rss_delta_mb": round((peak - self.base) / MB, 1) if grew else None,
            }


def module_mb(module: nn.Module) -> float:
    tensors = [*module.parameters(), *module.buffers()]
    return round(sum(t.numel() * t.element_size() for t in tensors) / MB, 1)


def stream_steps(gen: nn.Module, case: Case, k: int, device: torch.device, precision: Precision, warmup: int,
                 steps: int, meter: MemoryMeter) -> dict[str, Any]:
    """start + warm-up + `steps` timed steady-state steps of a fresh stream; times and the last frame. `meter`
    spans them (not the stream's pre-made label frames: a worker holds one at a time)."""
    h, w = case.size
    stream = Stream(gen, h, w, k, device)
    with meter, torch.inference_mode(), precision.autocast(device):
        start_ms, state = timed_ms(stream.start, device)
        warm_ms = []
        for _ in range(max(warmup, stream.warmup_steps)):
            ms, (_, state) = timed_ms(lambda s=state: stream.step(s), device)
            warm_ms.append(ms)
        step_ms, out = [], None
        for _ in range(steps):
            ms, (out, state) = timed_ms(lambda s=state: stream.step(s), device)
            step_ms.append(ms)
    assert out is not None
    median = summary(step_ms)
    label_mb = stream.labels[0].numel() * stream.labels[0].element_size() / MB
    return {"label_frame_mb": round(label_mb, 2), "start_ms": round(start_ms, 3),
            "warmup_ms": [round(x, 3) for x in warm_ms], "ms_per_frame": median,
            "fps": round(1e3 / median["median"], 3), "last_frame": out.frame.detach().float().cpu()}


@contextlib.contextmanager
def compiled_step(gen: nn.Module, mode: str) -> Iterator[None]:
    """For the block: the generator compiled as `v2v worker --compile` does (`compile_networks`: vid2vid each scale's
    network, few-shot its whole `step`), else its `step` wrapped by torch.compile (`mode`); eager again after."""
    networks = list(gen.modules())
    if hasattr(gen, "compile_networks"):
        gen.compile_networks()
    else:
        gen.step = torch.compile(gen.step, mode=None if mode == "default" else mode)  # type: ignore[method-assign]
    try:
        yield
    finally:
        if "step" in vars(gen):
            del gen.step  # back to the class's method
        for m in networks:
            m._compiled_call_impl = None  # nn.Module.compile's hook: back to eager
        torch._dynamo.reset()


class SteadyStep:
    """One steady-state step from a fixed state: the eager frame now, the same step later (e.g. compiled)."""

    def __init__(self, gen: nn.Module, case: Case, k: int, device: torch.device, precision: Precision) -> None:
        h, w = case.size
        self.stream, self.precision, self.device = Stream(gen, h, w, k, device), precision, device
        with torch.inference_mode(), precision.autocast(device):
            state = self.stream.start()
            for _ in range(self.stream.warmup_steps + 1):
                _, state = self.stream.step(state)
            self.t = self.stream.t
            self.tensors = {name: t.clone() for name, t in state.to_tensors().items()}
            self.state_type = type(state)
            self.eager = self.run()

    def run(self) -> torch.Tensor:
        """The frame of the step from the saved state (CPU fp32)."""
        self.stream.t = self.t
        with torch.inference_mode(), self.precision.autocast(self.device):
            state = self.state_type.from_tensors({name: t.clone() for name, t in self.tensors.items()})
            out, _ = self.stream.step(state)
        return out.frame.detach().float().cpu()


def measure_compiled(gen: nn.Module, case: Case, k: int, device: torch.device, precision: Precision,
                     args: argparse.Namespace, eager: dict[str, Any]) -> dict[str, Any]:
    """The eager measurement again with `step` compiled (same warm-up and steps), and one steady-state step from
    the same state in both."""
    meter = MemoryMeter(device)
    steady = SteadyStep(gen, case, k, device, precision)
    try:
        with compiled_step(gen, args.compile_mode):
            run = stream_steps(gen, case, k, device, precision, args.warmup, args.steps, meter)
            step_diff = (steady.run() - steady.eager).abs().max().item()
    except Exception as exc:  # noqa: BLE001 - a compile failure is a result, not a crash
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:500]}"}
    speedup = run["fps"] / eager["fps"]
    tolerance = COMPILE_TOLERANCE[precision.name]
    return {
        "ok": True,
        "mode": args.compile_mode,
        "compile_and_warmup_s": round((run["start_ms"] + sum(run["warmup_ms"])) / 1e3, 2),
        **{key: v for key, v in run.items() if key != "last_frame"},
        "speedup": round(speedup, 3),
        "step_max_abs_diff_vs_eager": step_diff,
        "tolerance": tolerance,
        "matches_eager": step_diff <= tolerance,
        "paid": speedup > PAID_SPEEDUP and step_diff <= tolerance,
        "free_run_max_abs_diff_vs_eager": (run["last_frame"] - eager["last_frame"]).abs().max().item(),
        "memory": meter.result,
    }


# ------------------------------------------------------------------------------------------------- resume


@contextlib.contextmanager
def deterministic() -> Iterator[dict[str, Any]]:
    """Deterministic algorithms (and cuDNN benchmark off) for the block, restored after. An op without a
    deterministic implementation warns (warn_only) and is listed in the yielded dict's `nondeterministic_ops`."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    report: dict[str, Any] = {"deterministic_algorithms": True, "cudnn_benchmark": False,
                              "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield report
        report["nondeterministic_ops"] = sorted({str(w.message)[:200] for w in caught
                                                 if "deterministic" in str(w.message)})
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.benchmark = saved[2]


def generate(gen: nn.Module, case: Case, k: int, device: torch.device, precision: Precision, frames: int,
             resume_at: int | None, state_dir: Path | None = None) -> tuple[list[bytes], list[torch.Tensor], int]:
    """`frames` output frames (bytes and CPU tensors); with `resume_at` the state goes through the worker's job-state
    file after that many frames and the stream continues from what was read back. Returns the file's size too."""
    from workers.job_state import load_job_state, save_job_state

    h, w = case.size
    stream = Stream(gen, h, w, k, device)
    blobs, tensors, size = [], [], 0
    with torch.inference_mode(), precision.autocast(device):
        state = stream.start()
        for t in range(frames):
            if t == resume_at:
                assert state_dir is not None
                size = save_job_state(state_dir, t, state.to_tensors(), device)
                saved = load_job_state(state_dir, device)
                assert saved is not None and saved.next_frame == t
                state = type(state).from_tensors(saved.tensors)
            out, state = stream.step(state)
            frame = out.frame.detach().cpu().contiguous()  # (1, 3, H, W), the dtype it came in
            blobs.append(frame.numpy().tobytes() if frame.dtype != torch.bfloat16 else
                         frame.view(torch.int16).numpy().tobytes())
            tensors.append(frame.float())
    return blobs, tensors, size


def resume_check(gen: nn.Module, case: Case, k: int, device: torch.device, precision: Precision,
                 frames: int) -> dict[str, Any]:
    half = frames // 2
    try:
        with deterministic() as settings, tempfile.TemporaryDirectory(prefix="bench_gpu_") as tmp:
            plain, plain_t, _ = generate(gen, case, k, device, precision, frames, None)
            resumed, resumed_t, state_bytes = generate(gen, case, k, device, precision, frames, half, Path(tmp))
            # when they differ: does the run itself repeat? (if not, the difference is not the resume's)
            again = generate(gen, case, k, device, precision, frames, None)[0] if plain != resumed else None
    except RuntimeError as exc:  # e.g. out of memory (ops without a deterministic kernel only warn)
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:500]}"}
    differing = [t for t in range(frames) if plain[t] != resumed[t]]
    diff = max((a - b).abs().max().item() for a, b in zip(plain_t, resumed_t, strict=True))
    return {
        "ok": True,
        "frames": frames,
        "resumed_after": half,
        "identical": not differing,
        "repeat_identical": None if again is None else plain == again,
        "first_differing_frame": differing[0] if differing else None,
        "max_abs_diff": diff,
        "state_file_bytes": state_bytes,
        **settings,
    }


# ------------------------------------------------------------------------------------------------- run


def run_case(case: Case, device: torch.device, precision: Precision, args: argparse.Namespace) -> list[dict]:
    gen = build(case.preset, references=max(case.ks, default=1)).to(device)
    fs = is_few_shot(gen)
    rows = []
    for k in case.ks if fs else (0,):
        meter = MemoryMeter(device)
        eager = stream_steps(gen, case, k, device, precision, args.warmup, args.steps, meter)
        compiled = measure_compiled(gen, case, k, device, precision, args, eager) if args.compile else None
        memory = meter.result
        if device.type == "cuda":  # what one stream needs: weights, one label frame, and the peak working set
            memory["serving_peak_mb"] = round(module_mb(gen) + eager["label_frame_mb"] + memory["working_mb"], 1)
        rows.append({
            "preset": case.preset,
            "family": "fs_vid2vid" if fs else "vid2vid",
            "kind": case.kind,
            "size": list(case.size),
            "k": k if fs else None,
            "parameters": sum(p.numel() for p in gen.parameters()),
            "weights_mb": module_mb(gen),
            "eager": {key: v for key, v in eager.items() if key != "last_frame"},
            "compiled": compiled,
            "memory": memory,
            "resume": resume_check(gen, case, k, device, precision, args.resume_frames),
        })
    del gen
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


def markdown(payload: dict[str, Any]) -> str:
    env, prec = payload["env"], payload["precision"]
    head = (f"GPU serving benchmark, {env['device']} ({env.get('gpu') or env['cpu']}), torch {env['torch']}, "
            f"{env['date']}; precision {prec['name']} ({prec['reason']}); random weights.\n\n")
    rows = []
    for r in payload["results"]:
        c, m, res = r["compiled"], r["memory"], r["resume"]
        peak = m.get("serving_peak_mb", m.get("peak_rss_delta_mb"))
        compiled = "" if c is None else (f"{c['fps']:.2f} ({c['speedup']:.2f}x"
                                         f"{'' if c['matches_eager'] else ', differs from eager'})"
                                         if c["ok"] else "failed")
        resume = "error" if not res["ok"] else ("identical" if res["identical"] else
                                                 f"differs from frame {res['first_differing_frame']}")
        rows.append([r["preset"], r["k"] or "", "x".join(map(str, r["size"])), f"{r['eager']['fps']:.2f}",
                     f"{r['eager']['ms_per_frame']['median']:.1f}", compiled,
                     "" if peak is None else f"{peak:.0f}", f"{r['weights_mb']:.1f}", resume])
    header = ["preset", "K", "size HxW", "frames/s", "ms/frame (median)", "compiled frames/s (speed-up)",
              "peak memory MiB (weights + label frame + working set)" if payload["env"]["device"] == "cuda"
              else "peak RSS growth MiB", "weights MiB",
              "resume"]
    return head + md_table(header, rows) + f"\n\nResume promise: {payload['determinism']['promise']}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    # cuBLAS reads this when it creates its handle: before anything touches CUDA.
    cuda_was_initialised = torch.cuda.is_initialized()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--presets", nargs="*", default=None, help="only these of the cases")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help="default: the worker's choice")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per case (default 10, quick 3)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps (at least the history length)")
    parser.add_argument("--resume-frames", type=int, default=None, help="frames of the resume check (default 8)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of the generator's step")
    parser.add_argument("--compile-mode", default="default",
                        choices=["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"])
    args = parser.parse_args(argv)
    setup_threads(args.threads)
    device = pick_device(args.device)
    q = args.quick
    args.steps = args.steps or (2 if q else 10)
    args.warmup = args.warmup if args.warmup is not None else (1 if q else 3)
    args.warmup += COMPILE_EXTRA_WARMUP if args.compile else 0
    args.resume_frames = args.resume_frames or (4 if q else 8)
    precision = choose_precision(device, args.precision)
    cases = QUICK_CASES if q else PAPER_CASES
    if args.presets:
        unknown = sorted(set(args.presets) - {c.preset for c in cases})
        if unknown:
            parser.error(f"unknown presets {unknown}; the cases are {[c.preset for c in cases]}")
        cases = [c for c in cases if c.preset in args.presets]
    results = [row for case in cases for row in run_case(case, device, precision, args)]
    payload = {
        "benchmark": "gpu",
        "env": environment(device),
        "settings": {"quick": q, "steps": args.steps, "warmup": args.warmup, "resume_frames": args.resume_frames,
                     "compile": args.compile, "compile_mode": args.compile_mode if args.compile else None,
                     "mode": "torch.inference_mode", "weights": "random (seeded)",
                     "few_shot_step": "with_raw=False (as served)"},
        "precision": {"name": precision.name, "reason": precision.reason},
        "determinism": {"promise": PROMISE_CUDA if device.type == "cuda" else PROMISE_CPU,
                        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
                        "set_before_cuda_init": not cuda_was_initialised,
                        "resume_all_identical": all(r["resume"].get("identical") for r in results)},
        "results": results,
    }
    emit(payload, args.out, markdown(payload), args.markdown)
    return payload


if __name__ == "__main__":
    main()
