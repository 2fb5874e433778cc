"""SVG-LP serving for the `predict` kind: context frames in, `num_samples` sampled futures out, one frame per step.

Owns the conversion between the service's frames ((1, T, 3, H, W) in [-1, 1], any size) and the model's
((B, C, S, S) in [0, 1], C = 1 for digits: the mean of RGB; the output grey repeated to RGB), and the stream of
reference §4.5: reset, encode the first context frame, observe the others (z from the posterior of each true context
frame, the learned prior stepped alongside), then per step draw z from the prior, predict, and feed the frame back.
Every sample of a job shares the context; each is one row of the batch, so BatchNorm runs in inference mode (the
model is loaded with `eval()`) and rows never influence each other.

All randomness comes from the job's `rng` (a CPU `torch.Generator`): noise is drawn on the CPU and moved to the
model's device, so a job's samples are the same on every device and resume exactly from `state_to_tensors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from models.core.checkpoints import load_weights
from models.core.family import InputError, PredictStart, StepOutput, WeightsRef
from models.core.frames import from_unit_frames, to_unit_frames
from models.families.svg_lp.config import SvgLpConfig
from models.families.svg_lp.networks import SvgLp, SvgLpState

BUILD_SEED = 0
"""Untrained weights (a card without a weights file) are drawn from this seed."""


class SvgLpPipeline:
    """A loaded SVG model (eval mode) streaming sampled futures."""

    def __init__(self, model: SvgLp, device: torch.device) -> None:
        self.model, self.device = model, device
        self.config: SvgLpConfig = model.config

    def start(self, inputs: PredictStart, rng: torch.Generator) -> SvgLpState:
        """Observe the context (shared by every sample) once per sample row; no frame is emitted."""
        if inputs.num_samples < 1 or inputs.context.shape[1] < 1:
            raise InputError("a predict job needs at least one context frame and one sample")
        cfg = self.config
        context = to_unit_frames(inputs.context[0].to(self.device), cfg.image_channels, cfg.image_size)  # (T,C,S,S)
        b = inputs.num_samples
        frames = context.unsqueeze(0).expand(b, -1, -1, -1, -1)  # (B, T, C, S, S)
        state = self.model.start(frames[:, 0])
        for t in range(1, frames.shape[1]):
            state = self.model.observe(frames[:, t], state, rng)
        return state

    def step(self, state: SvgLpState, condition: torch.Tensor | None, rng: torch.Generator
             ) -> tuple[StepOutput, SvgLpState]:
        frame, state = self.model.predict(state, rng)  # (B, C, S, S) in [0, 1]
        return StepOutput(from_unit_frames(frame)[:, None]), state  # (B, 1, 3, S, S)

    def state_to_tensors(self, state: SvgLpState) -> dict[str, torch.Tensor]:
        return state.to_tensors()

    def state_from_tensors(self, tensors: dict[str, torch.Tensor]) -> SvgLpState:
        return SvgLpState.from_tensors({k: v.to(self.device) for k, v in tensors.items()})

    def describe(self, state: SvgLpState) -> dict[str, Any]:
        """What the job's samples drew from: the latent model (a deterministic model's samples are all alike)."""
        return {"latent": {"variant": self.config.variant, "latent_dim": self.config.latent_dim}}


def load(config: SvgLpConfig, weights: Mapping[str, WeightsRef], device: torch.device) -> SvgLpPipeline:
    """The serving pipeline: `weights["generator"]` (sha256 checked) or untrained weights from `BUILD_SEED`."""
    torch.manual_seed(BUILD_SEED)
    model = SvgLp(config)
    ref = weights.get("generator")
    if ref is not None and ref.path is not None:
        load_weights(model, ref.path, ref.sha256)
    return SvgLpPipeline(model.to(device).eval(), device)
