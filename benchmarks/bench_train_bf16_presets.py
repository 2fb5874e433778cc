"""Training steps of the generate and predict recipes in bf16 autocast against fp32 (`--amp bf16`, off by default
for them; every one takes it) on a CPU with bf16 units.

Each case builds one recipe twice (same seed, same weights), `amp="off"` and `amp="bf16"`, and times whole
optimisation steps on the same batches, alternately step by step so that load on this shared machine cancels in the
per-pair ratio. Speed-up: median of the ratios fp32 / bf16. The two runs drift apart (bf16 training is another run,
not a rounding of the fp32 one); the table says whether the bf16 run's losses stayed finite.

    python -m benchmarks.bench_train_bf16_presets --threads 1 [--steps 6] [--digits data/digits32]
        [--digits-class data/digits-class32] [--actions data/actions32] [--weizmann D] [--family savp ...]
    python -m benchmarks.bench_train_bf16_presets --quick --digits DIR --weizmann DIR  # tiny presets (smoke test)
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from typing import Any

import torch

from benchmarks.common import NOTE_SHARED, add_common_args, cpu_bf16_setup, emit, environment, md_table
from models.registry import find_recipe

# name, family, preset, model-config overrides, batch, data set flag
CASES: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    ("TGAN digits (served widths)", "tgan", "tgan-mnist-small", {"ngf": 16, "ndf": 32}, 16, "digits_class"),
    ("SVG-LP digits (served)", "svg_lp", "svg_lp-small-g128", {}, 16, "digits"),
    ("MoCoGAN people actions (served)", "mocogan", "mocogan-small", {}, 16, "actions"),
    ("VGAN people actions (served)", "vgan", "vgan-small", {}, 16, "actions"),
    ("SAVP people actions (savp-small)", "savp", "savp-small", {}, 8, "actions"),
    ("VideoVAE Weizmann-style (served)", "videovae", "videovae-small-resize", {}, 32, "weizmann"),
]
QUICK_CASES = [("TGAN tiny", "tgan", "tgan-tiny", {}, 2, "digits"),
               ("SVG-LP tiny", "svg_lp", "svg_lp-tiny", {}, 2, "digits"),
               ("SAVP tiny", "savp", "savp-tiny", {}, 2, "digits"),
               ("VideoVAE tiny", "videovae", "videovae-tiny", {"num_actions": 4, "num_identities": 8}, 2, "weizmann")]
RUN_SETTINGS: dict[str, dict[str, Any]] = {"videovae": {"classifier_steps": 0}}
"""Run-config settings per family: VideoVAE's steps are timed in its ELBO stage, not the classifier stage."""


def _recipe(family: str, preset: str, overrides: dict[str, Any], batch: int, data: str, amp: str) -> Any:
    kind = find_recipe(family)[0].recipe("default")
    torch.manual_seed(0)
    return kind(kind.train_config(data=data, out="/nonexistent", preset=preset, overrides=overrides, batch=batch,
                                  device="cpu", progress=False, checkpoint_every=0, sample_every=0, amp=amp,
                                  **RUN_SETTINGS.get(family, {})))


def case(name: str, family: str, preset: str, overrides: dict[str, Any], batch: int, data: str,
         steps: int) -> dict[str, Any]:
    fp32, bf16 = (_recipe(family, preset, overrides, batch, data, amp) for amp in ("off", "bf16"))
    assert fp32.amp_dtype is None and bf16.amp_dtype == torch.bfloat16
    dataset = fp32.dataset()
    batches = [fp32.collate([dataset[step * batch + i] for i in range(batch)]) for step in range(steps + 1)]
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    finite = True
    for step, item in enumerate(batches):  # the first pair warms up (allocator, oneDNN kernels) and is not timed
        for label, recipe in (("bf16", bf16), ("fp32", fp32)):
            start = time.perf_counter()
            log = recipe.train_step(item, step)
            if step:
                times[label].append(time.perf_counter() - start)
            if label == "bf16":
                finite = finite and all(math.isfinite(v) for v in log.losses.values())
    ratios = [f / b for f, b in zip(times["fp32"], times["bf16"], strict=True)]
    return {"case": name, "family": family, "preset": preset, "overrides": overrides, "batch": batch,
            "s_per_step_fp32": round(statistics.median(times["fp32"]), 3),
            "s_per_step_bf16": round(statistics.median(times["bf16"]), 3),
            "speedup": round(statistics.median(ratios), 3), "speedups": [round(r, 3) for r in ratios],
            "bf16_losses_finite": finite}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per precision (default 6, quick 2)")
    parser.add_argument("--digits", default="data/digits32", help="Stochastic Moving MNIST (`v2v data digits`)")
    parser.add_argument("--digits-class", default="data/digits-class32",
                        help="one-digit moving MNIST (`v2v data digits --variant class`)")
    parser.add_argument("--actions", default="data/actions32", help="people actions (`v2v data actions`)")
    parser.add_argument("--weizmann", default="data/actions32-weizmann",
                        help="person-centred people clips (`v2v data actions --track --plain`)")
    parser.add_argument("--family", action="append", default=None, help="only these families (repeatable)")
    args = parser.parse_args(argv)
    flags = cpu_bf16_setup(args)
    folders = {"digits": args.digits, "digits_class": args.digits_class, "actions": args.actions,
               "weizmann": args.weizmann}
    steps = args.steps or (2 if args.quick else 6)
    rows = []
    for name, family, preset, overrides, batch, data in (QUICK_CASES if args.quick else CASES):
        if args.family and family not in args.family:
            continue
        rows.append(case(name, family, preset, overrides, batch, folders[data], steps))
        sys.stderr.write(f"{rows[-1]}\n")
    payload = {"benchmark": "train_bf16_presets", "env": {**environment(torch.device("cpu")), "note": NOTE_SHARED,
                                                          "bf16_flags": flags},
               "settings": {"steps": steps, "threads": torch.get_num_threads()}, "cases": rows}
    table = md_table(["case", "batch", "s/step fp32", "s/step bf16", "speed-up (median)", "bf16 losses finite"],
                     [[r["case"], r["batch"], r["s_per_step_fp32"], r["s_per_step_bf16"], f"{r['speedup']:.2f}×",
                       r["bf16_losses_finite"]] for r in rows])
    emit(payload, args.out, table, args.markdown)
    return payload


if __name__ == "__main__":
    main()
