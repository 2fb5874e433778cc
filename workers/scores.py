"""Scores of a predict job's samples against the true future the client sent: per-frame PSNR and SSIM per sample,
their means, and the best sample (highest mean SSIM), as in the papers' best-of-N protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from models.core.image_metrics import psnr, ssim
from workers.video_io import read_png_rgb


def score_samples(frame_paths: list[list[Path]], truth: list[np.ndarray]) -> dict[str, Any]:
    """frame_paths[s][t]: sample s's predicted frame t; truth[t]: (H, W, 3) uint8 at the same size."""
    frames = min(len(truth), min(len(paths) for paths in frame_paths))
    samples = []
    for paths in frame_paths:
        pairs = [(read_png_rgb(paths[t]), truth[t]) for t in range(frames)]
        per_psnr = [round(min(psnr(a, b), 99.0), 3) for a, b in pairs]
        per_ssim = [round(ssim(a, b), 4) for a, b in pairs]
        samples.append({"psnr": per_psnr, "ssim": per_ssim, "mean_psnr": round(float(np.mean(per_psnr)), 3),
                        "mean_ssim": round(float(np.mean(per_ssim)), 4)})
    best = max(range(len(samples)), key=lambda s: samples[s]["mean_ssim"]) if frames else None
    return {"truth_frames_scored": frames, "samples": samples, "best_sample": best}
