"""SAVP serving for the `predict` kind (reference §5.7): context frames in, `num_samples` sampled futures out, one
frame per step.

Owns the conversion between the service's frames ((1, T, 3, H, W) in [-1, 1], any size) and the model's
((B, C, S, S) in [0, 1], RGB) and the stream: start the cell on the first context frame, observe the others (z_t from
the posterior on each pair of true context frames; the GAN-only variant has no posterior and draws z from the prior,
the deterministic one has no z), then per step draw z_t ~ N(0, I) per sample, predict, and feed the prediction back.
Every sample shares the context; each is one row of the batch (instance norm only: rows never influence each other).

All randomness comes from the job's `rng` (a CPU `torch.Generator`): noise is drawn on the CPU and moved to the
model's device, so a job's samples are the same on every device and resume exactly from `state_to_tensors` (the
ConvLSTM and latent-LSTM states, the first and the current frame) plus the rng state the worker saves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from models.core.checkpoints import load_weights
from models.core.family import InputError, PredictStart, StepOutput, WeightsRef
from models.core.frames import from_unit_frames, to_unit_frames
from models.families.savp.config import SavpConfig
from models.families.savp.networks import SavpGenerator, SavpState

BUILD_SEED = 0
"""Untrained weights (a card without a weights file) are drawn from this seed."""


class SavpPipeline:
    """A loaded SAVP generator (eval mode) streaming sampled futures."""

    def __init__(self, model: SavpGenerator, device: torch.device) -> None:
        self.model, self.device = model, device
        self.config: SavpConfig = model.config

    def start(self, inputs: PredictStart, rng: torch.Generator) -> SavpState:
        """Observe the context (shared by every sample) once per sample row; no frame is emitted."""
        if inputs.num_samples < 1 or inputs.context.shape[1] < 1:
            raise InputError("a predict job needs at least one context frame and one sample")
        context = to_unit_frames(inputs.context[0].to(self.device), self.config.image_channels,
                                 self.config.image_size)  # (T, C, S, S)
        frames = context.unsqueeze(0).expand(inputs.num_samples, -1, -1, -1, -1)  # (B, T, C, S, S)
        state = self.model.start(frames[:, 0])
        for t in range(1, frames.shape[1]):
            state = self.model.observe(frames[:, t], state, rng)
        return state

    def step(self, state: SavpState, condition: torch.Tensor | None, rng: torch.Generator
             ) -> tuple[StepOutput, SavpState]:
        frame, state = self.model.predict(state, rng)  # (B, C, S, S) in [0, 1]
        return StepOutput(from_unit_frames(frame)[:, None]), state  # (B, 1, 3, S, S)

    def state_to_tensors(self, state: SavpState) -> dict[str, torch.Tensor]:
        return state.to_tensors()

    def state_from_tensors(self, tensors: dict[str, torch.Tensor]) -> SavpState:
        return SavpState.from_tensors({k: v.to(self.device) for k, v in tensors.items()})

    def describe(self, state: SavpState) -> dict[str, Any]:
        """What the samples drew from: the variant and z size (a deterministic model's samples are all alike)."""
        return {"latent": {"variant": self.config.variant, "latent_dim": self.config.latent_dim,
                           "context_z": "posterior" if self.config.uses_posterior else "prior", "future_z": "prior"}}


def load(config: SavpConfig, weights: Mapping[str, WeightsRef], device: torch.device) -> SavpPipeline:
    """The serving pipeline: `weights["generator"]` (sha256 checked) or untrained weights from `BUILD_SEED`."""
    torch.manual_seed(BUILD_SEED)
    model = SavpGenerator(config)
    ref = weights.get("generator")
    if ref is not None and ref.path is not None:
        load_weights(model, ref.path, ref.sha256)
    return SavpPipeline(model.to(device).eval(), device)
