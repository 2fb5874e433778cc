"""VGAN serving: a `generate` pipeline that makes each clip at once from one code z and streams its frames one per
step (reference §1.6).

Per sample b the stream holds only its seed and the step index: z_b is a pure function of the seed
(N(0, I) from a generator seeded with it), so the state is a few small tensors and a resumed stream recomputes
exactly the same clip. The clip is computed on the first step (and again after a resume) and cached for the rest.
VGAN has a fixed clip length, the trained T: a job gets up to T frames (its card offers exactly T), never more; it
is unconditional (asking for a class is an input error). A fixed `z` seed makes every sample that clip; seeds not
given are drawn per sample from the job's generator; a job's truncation ψ scales z (kept in the state).
`describe(state)` reports each sample's seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from models.core.checkpoints import build_with_weights
from models.core.family import GenerateStart, InputError, StepOutput, WeightsRef
from models.core.generate_seeds import check_truncation, draw_seeds, fixed_or_drawn, refuse_unknown_seeds
from models.families.vgan.config import VGANConfig
from models.families.vgan.networks import VGANGenerator, VGANLatents

SEED_NAMES = ("z",)


@dataclass(frozen=True)
class VGANState:
    seeds: torch.Tensor  # (B,) int64: z_b ~ N(0, I) from seed b
    step: torch.Tensor  # () int64: frames made so far
    truncation: torch.Tensor  # () float64: ψ, the scale of every z


def code_of(seed: int, latent_dim: int) -> torch.Tensor:
    """z of one seed: (latent_dim,) on the CPU."""
    return torch.randn(latent_dim, generator=torch.Generator().manual_seed(int(seed)))  # (d,)


class VGANPipeline:
    """A loaded VGAN generator (eval mode: BN running statistics) as a `generate` stream."""

    def __init__(self, generator: VGANGenerator) -> None:
        self.generator = generator
        self.config: VGANConfig = generator.config
        self.device = next(generator.parameters()).device
        self._cache: tuple[torch.Tensor, float, torch.Tensor] | None = None  # seeds (B,), ψ, clips (B, T, 3, H, W)

    def start(self, inputs: GenerateStart, rng: torch.Generator) -> VGANState:
        t = self.config.num_frames
        if inputs.class_id is not None:
            raise InputError("VGAN is unconditional: it takes no class")
        refuse_unknown_seeds("VGAN", inputs.seeds, SEED_NAMES)
        if not 1 <= inputs.num_frames <= t:
            raise InputError(f"this VGAN model makes clips of {t} frames, not {inputs.num_frames}")
        if inputs.num_samples < 1:
            raise InputError("num_samples must be at least 1")
        psi = check_truncation(inputs.truncation)
        seeds = fixed_or_drawn(inputs.seeds.get("z"), draw_seeds(rng, inputs.num_samples))  # (B,)
        return VGANState(seeds, torch.tensor(0), torch.tensor(psi, dtype=torch.float64))

    def clips(self, seeds: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """The whole clip of every seed with z scaled by ψ: (B, T, 3, H, W) in [-1, 1] (cached for the last asked)."""
        if self._cache is not None and torch.equal(self._cache[0], seeds) and self._cache[1] == truncation:
            return self._cache[2]
        d = self.config.latent_dim
        code = truncation * torch.stack([code_of(s, d) for s in seeds.tolist()]).to(self.device)  # (B, d)
        video = self.generator(VGANLatents(code=code)).video  # (B, C, T, H, W)
        clips = video.transpose(1, 2).float()  # (B, T, C, H, W)
        self._cache = (seeds.clone(), truncation, clips)
        return clips

    def step(self, state: VGANState, condition: torch.Tensor | None, rng: torch.Generator
             ) -> tuple[StepOutput, VGANState]:
        t = int(state.step)
        if t >= self.config.num_frames:
            raise InputError(f"this VGAN model makes clips of {self.config.num_frames} frames")
        frame = self.clips(state.seeds, float(state.truncation))[:, t:t + 1]  # (B, 1, 3, H, W)
        return StepOutput(frame), VGANState(state.seeds, torch.tensor(t + 1), state.truncation)

    def state_to_tensors(self, state: VGANState) -> dict[str, torch.Tensor]:
        return {"seeds": state.seeds, "step": state.step, "truncation": state.truncation}

    def state_from_tensors(self, tensors: dict[str, torch.Tensor]) -> VGANState:
        psi = tensors.get("truncation", torch.tensor(1.0, dtype=torch.float64)).cpu()  # states saved before ψ: 1
        return VGANState(tensors["seeds"].cpu().long(), tensors["step"].cpu().long(), psi)

    def describe(self, state: VGANState) -> dict[str, Any]:
        """Each sample's z seed (re-run one with seeds {"z": seed})."""
        return {"samples": [{"z_seed": int(s)} for s in state.seeds.tolist()]}


def load(config: VGANConfig, weights: Mapping[str, WeightsRef], device: torch.device) -> VGANPipeline:
    """The serving pipeline: the generator with its (sha256-checked) weights on `device`, BN in inference mode."""
    return VGANPipeline(build_with_weights(VGANGenerator, config, weights.get("generator", WeightsRef()), device))
