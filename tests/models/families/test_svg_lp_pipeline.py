"""SVG-LP's serving pipeline (kind predict): shapes and range, exact resume through the state tensors, randomness
only from the job's rng, samples that differ, grey conversion of RGB context frames."""

from __future__ import annotations

import torch

from models import get_family
from models.core.frames import to_unit_frames
from models.families.svg_lp.pipeline import SvgLpPipeline, load
from tests.models.families.predict_helpers import pipeline_frames, pipeline_resumed, predict_start, redraw

FAMILY = get_family("svg_lp")


def _pipeline(preset: str = "svg_lp-tiny") -> SvgLpPipeline:
    """Untrained weights re-drawn wide enough that z visibly changes the frames (at the N(0, 0.02²) init its
    effect is ~1e-7)."""
    pipeline = load(FAMILY.config(preset), {}, torch.device("cpu"))
    redraw(pipeline.model.parameters(), 0.3, seed=1)
    return pipeline


def test_family_is_a_predict_family_with_a_recipe() -> None:
    assert FAMILY.kind == "predict" and FAMILY.recipe().__name__ == "Recipe"
    assert {"svg_lp-small", "svg_lp-small-deterministic", "svg_lp-tiny"} <= set(FAMILY.presets)


def test_steps_emit_one_grey_rgb_frame_per_sample_in_range() -> None:
    pipeline, inputs = _pipeline(), predict_start(3)
    frames = pipeline_frames(pipeline, inputs, seed=0, steps=3)
    assert frames.shape == (4, 3, 3, 16, 16)  # the preset's size; the worker resizes to the run size
    assert frames.min() >= -1 and frames.max() <= 1
    assert torch.equal(frames[:, :, 0], frames[:, :, 1]) and torch.equal(frames[:, :, 0], frames[:, :, 2])


def test_same_seed_same_samples_and_samples_differ_across_the_batch() -> None:
    pipeline, inputs = _pipeline(), predict_start(3)
    first, again = pipeline_frames(pipeline, inputs, 7, 4), pipeline_frames(pipeline, inputs, 7, 4)
    other = pipeline_frames(pipeline, inputs, 8, 4)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    for b in range(1, 4):
        assert (first[0] - first[b]).abs().max() > 1e-3  # every sample its own z draws


def test_resume_through_state_tensors_is_exact() -> None:
    pipeline, inputs = _pipeline(), predict_start(3)
    whole = pipeline_frames(pipeline, inputs, 3, 5)
    frames, _, _, _ = pipeline_resumed(pipeline, _pipeline, inputs, 3, before=2, after=3)
    assert torch.equal(frames, whole)


def test_deterministic_variant_gives_identical_samples_and_one_image_is_a_context() -> None:
    pipeline = _pipeline("svg_lp-tiny-deterministic")
    frames = pipeline_frames(pipeline, predict_start(1), 0, 2)
    assert torch.equal(frames[0], frames[3])
    assert pipeline.describe(None) == {"latent": {"variant": "deterministic", "latent_dim": 0}}


def test_rgb_context_becomes_the_grey_mean_at_the_model_size() -> None:
    rgb = torch.stack([torch.full((8, 8), -1.0), torch.zeros(8, 8), torch.ones(8, 8)]).unsqueeze(0)  # (1, 3, 8, 8)
    grey = to_unit_frames(rgb, channels=1, size=4)
    assert grey.shape == (1, 1, 4, 4) and torch.allclose(grey, torch.full_like(grey, 0.5))
