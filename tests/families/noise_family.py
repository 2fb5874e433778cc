"""A minimal third family, defined only in the tests: kind `generate`, no upload.

A content code per sample and a recurrent motion state drive a tiny decoder; each step emits two frames (so the loop's
multi-frame steps are exercised) and draws fresh motion noise from the job's generator (so resuming must restore the
RNG exactly). Nothing outside this file knows it: the worker loads it through `V2V_FAMILY_MODULES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from models.core.checkpoints import build_with_weights
from models.core.family import Family, GenerateStart, StepOutput, WeightsRef


@dataclass(frozen=True)
class NoiseConfig:
    latent: int = 8
    channels: int = 8
    frames_per_step: int = 2

    @property
    def size_multiple(self) -> int:
        return 8


class NoiseGenerator(nn.Module):
    def __init__(self, config: NoiseConfig) -> None:
        super().__init__()
        self.config = config
        self.motion = nn.GRUCell(config.latent, config.latent)
        self.decode = nn.Sequential(nn.Linear(2 * config.latent, config.channels * 16), nn.Tanh())
        self.to_rgb = nn.Conv2d(config.channels, 3, 3, padding=1)

    def frame(self, content: torch.Tensor, motion: torch.Tensor, height: int, width: int) -> torch.Tensor:
        x = self.decode(torch.cat([content, motion], dim=1)).view(-1, self.config.channels, 4, 4)  # (B, C, 4, 4)
        x = nn.functional.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)  # (B, C, H, W)
        return torch.tanh(3 * self.to_rgb(x))  # (B, 3, H, W)


@dataclass(frozen=True)
class NoiseState:
    content: torch.Tensor  # (B, latent)
    motion: torch.Tensor  # (B, latent)
    size: torch.Tensor  # (2,) height, width


class NoisePipeline:
    def __init__(self, generator: NoiseGenerator) -> None:
        self.generator = generator

    def start(self, inputs: GenerateStart, rng: torch.Generator) -> NoiseState:
        latent = self.generator.config.latent
        device = next(self.generator.parameters()).device
        content = torch.randn(inputs.num_samples, latent, generator=rng).to(device)  # (B, latent)
        return NoiseState(content, torch.zeros_like(content), torch.tensor([inputs.height, inputs.width]))

    def step(self, state: NoiseState, condition: torch.Tensor | None, rng: torch.Generator
             ) -> tuple[StepOutput, NoiseState]:
        frames, motion = [], state.motion
        height, width = (int(v) for v in state.size)
        for _ in range(self.generator.config.frames_per_step):
            noise = torch.randn(motion.shape, generator=rng).to(motion.device)  # (B, latent)
            motion = self.generator.motion(noise, motion)
            frames.append(self.generator.frame(state.content, motion, height, width))
        return StepOutput(torch.stack(frames, dim=1)), NoiseState(state.content, motion, state.size)

    def state_to_tensors(self, state: NoiseState) -> dict[str, torch.Tensor]:
        return {"content": state.content, "motion": state.motion, "size": state.size}

    def state_from_tensors(self, tensors: dict[str, torch.Tensor]) -> NoiseState:
        return NoiseState(tensors["content"], tensors["motion"], tensors["size"].cpu())


def load(config: NoiseConfig, weights: Mapping[str, WeightsRef], device: torch.device) -> NoisePipeline:
    return NoisePipeline(build_with_weights(NoiseGenerator, config, weights.get("generator", WeightsRef()), device))


FAMILY = Family(name="noise", kind="generate", config_type=NoiseConfig, presets={"noise-tiny": NoiseConfig()},
                build=NoiseGenerator, load=load, size_multiple=lambda config: config.size_multiple)

CARD = {
    "name": "noise",
    "family": "noise",
    "preset": "noise-tiny",
    "description": "test family: noise videos",
    "inputs": {"kind": "generate", "num_frames": {"min": 1, "max": 24, "default": 6},
               "num_samples": {"min": 1, "max": 4}},
    "output": {"height": 32, "width": 40, "size_multiple": 8, "fps": 10},
}
