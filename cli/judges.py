"""`v2v judges train --data DIR --out checkpoints/judges`: train the judges that score generated video
(`evaluation.judges`): the action and appearance judges on a people-actions clip folder (`v2v data actions`), the
digit judge on a one-digit moving MNIST folder (`v2v data digits --variant class`). The data decides which."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = actions.add_parser("train", help="train the judges and write fp16 weights + manifest.json")
    train.add_argument("--data", type=Path, required=True,
                       help="clip folder of `v2v data actions` (action, appearance) or `v2v data digits --variant "
                            "class` (digit)")
    train.add_argument("--out", type=Path, default=Path("checkpoints/judges"))
    train.add_argument("--only", choices=("action", "appearance", "digit"), default=None,
                       help="train one judge only (default: every judge that fits the data)")
    train.add_argument("--size", type=int, default=32, help="square input size (default 32)")
    train.add_argument("--frames", type=int, default=8, help="action judge: frames per clip (default 8)")
    train.add_argument("--stride", type=int, default=2, help="action judge: every stride-th frame (default 2)")
    train.add_argument("--action-steps", type=int, default=1500)
    train.add_argument("--appearance-steps", type=int, default=1500)
    train.add_argument("--digit-steps", type=int, default=2000)
    train.add_argument("--batch", type=int, default=32)
    train.add_argument("--degrade", type=float, default=0.5, metavar="P",
                       help="share of training items seen through pixel noise or blur, so a judge reads the "
                            "action, look or digit through a generator's flicker (default 0.5; 0: clean)")
    train.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from evaluation.judges_train import JudgeTrainConfig, train_judges

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not (args.data / "dataset.json").is_file():
        raise FileNotFoundError(f"--data {args.data}: no clip folder (make one with `v2v data actions|digits`)")
    config = JudgeTrainConfig(data=args.data, out=args.out, size=args.size, frames=args.frames, stride=args.stride,
                              action_steps=args.action_steps, appearance_steps=args.appearance_steps,
                              digit_steps=args.digit_steps, batch=args.batch, seed=args.seed,
                              degrade_probability=args.degrade)
    which = (args.only,) if args.only else None
    cards = train_judges(config, which)
    sys.stdout.write(json.dumps({k: asdict(v) for k, v in cards.items()}, indent=1) + "\n")
    return 0
