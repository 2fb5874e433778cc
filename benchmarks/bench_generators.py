"""Generator speed: ms/frame, MACs/frame and achieved GFLOP/s of each preset, against a big matmul timed next to it.

    python -m benchmarks.bench_generators                      # all presets (small at served sizes, paper reduced)
    python -m benchmarks.bench_generators --quick              # tiny presets only, seconds
    python -m benchmarks.bench_generators --presets vid2vid-street-small --steps 30 --markdown -
    python -m benchmarks.bench_generators --device cuda        # bf16 autocast, paper presets at paper size

Per case:
- MACs/frame of a steady-state `step` (history full, not the first frame), counted on the meta device at the
  case's *nominal* size (served size for the shipped presets, the paper's size for the paper presets), and again
  at the size actually timed.
- ms/frame: median over `--steps` steps after warm-up, under `torch.inference_mode()`, fp32 on CPU, bf16 autocast
  on CUDA. Few-shot steps run as served (`with_raw=False`).
- achieved GFLOP/s = 2 x MACs(timed size) / time, and its ratio to the GFLOP/s of an n^3 matmul: every timed step
  is followed by one timed matmul (same process, same second; the matmul runs in the generator's compute dtype) and
  the ratio is the median of the per-pair ratios, which cancels most of the load changes of a shared machine.
  A matmul is also timed at the start and the end of the run.
- Few-shot: `start` (reference encoding / weight generation) cost vs `step`, for each K.

Paper presets run on CPU at reduced sizes (`timed.size` differs from `size`, `timed.reduced` is true); their
`ms_per_frame_at_size_est` is a linear-in-MACs extrapolation, an estimate, not a measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

import models
from benchmarks.common import (
    add_common_args,
    emit,
    environment,
    matmul_reference,
    md_table,
    pick_device,
    setup_threads,
    summary,
    timed_ms,
)
from benchmarks.macs import count_macs
from models.core.baking import bake_parametrizations


@dataclass(frozen=True)
class Case:
    preset: str
    size: tuple[int, int]
    """Nominal (H, W): served size (small presets) or the paper's size (paper presets)."""
    cpu_size: tuple[int, int] | None = None
    """Reduced (H, W) timed on CPU; None: time at `size`."""
    ks: tuple[int, ...] = ()
    """Few-shot: numbers of references to measure."""
    timed: bool = True
    """False: MACs only (meta device), nothing runs."""
    kind: str = "small"


SMALL_CASES = [
    Case("vid2vid-street-small", (128, 256)),
    Case("vid2vid-edges-small", (192, 256)),
    Case("fs_vid2vid-people-small", (256, 128), ks=(1, 2, 4, 8)),
]
# Paper sizes (H, W): Cityscapes 2048x1024 and 1024x512; vid2vid pose 512p and few-shot pose 256p as 2:1 portrait
# crops (reference: "256x512 pose frames"); faces square.
PAPER_CASES = [
    Case("vid2vid-cityscapes-2048", (1024, 2048), cpu_size=(128, 256), kind="paper"),
    Case("vid2vid-cityscapes-1024", (512, 1024), cpu_size=(128, 256), kind="paper"),
    Case("vid2vid-pose-512", (512, 256), cpu_size=(128, 64), kind="paper"),
    Case("vid2vid-face-512", (512, 512), cpu_size=(128, 128), kind="paper"),
    Case("fs_vid2vid-pose-256", (512, 256), cpu_size=(128, 64), ks=(1,), kind="paper"),
    Case("fs_vid2vid-face-256", (256, 256), cpu_size=(128, 128), ks=(1,), kind="paper"),
]
QUICK_CASES = [
    Case("vid2vid-tiny", (32, 32), kind="tiny"),
    Case("fs_vid2vid-tiny", (32, 32), ks=(1, 2), kind="tiny"),
    Case("vid2vid-tiny", (128, 128), timed=False, kind="tiny"),  # exercises the MACs-only (meta) path
]
TINY_CASES = [Case("vid2vid-tiny", (64, 64), kind="tiny"), Case("fs_vid2vid-tiny", (64, 64), ks=(1, 2, 8), kind="tiny")]


def is_few_shot(gen: nn.Module) -> bool:
    return hasattr(gen.config, "max_references")


