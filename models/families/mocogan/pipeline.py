"""MoCoGAN serving: a `generate` pipeline that streams one frame per step for any number of frames (reference §3.5).

Per sample b the stream holds a content code z_C (from its content seed), a category z_A (the requested class, else
drawn), the GRU hidden state h_t and its motion seed. The motion noise is a pure function of (motion seed, t):
h_0 comes from seed stream (motion_seed, 0) and ε_t from (motion_seed, t), so the state is just tensors and a
resumed stream continues exactly. A job's truncation ψ scales z_C, h_0 and every ε_t (kept in the state). A fixed
`content` seed gives the same person in every sample and every job; a fixed `motion` seed the same motion; seeds not
given are drawn per sample from the job's generator.
`describe(state)` reports every sample's seeds and class, so "same person, another action" is one re-run away.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from models.core.checkpoints import build_with_weights
from models.core.family import GenerateStart, InputError, StepOutput, WeightsRef
from models.core.generate_seeds import check_truncation, draw_seeds, fixed_or_drawn, refuse_unknown_seeds
from models.families.mocogan.config import MoCoGANConfig
from models.families.mocogan.networks import MoCoGANGenerator

SEED_NAMES = ("content", "motion")
_STREAM = 2**20
"""Motion noise of step t of seed s is drawn from a generator seeded with s * _STREAM + t (t < _STREAM)."""


@dataclass(frozen=True)
class MoCoGANState:
    content: torch.Tensor  # (B, d_C) z_C
    category: torch.Tensor  # (B, K) one-hot z_A; (B, 0) without categories
    hidden: torch.Tensor  # (B, d_M) h_t
    content_seeds: torch.Tensor  # (B,) int64
    motion_seeds: torch.Tensor  # (B,) int64
    class_ids: torch.Tensor  # (B,) int64; -1 without categories
    step: torch.Tensor  # () int64: frames made so far
    truncation: torch.Tensor  # () float64: ψ, the scale of every latent drawn


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def motion_noise(seed: int, t: int, size: int) -> torch.Tensor:
    """ε_t of motion seed `seed` (t >= 1; t = 0 is h_0's stream): (size,) on the CPU."""
    if not 0 <= t < _STREAM:
        raise InputError(f"MoCoGAN streams at most {_STREAM - 1} frames")
    return torch.randn(size, generator=_seeded(int(seed) * _STREAM + t))  # (size,)


class MoCoGANPipeline:
    """A loaded MoCoGAN generator (eval mode) as a `generate` stream."""

    def __init__(self, generator: MoCoGANGenerator) -> None:
        self.generator = generator
        self.config: MoCoGANConfig = generator.config
        self.device = next(generator.parameters()).device

    def start(self, inputs: GenerateStart, rng: torch.Generator) -> MoCoGANState:
        c, n = self.config, inputs.num_samples
        refuse_unknown_seeds("MoCoGAN", inputs.seeds, SEED_NAMES)
        psi = check_truncation(inputs.truncation)
        drawn = draw_seeds(rng, 2, n)  # (2, B): content, motion
        drawn_classes = torch.randint(0, max(c.num_categories, 1), (n,), generator=rng)  # (B,)
        content_seeds = fixed_or_drawn(inputs.seeds.get("content"), drawn[0])
        motion_seeds = fixed_or_drawn(inputs.seeds.get("motion"), drawn[1])
        if c.num_categories == 0:
            if inputs.class_id is not None:
                raise InputError("this MoCoGAN model has no classes")
            class_ids = torch.full((n,), -1, dtype=torch.int64)
            category = torch.zeros(n, 0)
        else:
            if inputs.class_id is not None and not 0 <= inputs.class_id < c.num_categories:
                raise InputError(f"class {inputs.class_id} is not in 0..{c.num_categories - 1}")
            class_ids = drawn_classes if inputs.class_id is None else torch.full((n,), inputs.class_id)
            category = self.generator.one_hot_category(class_ids)  # (B, K)
        content = torch.stack([torch.randn(c.content_dim, generator=_seeded(s)) for s in content_seeds.tolist()])
        hidden = torch.stack([motion_noise(s, 0, c.motion_dim) for s in motion_seeds.tolist()])  # (B, d_M)
        content, hidden = (psi * content).to(self.device), (psi * hidden).to(self.device)
        return MoCoGANState(content, category.to(self.device), hidden,
                            content_seeds, motion_seeds, class_ids.long(), torch.tensor(0),
                            torch.tensor(psi, dtype=torch.float64))

    def step(self, state: MoCoGANState, condition: torch.Tensor | None, rng: torch.Generator
             ) -> tuple[StepOutput, MoCoGANState]:
        t = int(state.step) + 1
        noise = torch.stack([motion_noise(s, t, self.config.motion_noise_dim)
                             for s in state.motion_seeds.tolist()]).to(self.device)  # (B, d_ε)
        noise = float(state.truncation) * noise  # (B, d_ε)
        hidden = self.generator.motion_step(noise, state.hidden, state.category)  # (B, d_M)
        frame = self.generator.render_frame(state.content, state.category, hidden)  # (B, 3, H, W)
        new = MoCoGANState(state.content, state.category, hidden, state.content_seeds, state.motion_seeds,
                           state.class_ids, torch.tensor(t), state.truncation)
        return StepOutput(frame.unsqueeze(1).float()), new  # frames (B, 1, 3, H, W)

    def state_to_tensors(self, state: MoCoGANState) -> dict[str, torch.Tensor]:
        return {"content": state.content, "category": state.category, "hidden": state.hidden,
                "content_seeds": state.content_seeds, "motion_seeds": state.motion_seeds,
                "class_ids": state.class_ids, "step": state.step, "truncation": state.truncation}

    def state_from_tensors(self, tensors: dict[str, torch.Tensor]) -> MoCoGANState:
        def on_device(name: str) -> torch.Tensor:
            return tensors[name].to(self.device)

        def on_cpu(name: str) -> torch.Tensor:
            return tensors[name].cpu()

        psi = tensors.get("truncation", torch.tensor(1.0, dtype=torch.float64)).cpu()  # states saved before ψ: 1
        return MoCoGANState(on_device("content"), on_device("category"), on_device("hidden"),
                            on_cpu("content_seeds"), on_cpu("motion_seeds"), on_cpu("class_ids"), on_cpu("step"), psi)

    def describe(self, state: MoCoGANState) -> dict[str, Any]:
        """Each sample's seeds and class id (-1: the model has no classes)."""
        samples = [{"content_seed": int(cs), "motion_seed": int(ms), "class_id": int(k)}
                   for cs, ms, k in zip(state.content_seeds.tolist(), state.motion_seeds.tolist(),
                                        state.class_ids.tolist(), strict=True)]
        return {"samples": samples}


def load(config: MoCoGANConfig, weights: Mapping[str, WeightsRef], device: torch.device) -> MoCoGANPipeline:
    """The serving pipeline: the generator with its (sha256-checked) weights on `device`, BN in inference mode."""
    return MoCoGANPipeline(build_with_weights(MoCoGANGenerator, config, weights.get("generator", WeightsRef()),
                                              device))
