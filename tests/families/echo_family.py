"""A minimal `predict` family, defined only in the tests: each sample repeats the last context frame, brightened a
little more every step by a per-sample random amount (so samples differ and the best one is well defined)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from models.core.family import Family, PredictStart, StepOutput, WeightsRef


@dataclass(frozen=True)
class EchoConfig:
    max_brightening: float = 0.2


class EchoNet(nn.Module):
    def __init__(self, config: EchoConfig) -> None:
        super().__init__()
        self.config = config
        self.gain = nn.Parameter(torch.ones(()))


@dataclass(frozen=True)
class EchoState:
    last: torch.Tensor  # (B, 3, H, W)
    rate: torch.Tensor  # (B,)


class EchoPipeline:
    def __init__(self, net: EchoNet) -> None:
        self.net = net

    def start(self, inputs: PredictStart, rng: torch.Generator) -> EchoState:
        b = inputs.num_samples
        rate = torch.rand(b, generator=rng) * self.net.config.max_brightening  # (B,)
        return EchoState(inputs.context[:, -1].expand(b, -1, -1, -1).clone(), rate)

    def step(self, state: EchoState, condition: torch.Tensor | None, rng: torch.Generator
             ) -> tuple[StepOutput, EchoState]:
        frame = (state.last * self.net.gain + state.rate.view(-1, 1, 1, 1).to(state.last)).clamp(-1, 1)
        return StepOutput(frame[:, None]), EchoState(frame, state.rate)

    def state_to_tensors(self, state: EchoState) -> dict[str, torch.Tensor]:
        return {"last": state.last, "rate": state.rate}

    def state_from_tensors(self, tensors: dict[str, torch.Tensor]) -> EchoState:
        return EchoState(tensors["last"], tensors["rate"].cpu())

    def describe(self, state: EchoState) -> dict[str, Any]:
        return {"rates": [round(float(r), 4) for r in state.rate]}


def load(config: EchoConfig, weights: Mapping[str, WeightsRef], device: torch.device) -> EchoPipeline:
    return EchoPipeline(EchoNet(config).to(device).eval())


FAMILY = Family(name="echo", kind="predict", config_type=EchoConfig, presets={"echo-tiny": EchoConfig()},
                build=EchoNet, load=load, size_multiple=lambda config: 1)

CARD = {
    "name": "echo",
    "family": "echo",
    "preset": "echo-tiny",
    "inputs": {"kind": "predict", "context_frames": {"min": 1, "max": 3}, "horizon": {"min": 1, "max": 8},
               "num_samples": {"min": 1, "max": 4}},
    "output": {"height": 24, "width": 32},
}
