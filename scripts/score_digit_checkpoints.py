"""Score a generate run's checkpoints with the digit judge, without exporting them: for each checkpoint, its
snapshot and (when the run kept one) its moving average, each as stored and with its batch-norm statistics measured
again (`training.batch_norm_statistics.recalibrate`, what `v2v export --recalibrate-bn 64` ships). Per row: the
share of confident digit frames / the share of a clip's frames that keep its majority digit / distinct digits,
over `--clips` random clips (batch norms in inference mode, `evaluation.generate.digit_scores`).

    python -m scripts.score_digit_checkpoints runs/digits-tgan-fc-ft [--steps 2000 2500] [--clips 128]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from evaluation.generate import digit_scores
from evaluation.judges import load_judges
from models.core.checkpoints import load_generator
from training.batch_norm_statistics import recalibrate
from training.ema import PREFIX as EMA_PREFIX
from training.state import module_weights, read_checkpoint_meta, run_checkpoints


@torch.no_grad()
def random_clips(gen: torch.nn.Module, clips: int, seed: int) -> torch.Tensor:
    """`clips` clips (N, T, 3, H, W) from the generator in inference mode, drawn with `seed`."""
    gen.eval()
    rng, out = torch.Generator().manual_seed(seed), []
    for first in range(0, clips, 16):
        video = gen.random_clips(min(16, clips - first), rng)  # (B, C, T, H, W)
        out.append(video.transpose(1, 2).expand(-1, -1, 3, -1, -1))  # (B, T, 3, H, W)
    return torch.cat(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--steps", type=int, nargs="*", default=None, help="default: every checkpoint")
    parser.add_argument("--clips", type=int, default=128)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--judges", type=Path, default=Path("checkpoints/judges"))
    args = parser.parse_args(argv)
    judge = load_judges(args.judges)["digit"]
    for ckpt in run_checkpoints(args.run):
        meta = read_checkpoint_meta(ckpt)
        if args.steps and meta["step"] not in args.steps:
            continue
        row = [f"{args.run.name} step {meta['step']}"]
        for name in ("G", EMA_PREFIX) if "ema_decay" in meta else ("G",):
            state = {k: v.float() for k, v in module_weights(ckpt, name).items()}
            for measured in (False, True):
                gen = load_generator(meta["preset"], meta["config"], None, None, "cpu")
                gen.load_state_dict(state)
                if measured:
                    recalibrate(gen)
                s = digit_scores(judge, random_clips(gen, args.clips, args.seed))
                row.append(f"{name}{' recalibrated' if measured else ''} {s['digit_confident']:.3f} / "
                           f"{s['digit_kept']:.3f} / {s['digit_classes']}")
        sys.stdout.write(" | ".join(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
