"""A served translate model on one labels-only clip, its job option `temporal` 1 (top row) against 0 (bottom row).

Both rows run the worker's pipeline (`workers.runner.make_runner`) with the option as a job would set it, so the
picture is what a user gets; the columns are the frames asked for. Used for the README's hand-made street figure:

    python -m scripts.temporal_strip --model street --data data/street-handmade \
        --out docs/previews/street-handmade-temporal.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from app.contracts import load_manifest
from evaluation.labels_only import load_label_clip
from evaluation.translate import load_sequences, run_stream
from workers.labels_input import codec_for
from workers.runner import make_runner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="street")
    parser.add_argument("--data", type=Path, default=Path("data/street-handmade"))
    parser.add_argument("--sequence", type=int, default=0, help="index of the test sequence (default 0)")
    parser.add_argument("--frames", type=int, nargs="+", default=[0, 8, 16, 23])
    parser.add_argument("--manifest", type=Path, default=Path("checkpoints/manifest.json"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    card = load_manifest(args.manifest).models[args.model]
    runner = make_runner(card, torch.device("cpu"), args.manifest.parent)
    runner.setup()
    _, seqs = load_sequences(args.data, "test")
    clip = load_label_clip(seqs[args.sequence], max(args.frames) + 1, codec_for(card.inputs.labels),
                           card.output.height, card.output.width)
    rows = []
    with torch.no_grad():
        for temporal in (1, 0):
            pipeline = runner.pipeline.adapt(None, {"temporal": temporal}, 0, None)
            frames = run_stream(pipeline, clip, temporal=True)  # the option, not the evaluator, decides
            rows.append(np.concatenate([frames[t] for t in args.frames], axis=1))  # (H, n·W, 3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_PNG_COMPRESSION, 9])
    sys.stdout.write(f"wrote {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
