"""Shared by the tests of the predict families (SVG-LP, SAVP, VideoVAE): networks with weights re-drawn wide, random
and moving-square sequences, streaming a network or a served pipeline (straight through, or stopped, saved to state
tensors and resumed), and a recipe's run stopped and resumed from its checkpoint next to an uninterrupted one."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from cli.train import add_arguments, config_from_args
from models.core.family import Pipeline, PredictStart
from training.loop import TrainingLoop
from training.recipe import Recipe


def redraw(parameters: Iterable[torch.Tensor], std: float, seed: int | None = None) -> None:
    """Re-draw `parameters` from N(0, std²) in place (the global generator seeded with `seed` first, when given): wide
    enough weights that z visibly changes the frames (at the usual N(0, 0.02²) initialisation its effect is tiny)."""
    if seed is not None:
        torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in parameters:
            parameter.normal_(0.0, std)


def random_sequences(config: Any, batch: int = 2, seed: int = 1) -> torch.Tensor:
    """(B, sequence_frames, C, S, S) uniform in [0, 1] at the config's size and channels."""
    generator = torch.Generator().manual_seed(seed)
    size = config.image_size
    return torch.rand(batch, config.sequence_frames, config.image_channels, size, size, generator=generator)


def moving_squares(config: Any, batch: int, seed: int, background: float = 0.0, square: float = 1.0) -> torch.Tensor:
    """(B, sequence_frames, C, S, S) sequences of a 4-pixel square moving one pixel per frame down and right."""
    generator = torch.Generator().manual_seed(seed)
    size, t = config.image_size, config.sequence_frames
    frames = torch.full((batch, t, config.image_channels, size, size), background)
    start = torch.randint(0, size - 4 - t, (batch, 2), generator=generator)
    for b in range(batch):
        for i in range(t):
            y, x = start[b, 0] + i, start[b, 1] + i
            frames[b, i, :, y : y + 4, x : x + 4] = square
    return frames


def _observe(model: Any, context: torch.Tensor, generator: torch.Generator) -> Any:
    state = model.start(context[:, 0])
    for i in range(1, context.shape[1]):
        state = model.observe(context[:, i], state, generator)
    return state


def stream(model: Any, context: torch.Tensor, n_future: int, seed: int) -> torch.Tensor:
    """A network's `n_future` predicted frames (B, n_future, C, S, S) after the context (B, T, C, S, S)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        state = _observe(model, context, generator)
        frames = []
        for _ in range(n_future):
            frame, state = model.predict(state, generator)
            frames.append(frame)
    return torch.stack(frames, 1)


def stream_resumed(model: Any, state_type: Any, context: torch.Tensor, n_future: int, seed: int) -> torch.Tensor:
    """As `stream`, but after the first predicted frame the state goes to tensors and back (`state_type.from_tensors`)
    and the generator continues from its saved state: what a resumed job does."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        state = _observe(model, context, generator)
        first, state = model.predict(state, generator)
        saved = {key: value.clone() for key, value in state.to_tensors().items()}
        resumed_generator = torch.Generator()
        resumed_generator.set_state(generator.get_state())
        del state, generator
        state = state_type.from_tensors(saved)
        frames = [first]
        for _ in range(n_future - 1):
            frame, state = model.predict(state, resumed_generator)
            frames.append(frame)
    return torch.stack(frames, 1)


def predict_start(frames: int, height: int = 24, width: int = 20, samples: int = 4, horizon: int = 5,
                  attributes: dict[str, int] | None = None) -> PredictStart:
    """A predict job's start: `frames` random context frames (1, T, 3, H, W) in [-1, 1] (any size)."""
    generator = torch.Generator().manual_seed(5)
    context = torch.rand(1, frames, 3, height, width, generator=generator) * 2 - 1  # (1, T, 3, H, W)
    return PredictStart(context=context, num_samples=samples, horizon=horizon, attributes=attributes or {})


def _steps(pipeline: Pipeline, state: Any, steps: int, rng: torch.Generator, frames: list[torch.Tensor]) -> Any:
    for _ in range(steps):
        out, state = pipeline.step(state, None, rng)
        frames.append(out.frames)
    return state


def pipeline_stream(pipeline: Pipeline, inputs: PredictStart, seed: int, steps: int) -> tuple[torch.Tensor, Any]:
    """A served pipeline's frames (B, steps, 3, S, S) for a job seeded with `seed`, and its last state."""
    rng = torch.Generator().manual_seed(seed)
    frames: list[torch.Tensor] = []
    with torch.inference_mode():
        state = _steps(pipeline, pipeline.start(inputs, rng), steps, rng, frames)
    return torch.cat(frames, 1), state


def pipeline_frames(pipeline: Pipeline, inputs: PredictStart, seed: int, steps: int) -> torch.Tensor:
    return pipeline_stream(pipeline, inputs, seed, steps)[0]


def pipeline_resumed(pipeline: Pipeline, fresh: Callable[[], Pipeline], inputs: PredictStart, seed: int,
                     before: int, after: int) -> tuple[torch.Tensor, dict[str, torch.Tensor], Pipeline, Any]:
    """`before` steps of `pipeline`, its state saved to tensors and the rng's state kept; then, as a new process
    would, `fresh()` (the same weights) restores both and takes `after` more steps. Returns all the frames
    (B, before + after, 3, S, S), the saved tensors, the fresh pipeline and its last state."""
    rng = torch.Generator().manual_seed(seed)
    frames: list[torch.Tensor] = []
    with torch.inference_mode():
        state = _steps(pipeline, pipeline.start(inputs, rng), before, rng, frames)
        saved = {k: v.clone() for k, v in pipeline.state_to_tensors(state).items()}
        rng_state = rng.get_state()
        restored = fresh()
        resumed_rng = torch.Generator().manual_seed(99)
        resumed_rng.set_state(rng_state)
        state = _steps(restored, restored.state_from_tensors(saved), after, resumed_rng, frames)
    return torch.cat(frames, 1), saved, restored, state


def train_config_from_flags(argv: list[str]) -> Any:
    """The run config `v2v train ARGV` builds (`cli.train.config_from_args`)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser, "train")
    return config_from_args(parser.parse_args(argv))


def fit_whole_and_resumed(recipe_for: Callable[..., Recipe], root: Path,
                          split_at: int = 2) -> tuple[TrainingLoop, TrainingLoop]:
    """An uninterrupted run (root/whole) and one stopped at step `split_at` and resumed from its checkpoint
    (root/split), both fitted; `recipe_for(out, **values)` builds a recipe with the test's run config."""
    whole = TrainingLoop(recipe_for(root / "whole", checkpoint_every=split_at))
    whole.fit()
    TrainingLoop(recipe_for(root / "split", steps=split_at, checkpoint_every=split_at)).fit()
    resumed = TrainingLoop(recipe_for(root / "split", checkpoint_every=split_at))
    assert resumed.resume() and resumed.step == split_at
    resumed.fit()
    return whole, resumed


def assert_same_weights(expected: TrainingLoop, got: TrainingLoop) -> None:
    for name, module in expected.recipe.modules().items():
        other = got.recipe.modules()[name].state_dict()
        for key, value in module.state_dict().items():
            assert torch.equal(value, other[key]), f"{name}.{key}"
