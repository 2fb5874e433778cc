"""Where a served SVG-LP model's softness comes from: per predicted frame, the sharpness (mean gradient magnitude over
the truth's, `evaluation.predict_metrics.gradient_magnitude`, summed over clips) of

- teacher-forced reconstructions through the posterior (z inferred from each true next frame, the training pass), and
- free-running samples from the learned prior (what a job returns and `v2v eval` scores).

If the two are alike, the decoder draws that soft whatever z carries; if the reconstructions are much sharper, the
prior's samples lose it.

    python -m scripts.probe_svg_sharpness --model digits-future --data data/digits32 [--clips 64] [--horizon 20]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from app.contracts import load_manifest
from corpora.clip_folder import ClipFolderDataset
from evaluation.predict_metrics import gradient_magnitude


def sharpness(predicted: torch.Tensor, truth: torch.Tensor) -> float:
    """Summed gradient magnitude of predicted frames (N, C, H, W) over that of the true ones."""
    return float(gradient_magnitude(predicted).sum() / gradient_magnitude(truth).sum())


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="digits-future")
    parser.add_argument("--manifest", type=Path, default=Path("checkpoints/manifest.json"))
    parser.add_argument("--data", type=Path, default=Path("data/digits32"))
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--horizon", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from workers.runner import make_runner

    card = load_manifest(args.manifest).models[args.model]
    runner = make_runner(card, torch.device("cpu"), args.manifest.parent)
    runner.setup()
    model = runner.pipeline.model.eval()
    n_past, n_train = model.config.context_frames, model.config.sequence_frames
    data = ClipFolderDataset(args.data, "test")
    clips = torch.stack([data[i]["frames"][:n_past + args.horizon] for i in range(min(args.clips, len(data)))])
    clips = clips.mean(2, keepdim=True) if model.config.image_channels == 1 else clips  # (N, T, C, S, S) in [0, 1]
    rng = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        taught = model(clips[:, :n_train], rng).reconstructions  # frames 1..n_train-1, (N, n_train-1, C, S, S)
        posterior = [sharpness(taught[:, t - 1], clips[:, t]) for t in range(n_past, n_train)]
        state = model.start(clips[:, 0])
        for t in range(1, n_past):
            state = model.observe(clips[:, t], state, rng)
        prior = []
        for t in range(n_past, n_past + args.horizon):
            frame, state = model.predict(state, rng)
            prior.append(sharpness(frame, clips[:, t]))
    result = {"posterior_teacher_forced": [round(v, 3) for v in posterior],
              "prior_samples": [round(v, 3) for v in prior]}
    sys.stdout.write(f"{args.model}, {len(clips)} test clips, predicted frames from {n_past + 1}:\n")
    for name, values in result.items():
        sys.stdout.write(f"  {name}: {values}\n")
    return result


if __name__ == "__main__":
    main()
