"""Move a trained MoCoGAN's category input from the image generator to the motion GRU (`category_input="motion"`).

Reads a run checkpoint (`step_*.json` and its `.safetensors`) and writes one checkpoint into a new run folder that
`v2v train mocogan ... --init-from NEW_RUN --init-networks all --config '{"category_input": "motion"}'` starts from:
G_I's first layer loses its z_A input rows, the GRU's input weights gain K zero columns (so the converted generator
renders exactly what the old one rendered with z_A = 0, and learns to use the action through the motion), the
moving average (G_ema) the same; the discriminators are copied unchanged. Optimiser states are not carried.

    python -m scripts.mocogan_category_to_motion runs/actions-avg/checkpoints/step_0022253.json runs/moco-motion-src
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def convert(tensors: dict[str, torch.Tensor], content_dim: int, categories: int) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors with every generator copy ("G.", "G_ema.") moved to the motion-path layout."""
    out = dict(tensors)
    for prefix in ("G.", "G_ema."):
        first, gru = f"{prefix}image_generator.0.weight", f"{prefix}motion_gru.weight_ih"
        if first not in tensors:
            continue
        w = tensors[first]  # (d_C + K + d_M, C0, 4, 4)
        out[first] = torch.cat([w[:content_dim], w[content_dim + categories:]]).contiguous()  # (d_C + d_M, ...)
        ih = tensors[gru]  # (3 d_M, d_ε)
        out[gru] = torch.cat([ih, ih.new_zeros(ih.shape[0], categories)], dim=1)  # (3 d_M, d_ε + K)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a MoCoGAN run's step_*.json")
    parser.add_argument("out", type=Path, help="the new run folder")
    args = parser.parse_args(argv)
    from models.families.mocogan.config import PRESETS, MoCoGANConfig
    from training.recipe_parts import model_config_from_preset

    meta = json.loads(args.checkpoint.read_text())
    config = model_config_from_preset(PRESETS, meta["preset"], meta.get("config", {}), MoCoGANConfig, "mocogan")
    if config.category_input != "image" or config.num_categories == 0:
        raise SystemExit("the checkpoint must be a MoCoGAN with categories on the image path")
    tensors = convert(load_file(str(args.checkpoint.with_suffix(".safetensors"))), config.content_dim,
                      config.num_categories)
    folder = args.out / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / args.checkpoint.name
    save_file(tensors, str(target.with_suffix(".safetensors")))
    meta["config"] = {**meta.get("config", {}), "category_input": "motion"}
    meta["converted_from"] = str(args.checkpoint)
    target.write_text(json.dumps(meta, indent=1))
    sys.stdout.write(f"wrote {target}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
