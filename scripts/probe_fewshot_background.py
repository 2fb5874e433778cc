"""Diagnostic: where a served few-shot model loses PSNR, background or figure, at K = 1.

For held-out sequences (one per look), the reference is one frame after the clip. Pixels where the reference and
the truth agree within 2 grey levels are the static background both show; the rest is the figure and what it covers
or uncovers. Prints PSNR over the whole frame, the background and the rest for: the model's output, the reference
warped by the model's flow, the explicit blend of the two by the model's reference mask (`h·m + warped·(1 − m)`),
and an oracle that takes the truth on the background and the output elsewhere (what a perfect background would
add). Also the mean of the reference mask. (For a model with `blend_reference` the output already includes its own
learned blend with the warped reference.)

    python -m scripts.probe_fewshot_background --data data/people --model people
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from app.contracts import load_manifest
from evaluation.translate import frames_tensor, load_clip, load_sequences, spread_over_appearances
from models.core.checkpoints import load_generator
from workers.labels_input import codec_for


def psnr(a: torch.Tensor, b: torch.Tensor, where: torch.Tensor) -> float:
    """PSNR (images in [0, 1], (1, 3, H, W)) over the pixels where `where` (1, 1, H, W) is 1."""
    mse = (((a - b) ** 2) * where).sum() / (3 * where.sum().clamp(min=1))
    return float(10 * torch.log10(1 / mse.clamp(min=1e-10)))


def to_unit(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(-1, 1) + 1) / 2


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", default="people")
    parser.add_argument("--manifest", type=Path, default=Path("checkpoints/manifest.json"))
    parser.add_argument("--sequences", type=int, default=4)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--reference-offset", type=int, default=8, help="reference = frame frames + offset")
    args = parser.parse_args(argv)

    card = load_manifest(args.manifest).models[args.model]
    gen = load_generator(card.preset, dict(card.config), args.manifest.parent / card.weights.file, card.weights.sha256,
                         "cpu")
    codec = codec_for(card.inputs.labels)
    h, w = card.output.height, card.output.width
    _, seqs = load_sequences(args.data, "test")
    names = ("output", "warped reference", "explicit blend", "oracle background")
    rows = []  # per frame: [whole, background, rest] per name, then mask mean and background share
    with torch.no_grad():
        for seq in spread_over_appearances(seqs, args.sequences):
            clip = load_clip(seq, list(range(args.frames)), codec, h, w)
            ref = load_clip(seq, [args.frames + args.reference_offset], codec, h, w)
            reference = frames_tensor(ref)  # (1, 3, H, W) in [-1, 1]
            state = gen.start(references=reference[None], reference_labels=ref.labels[None])
            truth = frames_tensor(clip)  # (T, 3, H, W)
            for t in range(args.frames):
                out, state = gen.step(clip.labels[t : t + 1], state)
                y = to_unit(truth[t : t + 1])
                background = ((to_unit(reference) - y).abs().amax(1, keepdim=True) < 2 / 255).float()  # (1, 1, H, W)
                rest, everywhere = 1 - background, torch.ones_like(background)
                frame, warped, mask = to_unit(out.frame), to_unit(out.warped_ref), out.mask_ref
                images = (frame, warped, frame * mask + warped * (1 - mask), y * background + frame * rest)
                row = [psnr(x, y, m) for x in images for m in (everywhere, background, rest)]
                rows.append(row + [float(mask.mean()), float(background.mean())])
    mean = np.array(rows).mean(0)
    sys.stdout.write(f"{args.model}: {len(rows)} frames, background {mean[-1]:.1%} of the pixels, "
                     f"reference mask mean {mean[-2]:.3f}\n")
    sys.stdout.write(f"{'':<20} {'whole dB':>9} {'background':>11} {'rest':>7}\n")
    for i, name in enumerate(names):
        whole, bg, rest_db = mean[3 * i : 3 * i + 3]
        sys.stdout.write(f"{name:<20} {whole:>9.2f} {bg:>11.2f} {rest_db:>7.2f}\n")


if __name__ == "__main__":
    main()
