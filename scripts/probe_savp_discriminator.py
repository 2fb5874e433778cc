"""Diagnostic: can SAVP's video discriminator, trained alone, tell real clips from obvious fakes?

A SAVP run whose discriminator losses sit at 0.1 · 0.5 (D = 0.5 on real and generated clips alike) gets no signal from
its GAN terms. This trains one `VideoDiscriminator` of a preset (LSGAN, Adam (0.5, 0.999), as in training) on real
clips against a fixed corruption of the same clips, and prints the loss, the mean logits, and at the end how far the
real and fake features differ at each layer (their RMS difference against the RMS of the real features).

    python -m scripts.probe_savp_discriminator --data data/actions32 --fake frozen --steps 300

Fakes: "frozen" repeats each clip's first frame (no motion), "noise" adds Gaussian noise of σ 0.1, "blur" a 3×3 box
blur. Options `--no-spectral-norm` and `--torch-init` (torch's default init instead of the truncated N(0, 0.02²))
separate the causes; `--motion-scale 10` gives the discriminator the scaled frame differences as extra channels.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from models.families.savp.config import PRESETS
from models.families.savp.discriminator import VideoDiscriminator
from models.families.savp.losses import lsgan_discriminator_loss
from models.families.savp.recipe import SequenceClips


def corrupt(real: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """real (B, L, C, S, S) in [0, 1] → the same shape, corrupted."""
    if kind == "frozen":
        return real[:, :1].expand_as(real).clone()
    if kind == "noise":
        return (real + 0.1 * torch.randn(real.shape, generator=generator)).clamp(0, 1)
    if kind == "blur":
        return F.avg_pool2d(real.flatten(0, 1), 3, 1, 1).view_as(real)
    raise ValueError(f"unknown fake kind {kind!r}")


def build(preset: str, ndf: int | None, motion_scale: float, spectral_norm: bool, torch_init: bool
          ) -> VideoDiscriminator:
    config = dataclasses.replace(PRESETS[preset], discriminator_motion_scale=motion_scale)
    if ndf is not None:
        config = dataclasses.replace(config, discriminator_ndf=ndf)
    disc = VideoDiscriminator(config)
    for module in disc.modules():
        if not isinstance(module, nn.Conv3d | nn.Linear):
            continue
        if not spectral_norm:
            parametrize.remove_parametrizations(module, "weight")
        if torch_init:  # under spectral norm the trained weight is `parametrizations.weight.original`
            weight = module.parametrizations.weight.original if parametrize.is_parametrized(module) else module.weight
            nn.init.kaiming_uniform_(weight, a=5**0.5)
    return disc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data/actions32")
    parser.add_argument("--preset", default="savp-small")
    parser.add_argument("--ndf", type=int, default=None)
    parser.add_argument("--fake", choices=("frozen", "noise", "blur"), default="frozen")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--motion-scale", type=float, default=0.0, help="SavpConfig.discriminator_motion_scale")
    parser.add_argument("--no-spectral-norm", action="store_true")
    parser.add_argument("--torch-init", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    config = PRESETS[args.preset]
    clips = SequenceClips(args.data, "train", config.image_size, config.discriminator_clip_frames, 0,
                          config.image_channels)
    disc = build(args.preset, args.ndf, args.motion_scale, not args.no_spectral_norm, args.torch_init)
    optimiser = torch.optim.Adam(disc.parameters(), lr=args.lr, betas=(0.5, 0.999))
    generator = torch.Generator().manual_seed(0)
    for step in range(1, args.steps + 1):
        real = torch.stack([clips[step * args.batch + i] for i in range(args.batch)])  # (B, L, C, S, S)
        fake = corrupt(real, args.fake, generator)
        judged_real, judged_fake = disc(real.transpose(1, 2)), disc(fake.transpose(1, 2))
        loss = lsgan_discriminator_loss(judged_real, judged_fake)  # unweighted (training weighs it by 0.1)
        real_logits, fake_logits = judged_real.logits, judged_fake.logits  # (B,)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % 50 == 0 or step == args.steps:
            sys.stdout.write(f"step {step}: loss {loss.item():.4f} (0.5 = chance), "
                             f"D(real) {real_logits.mean().item():.3f}, D(fake) {fake_logits.mean().item():.3f}\n")
            sys.stdout.flush()
    with torch.no_grad():
        for i, (r, f) in enumerate(zip(disc(real.transpose(1, 2)).features, disc(fake.transpose(1, 2)).features,
                                       strict=True)):
            rms, diff = r.pow(2).mean().sqrt().item(), (r - f).pow(2).mean().sqrt().item()
            sys.stdout.write(f"layer {i}: real RMS {rms:.5f}, real - fake RMS {diff:.6f} "
                             f"({diff / max(rms, 1e-12):.4f} of it)\n")


if __name__ == "__main__":
    main()
