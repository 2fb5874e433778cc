"""SVG-LP's serving pipeline (kind predict): shapes and range, exact resume through the state tensors, randomness
only from the job's rng, samples that differ, grey conversion of RGB context frames."""

from __future__ import annotations

import torch

from models import get_family
from models.core.family import PredictStart
from models.families.svg_lp.pipeline import SvgLpPipeline, load, to_model_frames

FAMILY = get_family("svg_lp")


def _pipeline(preset: str = "svg_lp-tiny") -> SvgLpPipeline:
    """Untrained weights re-drawn wide enough that z visibly changes the frames (at the N(0, 0.02²) init its
    effect is ~1e-7)."""
    pipeline = load(FAMILY.config(preset), {}, torch.device("cpu"))
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in pipeline.model.parameters():
            parameter.normal_(0.0, 0.3)
    return pipeline


def _context(frames: int = 3, height: int = 24, width: int = 20) -> PredictStart:
    generator = torch.Generator().manual_seed(5)
    context = torch.rand(1, frames, 3, height, width, generator=generator) * 2 - 1  # (1, T, 3, H, W)
    return PredictStart(context=context, num_samples=4, horizon=5)


def _run(pipeline: SvgLpPipeline, inputs: PredictStart, seed: int, steps: int) -> torch.Tensor:
    rng = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        state = pipeline.start(inputs, rng)
        frames = []
        for _ in range(steps):
            out, state = pipeline.step(state, None, rng)
            frames.append(out.frames)
    return torch.cat(frames, 1)  # (B, steps, 3, S, S)


def test_family_is_a_predict_family_with_a_recipe() -> None:
    assert FAMILY.kind == "predict" and FAMILY.recipe().__name__ == "Recipe"
    assert {"svg_lp-small", "svg_lp-small-deterministic", "svg_lp-tiny"} <= set(FAMILY.presets)


def test_steps_emit_one_grey_rgb_frame_per_sample_in_range() -> None:
    pipeline, inputs = _pipeline(), _context()
    frames = _run(pipeline, inputs, seed=0, steps=3)
    assert frames.shape == (4, 3, 3, 16, 16)  # the preset's size; the worker resizes to the run size
    assert frames.min() >= -1 and frames.max() <= 1
    assert torch.equal(frames[:, :, 0], frames[:, :, 1]) and torch.equal(frames[:, :, 0], frames[:, :, 2])


def test_same_seed_same_samples_and_samples_differ_across_the_batch() -> None:
    pipeline, inputs = _pipeline(), _context()
    first, again = _run(pipeline, inputs, 7, 4), _run(pipeline, inputs, 7, 4)
    other = _run(pipeline, inputs, 8, 4)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    for b in range(1, 4):
        assert (first[0] - first[b]).abs().max() > 1e-3  # every sample its own z draws


def test_resume_through_state_tensors_is_exact() -> None:
    pipeline, inputs = _pipeline(), _context()
    whole = _run(pipeline, inputs, 3, 5)
    rng = torch.Generator().manual_seed(3)
    with torch.inference_mode():
        state = pipeline.start(inputs, rng)
        frames = []
        for _ in range(2):
            out, state = pipeline.step(state, None, rng)
            frames.append(out.frames)
        saved = {k: v.clone() for k, v in pipeline.state_to_tensors(state).items()}
        rng_state = rng.get_state()
        fresh = _pipeline()  # a new process: the same weights, the state and rng restored from tensors
        resumed_rng = torch.Generator().manual_seed(99)
        resumed_rng.set_state(rng_state)
        state = fresh.state_from_tensors(saved)
        for _ in range(3):
            out, state = fresh.step(state, None, resumed_rng)
            frames.append(out.frames)
    assert torch.equal(torch.cat(frames, 1), whole)


def test_deterministic_variant_gives_identical_samples_and_one_image_is_a_context() -> None:
    pipeline = _pipeline("svg_lp-tiny-deterministic")
    frames = _run(pipeline, _context(frames=1), 0, 2)
    assert torch.equal(frames[0], frames[3])
    assert pipeline.describe(None) == {"latent": {"variant": "deterministic", "latent_dim": 0}}


def test_rgb_context_becomes_the_grey_mean_at_the_model_size() -> None:
    rgb = torch.stack([torch.full((8, 8), -1.0), torch.zeros(8, 8), torch.ones(8, 8)]).unsqueeze(0)  # (1, 3, 8, 8)
    grey = to_model_frames(rgb, channels=1, size=4)
    assert grey.shape == (1, 1, 4, 4) and torch.allclose(grey, torch.full_like(grey, 0.5))
