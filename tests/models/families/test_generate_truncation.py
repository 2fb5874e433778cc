"""Truncation ψ of generate streams (MoCoGAN, TGAN, VGAN): every latent drawn from a seed scaled by ψ, ψ = 1 the
paper's sampling, exact resume with ψ, clear errors."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import torch

from models.core.family import GenerateStart, InputError
from models.families.mocogan import config as mocogan_config
from models.families.mocogan import pipeline as mocogan_pipeline
from models.families.tgan import config as tgan_config
from models.families.tgan import pipeline as tgan_pipeline
from models.families.vgan import config as vgan_config
from models.families.vgan import pipeline as vgan_pipeline

LOADERS: dict[str, Callable[[], Any]] = {
    "mocogan": lambda: mocogan_pipeline.load(dataclasses.replace(mocogan_config.PRESETS["mocogan-tiny"],
                                                                 num_categories=3), {}, torch.device("cpu")),
    "tgan": lambda: tgan_pipeline.load(tgan_config.PRESETS["tgan-tiny"], {}, torch.device("cpu")),
    "vgan": lambda: vgan_pipeline.load(vgan_config.PRESETS["vgan-tiny"], {}, torch.device("cpu")),
}
SIZE = 16
"""Every tiny preset's frame size."""


def frames_of(pipeline: Any, truncation: float, frames: int = 4, seed: int = 3, state: Any = None
              ) -> tuple[torch.Tensor, Any]:
    """`frames` frames of two samples (B, T, 3, H, W) and the state after them; from `state` when given."""
    rng = torch.Generator().manual_seed(seed)
    if state is None:
        state = pipeline.start(GenerateStart(2, frames, SIZE, SIZE, truncation=truncation), rng)
    out = []
    for _ in range(frames):
        step, state = pipeline.step(state, None, rng)
        out.append(step.frames)
    return torch.cat(out, dim=1), state


@pytest.fixture(scope="module", params=sorted(LOADERS))
def pipeline(request: pytest.FixtureRequest) -> Any:
    torch.manual_seed(0)
    return LOADERS[request.param]()


def test_psi_one_is_the_default_and_lower_psi_changes_the_clip(pipeline: Any) -> None:
    default, _ = frames_of(pipeline, 1.0)
    rng = torch.Generator().manual_seed(3)
    start = pipeline.start(GenerateStart(2, 4, SIZE, SIZE), rng)  # no truncation given
    first, _ = pipeline.step(start, None, rng)
    assert torch.equal(first.frames, default[:, :1])
    truncated, _ = frames_of(pipeline, 0.5)
    assert not torch.allclose(truncated, default)
    zero_like, _ = frames_of(pipeline, 1e-6)  # ψ → 0: every seed draws the mean latent, so samples agree
    spread = (default[0] - default[1]).abs().max()  # untrained frames may be tiny: compare with ψ = 1's spread
    assert spread > 0 and (zero_like[0] - zero_like[1]).abs().max() < 1e-3 * spread


def test_resume_through_the_state_tensors_keeps_psi(pipeline: Any) -> None:
    whole, _ = frames_of(pipeline, 0.6, frames=4)
    _, state = frames_of(pipeline, 0.6, frames=2)
    restored = pipeline.state_from_tensors({k: v.clone() for k, v in pipeline.state_to_tensors(state).items()})
    rest, _ = frames_of(pipeline, 0.6, frames=2, state=restored)
    assert torch.equal(rest, whole[:, 2:4])


def test_mocogan_scales_content_initial_motion_and_every_step_of_motion_noise() -> None:
    pipeline = LOADERS["mocogan"]()
    full = pipeline.start(GenerateStart(2, 4, SIZE, SIZE, seeds={"content": 5, "motion": 9}), torch.Generator())
    half = pipeline.start(GenerateStart(2, 4, SIZE, SIZE, seeds={"content": 5, "motion": 9}, truncation=0.5),
                          torch.Generator())
    assert torch.allclose(half.content, 0.5 * full.content) and torch.allclose(half.hidden, 0.5 * full.hidden)
    noise = mocogan_pipeline.motion_noise(9, 1, pipeline.config.motion_noise_dim)
    hidden = pipeline.generator.motion_step(0.5 * noise.expand(2, -1), half.hidden, half.category)  # (B, d_M)
    _, stepped = pipeline.step(half, None, torch.Generator())
    assert torch.allclose(stepped.hidden, hidden, atol=1e-6)
    old = {k: v for k, v in pipeline.state_to_tensors(full).items() if k != "truncation"}  # saved before ψ existed
    assert float(pipeline.state_from_tensors(old).truncation) == 1.0


@pytest.mark.parametrize("psi", [0.0, -0.5, 1.2, float("nan"), True])
def test_psi_outside_zero_to_one_is_an_input_error(pipeline: Any, psi: Any) -> None:
    with pytest.raises(InputError, match="truncation"):
        pipeline.start(GenerateStart(1, 4, SIZE, SIZE, truncation=psi), torch.Generator())
