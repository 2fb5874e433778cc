"""MoCoGAN's serving pipeline: shapes and range, exact resume through the state tensors, content and motion seeds,
the requested class, what it describes, clear errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from models.core.family import GenerateStart, InputError, WeightsRef
from models.families.mocogan.config import PRESETS
from models.families.mocogan.pipeline import MoCoGANPipeline, load

CONFIG = dataclasses.replace(PRESETS["mocogan-tiny"], num_categories=4)


@pytest.fixture(scope="module")
def pipeline() -> MoCoGANPipeline:
    return load(CONFIG, {"generator": WeightsRef()}, torch.device("cpu"))


def _run(pipeline: MoCoGANPipeline, start: GenerateStart, seed: int, frames: int) -> tuple[torch.Tensor, object]:
    rng = torch.Generator().manual_seed(seed)
    state = pipeline.start(start, rng)
    out = []
    for _ in range(frames):
        step, state = pipeline.step(state, None, rng)
        out.append(step.frames)
    return torch.cat(out, dim=1), state  # (B, T, 3, H, W)


def test_one_frame_per_step_in_range_for_any_length(pipeline: MoCoGANPipeline) -> None:
    frames, _ = _run(pipeline, GenerateStart(3, 11, 16, 16), seed=1, frames=11)  # longer than trained (4)
    assert frames.shape == (3, 11, 3, 16, 16)
    assert frames.min() >= -1 and frames.max() <= 1
    assert not torch.equal(frames[:, 0], frames[:, 5])  # it moves


def test_resume_from_the_state_tensors_is_exact(pipeline: MoCoGANPipeline) -> None:
    whole, _ = _run(pipeline, GenerateStart(2, 8, 16, 16), seed=4, frames=8)
    rng = torch.Generator().manual_seed(4)
    state = pipeline.start(GenerateStart(2, 8, 16, 16), rng)
    first = []
    for _ in range(3):
        step, state = pipeline.step(state, None, rng)
        first.append(step.frames)
    saved = {k: v.clone() for k, v in pipeline.state_to_tensors(state).items()}
    restored = pipeline.state_from_tensors(saved)
    rest = []
    for _ in range(5):
        step, restored = pipeline.step(restored, None, torch.Generator().manual_seed(999))  # job rng not needed
        rest.append(step.frames)
    assert torch.equal(torch.cat(first + rest, dim=1), whole)


def test_a_fixed_content_seed_keeps_the_content_and_varies_the_motion(pipeline: MoCoGANPipeline) -> None:
    a = pipeline.start(GenerateStart(2, 4, 16, 16, seeds={"content": 5}), torch.Generator().manual_seed(1))
    b = pipeline.start(GenerateStart(1, 4, 16, 16, seeds={"content": 5}), torch.Generator().manual_seed(2))
    assert torch.equal(a.content[0], a.content[1]) and torch.equal(a.content[0], b.content[0])  # same person
    assert not torch.equal(a.hidden[0], a.hidden[1])  # motion drawn per sample
    c = pipeline.start(GenerateStart(1, 4, 16, 16, seeds={"content": 6, "motion": 9}), torch.Generator())
    d = pipeline.start(GenerateStart(1, 4, 16, 16, seeds={"content": 7, "motion": 9}), torch.Generator())
    assert torch.equal(c.hidden, d.hidden) and not torch.equal(c.content, d.content)  # same motion, other person
    fixed = GenerateStart(1, 4, 16, 16, class_id=1, seeds={"content": 6, "motion": 9})
    assert torch.equal(_run(pipeline, fixed, 3, 4)[0], _run(pipeline, fixed, 8, 4)[0])  # the job seed no longer matters


def test_the_requested_class_is_used_and_described(pipeline: MoCoGANPipeline) -> None:
    state = pipeline.start(GenerateStart(3, 4, 16, 16, class_id=2), torch.Generator().manual_seed(0))
    assert state.category.argmax(1).tolist() == [2, 2, 2] and state.category.sum().item() == 3
    sampled = pipeline.start(GenerateStart(16, 4, 16, 16), torch.Generator().manual_seed(0))
    assert len(set(sampled.class_ids.tolist())) > 1
    described = pipeline.describe(state)["samples"]
    assert [s["class_id"] for s in described] == [2, 2, 2]
    again = pipeline.start(GenerateStart(1, 4, 16, 16, class_id=1, seeds={"content": described[0]["content_seed"]}),
                           torch.Generator())
    assert torch.equal(again.content[0], state.content[0])  # "same person, another action"


def test_bad_inputs_are_input_errors(pipeline: MoCoGANPipeline) -> None:
    for start in (GenerateStart(1, 4, 16, 16, class_id=4), GenerateStart(1, 4, 16, 16, seeds={"colour": 1}),
                  GenerateStart(1, 4, 16, 16, seeds={"content": -1})):
        with pytest.raises(InputError):
            pipeline.start(start, torch.Generator())
