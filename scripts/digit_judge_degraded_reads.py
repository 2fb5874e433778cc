"""How a digit judge reads real held-out digits, clean and through the cards' fixed degradations.

For every 4th frame of each held-out clip of a one-digit moving MNIST folder: the judge's accuracy, the share it
calls right with confidence >= 0.9 (what `v2v eval` counts) and the share it rejects as "none", clean and through
`evaluation.degrade.DEGRADED_CHECKS` (pixel noise σ 0.05, blur σ 0.7). A judge that rejects real digits through
faint noise measures a generator's flicker, not its digits.

    python -m scripts.digit_judge_degraded_reads --judges checkpoints/judges --data data/digits-class32
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from evaluation.clips import load_clips
from evaluation.degrade import DEGRADED_CHECKS, degraded_copy
from evaluation.generate import CONFIDENT
from evaluation.identity import batched
from evaluation.judges import NONE, load_judges


def reads(net: torch.nn.Module, frames: torch.Tensor, labels: torch.Tensor, none: int) -> dict[str, float]:
    """Accuracy, confident-and-right share and "none" share of `net` on frames (N, 3, S, S) with labels (N,)."""
    confidence, top = batched(net, frames).softmax(1).max(1)  # (N,), (N,)
    right = top == labels  # (N,)
    sure = right & (confidence >= CONFIDENT)  # (N,)
    return {"accuracy": float(right.float().mean()), "confident": float(sure.float().mean()),
            "none": float((top == none).float().mean())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--judges", type=Path, default=Path("checkpoints/judges"))
    parser.add_argument("--data", type=Path, required=True, help="`v2v data digits --variant class` folder")
    args = parser.parse_args(argv)
    judge = load_judges(args.judges)["digit"]
    test = load_clips(args.data, "test", judge.card.size, ("label",))
    every = test.frames[:, ::4]  # (N, T', 3, S, S) uint8
    frames = every.flatten(0, 1).float() / 127.5 - 1  # (N·T', 3, S, S)
    labels = test.labels["label"].repeat_interleave(every.shape[1])  # (N·T',)
    none = list(judge.card.classes).index(NONE)
    for check in ("clean", *DEGRADED_CHECKS):
        seen = frames if check == "clean" else degraded_copy(frames, check)
        r = reads(judge.net, seen, labels, none)
        sys.stdout.write(f"{check}: accuracy {r['accuracy']:.3f}, confident and right {r['confident']:.3f}, "
                         f"called none {r['none']:.3f}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
