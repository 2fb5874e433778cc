"""TGAN serving: a `generate` pipeline that streams one frame per step of a fixed-length clip (reference §2.1, §2.6).

TGAN's temporal generator G0 maps a clip code z0 ~ U(-1, 1) to all T per-frame codes z1^1..T at once, so a clip
has exactly the trained length T (a job may take its first n <= T frames; the card offers T). Per sample b the
stream holds z0 (drawn from the sample's `video` seed), the T frame codes and that seed; step t renders frame t
with the image generator G1 (BN in inference mode: each sample independent of the batch). The state is a few
small tensors, so a resumed stream continues exactly. A fixed `video` seed makes the same clip in every sample and
every job; seeds not given are drawn per sample from the job's generator; a job's truncation ψ scales z0. The
model is unconditional: a job that asks for a class is refused. Grey (1-channel) models serve RGB frames (the grey
value on all three channels).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from models.core.checkpoints import build_with_weights
from models.core.family import GenerateStart, InputError, StepOutput, WeightsRef
from models.core.generate_seeds import check_truncation, draw_seeds, fixed_or_drawn, refuse_unknown_seeds
from models.families.tgan.config import TGANConfig
from models.families.tgan.networks import TGANGenerator

SEED_NAMES = ("video",)


@dataclass(frozen=True)
class TGANState:
    clip_code: torch.Tensor  # (B, d0) z0
    frame_codes: torch.Tensor  # (B, T, d1) z1^1..T
    video_seeds: torch.Tensor  # (B,) int64
    step: torch.Tensor  # () int64: frames made so far


def clip_code_of(seed: int, size: int) -> torch.Tensor:
    """z0 ~ U(-1, 1) of video seed `seed`: (size,) on the CPU (the same draw as `TGANGenerator.sample_latents`)."""
    return torch.rand(size, generator=torch.Generator().manual_seed(int(seed))) * 2 - 1  # (d0,)


class TGANPipeline:
    """A loaded TGAN generator (eval mode) as a `generate` stream of its trained clip length."""

    def __init__(self, generator: TGANGenerator) -> None:
        self.generator = generator
        self.config: TGANConfig = generator.config
        self.device = next(generator.parameters()).device

    def start(self, inputs: GenerateStart, rng: torch.Generator) -> TGANState:
        c, n = self.config, inputs.num_samples
        refuse_unknown_seeds("TGAN", inputs.seeds, SEED_NAMES)
        psi = check_truncation(inputs.truncation)
        if inputs.class_id is not None:
            raise InputError("TGAN is unconditional: it takes no class")
        if not 1 <= inputs.num_frames <= c.num_frames:
            raise InputError(f"TGAN makes clips of {c.num_frames} frames, not {inputs.num_frames}")
        seeds = fixed_or_drawn(inputs.seeds.get("video"), draw_seeds(rng, n))  # (B,)
        clip_code = psi * torch.stack([clip_code_of(s, c.latent_dim) for s in seeds.tolist()])  # (B, d0)
        clip_code = clip_code.to(self.device)
        with torch.no_grad():
            frame_codes = self.generator.temporal_codes(clip_code)  # (B, T, d1)
        return TGANState(clip_code, frame_codes, seeds, torch.tensor(0))

    def step(self, state: TGANState, condition: torch.Tensor | None, rng: torch.Generator
             ) -> tuple[StepOutput, TGANState]:
        t = int(state.step)
        if t >= self.config.num_frames:
            raise InputError(f"TGAN makes clips of {self.config.num_frames} frames")
        with torch.no_grad():
            frame = self.generator.render_frame(state.clip_code, state.frame_codes[:, t])  # (B, C, H, W)
        if frame.shape[1] == 1:
            frame = frame.expand(-1, 3, -1, -1)  # (B, 3, H, W)
        new = TGANState(state.clip_code, state.frame_codes, state.video_seeds, torch.tensor(t + 1))
        return StepOutput(frame.unsqueeze(1).float()), new  # frames (B, 1, 3, H, W)

    def state_to_tensors(self, state: TGANState) -> dict[str, torch.Tensor]:
        return {"clip_code": state.clip_code, "frame_codes": state.frame_codes, "video_seeds": state.video_seeds,
                "step": state.step}

    def state_from_tensors(self, tensors: dict[str, torch.Tensor]) -> TGANState:
        return TGANState(tensors["clip_code"].to(self.device), tensors["frame_codes"].to(self.device),
                         tensors["video_seeds"].cpu(), tensors["step"].cpu())

    def describe(self, state: TGANState) -> dict[str, Any]:
        """Each sample's video seed (re-run with seeds {"video": s} to make that clip again)."""
        return {"samples": [{"video_seed": int(s)} for s in state.video_seeds.tolist()]}


def load(config: TGANConfig, weights: Mapping[str, WeightsRef], device: torch.device) -> TGANPipeline:
    """The serving pipeline: the generator with its (sha256-checked) weights on `device`, BN in inference mode."""
    return TGANPipeline(build_with_weights(TGANGenerator, config, weights.get("generator", WeightsRef()), device))
