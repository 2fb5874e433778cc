"""Widen a trained MoCoGAN's image generator G_I (every hidden layer ×factor channels), keeping what it draws.

Net2WiderNet (Chen et al. 2016) on G_I's chain of ConvTranspose2d → BatchNorm2d → ReLU layers: new channel j of a
hidden layer with c channels copies channel j mod c (its kernel slice and its batch-norm parameters and running
statistics), and the next layer divides the kernel rows it reads from each channel's `factor` copies by `factor`.
Copies have the same batch statistics, so the widened generator renders exactly the frames of the original (in
training and in inference mode); a small multiplicative noise on the copies' kernels (`--noise`) then lets them
drift apart when training goes on (with noise 0 they would stay copies forever). The GRU is unchanged. Written as a
`.safetensors` state dict that `v2v train mocogan --config '{"ngf": NEW}' --init-from OUT` starts from; its
metadata keeps the source's family and trained steps.

    python -m scripts.mocogan_widen people-actions runs/moco-wide-src.safetensors --factor 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

PREFIX = "image_generator."


def _chain(state: dict[str, torch.Tensor]) -> list[int]:
    """Indices in G_I's Sequential of its ConvTranspose2d layers (4-D weights), in order."""
    return sorted(int(k[len(PREFIX):].split(".")[0]) for k, v in state.items()
                  if k.startswith(PREFIX) and k.endswith(".weight") and v.dim() == 4)


def widen(state: dict[str, torch.Tensor], factor: int, noise: float, generator: torch.Generator
          ) -> dict[str, torch.Tensor]:
    """The generator state dict with every hidden G_I layer `factor` times wider (see the module docstring)."""
    if factor < 1 or noise < 0:
        raise ValueError("factor must be >= 1 and noise >= 0")
    out = {k: v.float().clone() for k, v in state.items()}
    convs = _chain(out)
    copies_of: torch.Tensor | None = None  # (new in-channels,) original channel of each input of the current layer
    for position, index in enumerate(convs):
        key = f"{PREFIX}{index}.weight"
        weight = out[key]  # (in, out, k, k)
        if copies_of is not None:
            weight = weight[copies_of] / factor  # (in · factor, out, k, k): each copy carries 1/factor
        if position == len(convs) - 1:  # the output layer keeps its channels
            out[key] = weight.contiguous()
            break
        width = weight.shape[1]
        copies_of = torch.arange(width * factor) % width  # (out · factor,)
        weight = weight[:, copies_of].clone()  # (in', out · factor, k, k)
        jitter = 1 + noise * torch.randn(weight[:, width:].shape, generator=generator)
        weight[:, width:] *= jitter  # the copies drift apart from their originals once trained
        out[key] = weight.contiguous()
        norm = f"{PREFIX}{index + 1}."
        for name in ("weight", "bias", "running_mean", "running_var"):
            out[norm + name] = out[norm + name][copies_of].contiguous()  # (out · factor,)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", help="a shipped model name, a run folder, a step_*.json or a .safetensors file")
    parser.add_argument("out", type=Path, help="the widened generator (.safetensors)")
    parser.add_argument("--factor", type=int, default=2)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--manifest", type=Path, default=None)
    args = parser.parse_args(argv)
    from app.contracts import DEFAULT_MANIFEST
    from training.warm_start import read_source

    state, origin = read_source(args.source, args.manifest or DEFAULT_MANIFEST)
    if origin.family not in ("mocogan", "unknown"):
        raise SystemExit(f"{args.source} is a {origin.family} generator, not a MoCoGAN")
    wide = widen(state, args.factor, args.noise, torch.Generator().manual_seed(args.seed))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(wide, str(args.out), metadata={"family": "mocogan", "trained_steps": str(origin.trained_steps),
                                             "widened_from": origin.source, "factor": str(args.factor)})
    sys.stdout.write(f"wrote {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
