"""The predict protocol's realism and diversity figures: a classifier two-sample test between real clips and
(context + predicted) clips, and sample diversity over the horizon, on a stand-in pipeline (no training)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from evaluation.predict import evaluate_model
from models.core.family import PredictStart, StepOutput


class FrozenFuture:
    """A predict 'model' that repeats the last context frame for every sample (no motion, no diversity)."""

    def start(self, inputs: PredictStart, rng: torch.Generator) -> torch.Tensor:
        return inputs.context[0, -1:].expand(inputs.num_samples, -1, -1, -1)  # (B, 3, H, W)

    def step(self, state: torch.Tensor, condition: torch.Tensor | None, rng: torch.Generator
             ) -> tuple[StepOutput, torch.Tensor]:
        return StepOutput(state[:, None]), state  # (B, 1, 3, H, W)


def _moving_squares(count: int, frames: int = 8, size: int = 16) -> list[tuple[str, np.ndarray]]:
    """Clips of a bright square moving 2 px per frame on a dark ground: (T, H, W, 3) uint8."""
    rng = np.random.default_rng(0)
    clips = []
    for i in range(count):
        clip = np.full((frames, size, size, 3), 20, np.uint8)
        y, x = rng.integers(0, size - 4, 2)
        for t in range(frames):
            cx = (x + 2 * t) % (size - 4)
            clip[t, y:y + 4, cx:cx + 4] = 230
        clips.append((f"clip{i}", clip))
    return clips


def _card(size: int = 16) -> SimpleNamespace:
    return SimpleNamespace(preset="stand-in", inputs=SimpleNamespace(context_frames=SimpleNamespace(max=2)),
                           output=SimpleNamespace(height=size, width=size))


def test_frozen_futures_are_told_from_real_motion_and_have_no_diversity() -> None:
    config = SimpleNamespace(samples=2, horizon=6, seed=0, device="cpu", two_sample_steps=80)
    result, _ = evaluate_model(_card(), FrozenFuture(), _moving_squares(24), config)
    realism = result["two_sample"]
    assert realism["runs"] == 3 and realism["real"] == "context + true future"
    assert realism["accuracy"] > 0.8  # a still square is easy to tell from a moving one
    assert result["summary"]["two_sample_accuracy"] == realism["accuracy"]
    assert result["summary"]["diversity_mean"] == 0.0 and result["summary"]["diversity_last"] == 0.0


def test_too_few_clips_skip_the_two_sample_test() -> None:
    config = SimpleNamespace(samples=2, horizon=3, seed=0, device="cpu")
    result, _ = evaluate_model(_card(), FrozenFuture(), _moving_squares(3), config)
    assert "skipped" in result["two_sample"] and np.isnan(result["summary"]["two_sample_accuracy"])