def random_labels(gen: nn.Module, b: int, h: int, w: int, device: torch.device, seed: int) -> torch.Tensor:
    """Label maps of the right kind: one-hot for many-channel (segmentation) presets, [-1, 1] otherwise."""
    c = gen.config.label_channels
    g = torch.Generator().manual_seed(seed)
    if c > 8:
        ids = torch.randint(0, c, (b, h // 8, w // 8), generator=g)
        ids = ids.repeat_interleave(8, 1).repeat_interleave(8, 2)
        x = torch.nn.functional.one_hot(ids, c).permute(0, 3, 1, 2).float()  # (B, C, H, W)
    else:
        x = torch.rand(b, c, h, w, generator=g) * 2 - 1
    return x.to(device)


def references(gen: nn.Module, k: int, h: int, w: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    refs = torch.stack([random_labels_rgb(h, w, 100 + i) for i in range(k)], 1).to(device)  # (1, K, 3, H, W)
    ref_labels = torch.stack([random_labels(gen, 1, h, w, device, 200 + i) for i in range(k)], 1)  # (1, K, C, H, W)
    return refs, ref_labels


def random_labels_rgb(h: int, w: int, seed: int) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


class Stream:
    """One stream of a generator: start + step with the family's arguments."""

    def __init__(self, gen: nn.Module, h: int, w: int, k: int, device: torch.device) -> None:
        self.gen, self.h, self.w, self.k, self.device = gen, h, w, k, device
        self.fs = is_few_shot(gen)
        if self.fs:
            self.refs, self.ref_labels = references(gen, k, h, w, device)
        n_labels = 4
        self.labels = [random_labels(gen, 1, h, w, device, i) for i in range(n_labels)]
        self.t = 0

    def start(self) -> Any:
        if self.fs:
            return self.gen.start(references=self.refs, reference_labels=self.ref_labels)
        return self.gen.start(batch_size=1, height=self.h, width=self.w)

    def step(self, state: Any) -> tuple[Any, Any]:
        labels = self.labels[self.t % len(self.labels)]
        self.t += 1
        if self.fs:
            return self.gen.step(labels, state, with_raw=False)
        return self.gen.step(labels, state)

    @property
    def warmup_steps(self) -> int:
        """Steps until the state is steady (vid2vid: full history; few-shot: a previous frame exists)."""
        return 1 if self.fs else self.gen.config.n_prev


def build(preset: str, references: int = 1) -> nn.Module:
    """The preset's generator on CPU, seeded (building on the meta device is far slower: spectral norm's power
    iterations run through Python decompositions there), its parametrizations baked as served. Move it with
    `.to(...)`. A few-shot preset is built to take at least `references` (its cap on K, not its weights)."""
    overrides: dict[str, Any] = {}
    config = models.get_preset_config(preset)
    if hasattr(config, "max_references"):
        overrides["max_references"] = max(references, config.max_references)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        gen = models.build_generator(preset, **overrides)
    return bake_parametrizations(gen)


def steady_macs(gen_meta: nn.Module, h: int, w: int, k: int) -> dict[str, Any]:
    """MACs of `start` and of one steady-state `step` on the meta device."""
    meta = torch.device("meta")
    stream = Stream(gen_meta, h, w, k, torch.device("cpu"))
    stream.labels = [t.to(meta) for t in stream.labels]
    if stream.fs:
        stream.refs, stream.ref_labels = stream.refs.to(meta), stream.ref_labels.to(meta)
    with torch.inference_mode():
        start = count_macs(stream.start, gen_meta)
        state = start.result
        for _ in range(stream.warmup_steps):
            _, state = stream.step(state)
        step = count_macs(lambda: stream.step(state), gen_meta)
    return {"start": start.as_dict(), "step": step.as_dict()}


def autocast_for(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def time_stream(gen: nn.Module, h: int, w: int, k: int, device: torch.device, steps: int, warmup: int,
                start_reps: int, ref: MatmulPair) -> dict[str, Any]:
    """Time `start` and steady-state `step`; each timed step is paired with one reference matmul right after it,
    so their ratio is taken under the same load (the machine may be shared)."""
    stream = Stream(gen, h, w, k, device)
    with torch.inference_mode(), autocast_for(device):
        start_ms = []
        state = None
        for _ in range(start_reps):
            ms, state = timed_ms(stream.start, device)
            start_ms.append(ms)
        for _ in range(max(warmup, stream.warmup_steps)):
            _, state = stream.step(state)
        step_ms, mm_ms = [], []
        for _ in range(steps):
            ms, (_, state) = timed_ms(lambda s=state: stream.step(s), device)
            step_ms.append(ms)
            mm_ms.append(ref.time_ms())
        # MACs on the real device, after the timing (cheap here; the meta device is slow for spectral-norm layers)
        macs_start = count_macs(stream.start, gen)
        macs_step = count_macs(lambda s=state: stream.step(s), gen)
    return {"start_ms": summary(start_ms), "step_ms": summary(step_ms), "step_samples": step_ms,
            "matmul_samples": mm_ms, "macs": {"start": macs_start.as_dict(), "step": macs_step.as_dict()}}


class MatmulPair:
    """An n^3 matmul in the generator's compute dtype, timed once per call (the paired reference)."""

    def __init__(self, device: torch.device, n: int, dtype: torch.dtype) -> None:
        self.device, self.n = device, n
        self.a = torch.randn(n, n, device=device, dtype=dtype)
        self.b = torch.randn(n, n, device=device, dtype=dtype)
        with torch.inference_mode():
            torch.mm(self.a, self.b)

    def time_ms(self) -> float:
        with torch.inference_mode():
            return timed_ms(lambda: torch.mm(self.a, self.b), self.device)[0]

    def gflops(self, ms: float) -> float:
        return 2 * self.n**3 / (ms * 1e-3) / 1e9


def run_case(case: Case, device: torch.device, args: argparse.Namespace, ref_dtype: torch.dtype) -> list[dict]:
    """Time every K on `device` (counting MACs there too), then, for sizes not run, move the same module to the meta
    device and count MACs there."""
    gen = build(case.preset, references=max(case.ks, default=1))
    fs = is_few_shot(gen)
    ks = case.ks if fs else (0,)
    h, w = case.size
    th, tw = case.cpu_size if (case.cpu_size is not None and device.type == "cpu") else case.size
    params = sum(p.numel() for p in gen.parameters())
    timings: dict[int, dict[str, Any]] = {}
    if case.timed:
        gen.to(device)
        steps = args.paper_steps if case.kind == "paper" else args.steps
        ref = MatmulPair(device, args.matmul_n, ref_dtype)
        for k in ks:
            timings[k] = time_stream(gen, th, tw, k, device, steps, args.warmup, args.start_reps if fs else 1, ref)
        del ref
    same_size = (th, tw) == (h, w)
    if not (case.timed and same_size):
        gen.to("meta")
    results = []
    for k in ks:
        nominal = timings[k]["macs"] if case.timed and same_size else steady_macs(gen, h, w, k)
        row: dict[str, Any] = {
            "preset": case.preset,
            "family": "fs_vid2vid" if fs else "vid2vid",
            "kind": case.kind,
            "size": [h, w],
            "k": k if fs else None,
            "parameters": params,
            "macs_per_frame": nominal["step"]["total"],
            "macs_per_frame_by_op": nominal["step"]["by_op"],
            "macs_start": nominal["start"]["total"] if fs else None,
            "timed": None,
        }
        if k in timings:
            t = timings[k]
            at_timed = t["macs"]
            ms = t["step_ms"]["median"]
            macs = at_timed["step"]["total"]
            gflops = 2 * macs / (ms * 1e-3) / 1e9
            mm_gflops = [2 * args.matmul_n**3 / (x * 1e-3) / 1e9 for x in t["matmul_samples"]]
            pair_ratios = [(2 * macs / (g * 1e-3) / 1e9) / m for g, m in zip(t["step_samples"], mm_gflops, strict=True)]
            reduced = (th, tw) != (h, w)
            row["timed"] = {
                "size": [th, tw],
                "reduced": reduced,
                "macs_per_frame": macs,
                "ms_per_frame": t["step_ms"],
                "gflops": round(gflops, 2),
                "matmul_gflops": round(statistics.median(mm_gflops), 2),
                "ratio_to_matmul": round(statistics.median(pair_ratios), 4),
                "ratio_to_matmul_p25_p75": [round(x, 4) for x in _quartiles(pair_ratios)],
                "start_ms": t["start_ms"] if fs else None,
                "macs_start": at_timed["start"]["total"] if fs else None,
                "start_over_step": round(t["start_ms"]["median"] / ms, 3) if fs else None,
                "ms_per_frame_at_size_est": round(ms * row["macs_per_frame"] / macs, 1) if reduced else None,
            }
        results.append(row)
    return results


def _quartiles(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def markdown(payload: dict[str, Any]) -> str:
    env = payload["env"]
    head = (
        f"Generators, {env['device']} ({env.get('gpu') or env['cpu']}), torch {env['torch']}, "
        f"{env['torch_threads']} threads, {env['date']}. Reference matmul {payload['settings']['matmul_n']}^3 "
        f"{payload['reference_dtype']}: {payload['matmul_reference']['start']['gflops']} GFLOP/s at start, "
        f"{payload['matmul_reference']['end']['gflops']} at end.\n\n"
    )
    rows = []
    for r in payload["results"]:
        t = r["timed"]
        size = "x".join(map(str, r["size"]))
        if t is None:
            rows.append([r["preset"], r["k"] or "", size, f"{r['macs_per_frame'] / 1e9:.2f}", "MACs only", "", "", "",
                         "", ""])
            continue
        tsize = "x".join(map(str, t["size"])) + (" (reduced)" if t["reduced"] else "")
        start = f"{t['start_ms']['median']:.1f}" if t["start_ms"] else ""
        est = f"{t['ms_per_frame_at_size_est']:.0f}" if t["ms_per_frame_at_size_est"] else ""
        rows.append([
            r["preset"], r["k"] or "", size, f"{r['macs_per_frame'] / 1e9:.2f}", tsize,
            f"{t['ms_per_frame']['median']:.1f}", est, f"{t['gflops']:.1f}", f"{t['ratio_to_matmul']:.2f}", start,
        ])
    header = ["preset", "K", "size HxW", "GMACs/frame @size", "timed at", "ms/frame (median)",
              "ms/frame @size (est.)", "GFLOP/s", "vs matmul", "start ms (median)"]
    return head + md_table(header, rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--presets", nargs="*", default=None, help="only these presets")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per case (default 20, quick 3)")
    parser.add_argument("--paper-steps", type=int, default=None, help="timed steps of paper presets (default 3)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps (at least the history length)")
    parser.add_argument("--start-reps", type=int, default=None, help="timed few-shot starts per K (default 5)")
    parser.add_argument("--matmul-n", type=int, default=None, help="reference matmul size (CPU 2048, CUDA 8192)")
    parser.add_argument("--matmul-reps", type=int, default=None)
    parser.add_argument("--no-paper", action="store_true", help="skip the paper presets")
    parser.add_argument("--paper-macs-only", action="store_true", help="paper presets: MACs only, no timing")
    parser.add_argument("--tiny", action="store_true", help="also the tiny test presets")
    args = parser.parse_args(argv)
    setup_threads(args.threads)
    device = pick_device(args.device)
    q = args.quick
    args.steps = args.steps or (3 if q else 20)
    args.paper_steps = args.paper_steps or (2 if q else 3)
    args.warmup = args.warmup if args.warmup is not None else (1 if q else 2)
    args.start_reps = args.start_reps or (2 if q else 5)
    args.matmul_n = args.matmul_n or (256 if q else (8192 if device.type == "cuda" else 2048))
    args.matmul_reps = args.matmul_reps or (3 if q else 5)
    ref_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32

    if q:
        cases = list(QUICK_CASES)
    else:
        cases = (TINY_CASES if args.tiny else []) + list(SMALL_CASES)
        if not args.no_paper:
            cases += [Case(c.preset, c.size, c.cpu_size, c.ks, not args.paper_macs_only, c.kind) for c in PAPER_CASES]
    if args.presets:
        known = set(models.list_presets())
        unknown = [p for p in args.presets if p not in known]
        if unknown:
            parser.error(f"unknown presets {unknown}; valid: {sorted(known)}")
        cases = [c for c in cases if c.preset in args.presets]

    matmul_start = matmul_reference(device, args.matmul_n, args.matmul_reps, ref_dtype)
    results = []
    for case in cases:
        results += run_case(case, device, args, ref_dtype)
    matmul_end = matmul_reference(device, args.matmul_n, args.matmul_reps, ref_dtype)
    ratios = [r["timed"]["ratio_to_matmul"] for r in results if r["timed"]]
    payload = {
        "benchmark": "generators",
        "env": environment(device),
        "settings": {
            "quick": q, "steps": args.steps, "paper_steps": args.paper_steps, "warmup": args.warmup,
            "start_reps": args.start_reps, "matmul_n": args.matmul_n, "matmul_reps": args.matmul_reps,
            "compute": "bf16 autocast" if device.type == "cuda" else "fp32", "mode": "torch.inference_mode",
            "few_shot_step": "with_raw=False (as served)",
        },
        "reference_dtype": str(ref_dtype).removeprefix("torch."),
        "matmul_reference": {"start": matmul_start, "end": matmul_end},
        "results": results,
        "median_ratio_to_matmul": round(statistics.median(ratios), 4) if ratios else None,
    }
    emit(payload, args.out, markdown(payload), args.markdown)
    return payload


if __name__ == "__main__":
    main()
