"""How periodic is the GAN gradient a translate run's image discriminator hands its generator?

    python scripts/d_gradient_grid.py RUN/checkpoints/step_N.json [--clips 6]

Builds the run's recipe from the checkpoint, takes the last frame of a few training clips, and measures (with
`evaluation.spectrum`) the periodic peaks, in dB over their surroundings, of d(LSGAN generator loss)/d(frame) under
the run's trained D_I and under a fresh one, beside the frames' own. A plain PatchGAN's stride-2 convs print their
2/4/8-pixel lattice into that gradient; `--set antialias_D=true` runs should show none.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluation.spectrum import grid_peak_db, mean_power_spectrum  # noqa: E402
from models.registry import get_family  # noqa: E402


def lattice_db(images: np.ndarray) -> dict[int, float]:
    """(N, H, W, 3) -> {period: peak dB} for periods 2, 4, 8."""
    power = mean_power_spectrum(images)
    return {period: round(grid_peak_db(power, period), 1) for period in (2, 4, 8)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a vid2vid or few-shot vid2vid run's step_*.json")
    parser.add_argument("--clips", type=int, default=6)
    args = parser.parse_args()
    torch.manual_seed(0)
    meta = json.loads(args.checkpoint.read_text())
    recipe_type = get_family(meta["family"]).recipe("default")
    recipe = recipe_type(recipe_type.train_config(**{k: v for k, v in meta["train_config"].items() if k != "family"}))
    fresh = {k: v.clone() for k, v in recipe.disc.state_dict().items()}
    weights = load_file(args.checkpoint.with_suffix(".safetensors"))
    trained = {k[2:]: v for k, v in weights.items() if k.startswith("D.")}
    dataset = recipe.dataset()
    batch = recipe.collate([dataset[i * 37] for i in range(args.clips)])
    last = batch.frames.shape[1] - 1
    frames = batch.frames[:, last]  # (N, 3, H, W)
    for name, state in (("trained D_I", trained), ("fresh D_I", fresh)):
        recipe.disc.load_state_dict(state, strict=False)
        recipe.disc.eval()
        image = frames.clone().requires_grad_(True)
        scales = recipe.disc.judge(batch, last, image)  # few-shot pairs it with the first reference
        loss = sum(((features[-1] - 1) ** 2).mean() for features in scales)
        (grad,) = torch.autograd.grad(loss, image)  # (N, 3, H, W); each clip's share scaled alike
        sys.stdout.write(f"{name} gradient: {lattice_db(grad.permute(0, 2, 3, 1).numpy())}\n")
    sys.stdout.write(f"the frames themselves: {lattice_db(frames.permute(0, 2, 3, 1).numpy())}\n")


if __name__ == "__main__":
    main()
