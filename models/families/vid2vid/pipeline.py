"""vid2vid serving: the streaming pipeline the worker and `v2v eval` drive (one frame per label frame).

Streams start empty (zeros mode: raw hallucination first) unless the config's first_frame is "single_image"; then
the first L frames come from the single-image generator (reference §1.6) and enter the history through `observe`,
and `step` takes over from frame L. The state's `frame_index` (saved with it) says which path a frame takes, so a
resumed job continues exactly as an uninterrupted one. A job's `temporal` option 0 (`adapt`) makes every frame a
fresh stream's first: from its labels alone, as `v2v eval`'s "frame by frame" row.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from models.core.checkpoints import build_with_weights
from models.core.family import AdaptHooks, InputError, StepOutput, TranslateStart, WeightsRef
from models.families.vid2vid.generator import Vid2VidConfig, Vid2VidGenerator, Vid2VidState
from models.families.vid2vid.single import SingleImageGenerator


class Vid2VidPipeline:
    """A loaded vid2vid generator (and, with first_frame "single_image", its first-frame generator)."""

    def __init__(self, generator: Vid2VidGenerator, first_frame: nn.Module | None = None, temporal: bool = True
                 ) -> None:
        self.generator = generator
        self.first_frame = first_frame
        self.temporal = temporal
        """False: every frame from a fresh stream (nothing warped or fed back from the previous frame)."""

    def adapt(self, inputs: TranslateStart, options: Mapping[str, int], seed: int, hooks: AdaptHooks
              ) -> Vid2VidPipeline:
        """This pipeline, or (option `temporal` 0) one sharing its networks that draws each frame alone."""
        if int(options.get("temporal", 1)):
            return self
        return Vid2VidPipeline(self.generator, self.first_frame, temporal=False)

    def start(self, inputs: TranslateStart, rng: torch.Generator) -> Vid2VidState:
        if inputs.references is not None:
            raise InputError("vid2vid models take no reference images")
        return self.generator.start(batch_size=1, height=inputs.height, width=inputs.width)

    def step(self, state: Vid2VidState, condition: torch.Tensor | None, rng: torch.Generator
             ) -> tuple[StepOutput, Vid2VidState]:
        assert condition is not None, "translate steps need the frame's labels"
        if not self.temporal:
            b, _, h, w = condition.shape
            state = self.generator.start(batch_size=b, height=h, width=w)
        if self.first_frame is None or state.frame_index >= self.generator.config.n_prev:
            out, state = self.generator.step(condition, state)
            return StepOutput(out.frame[:, None]), state  # (1, 1, 3, H, W)
        frame = self.first_frame(condition)  # (1, 3, H, W): frame t < L from this frame's labels alone
        return StepOutput(frame[:, None]), self.generator.observe(condition, frame, state)

    def compile_networks(self) -> list[str]:
        return self.generator.compile_networks()

    def state_to_tensors(self, state: Vid2VidState) -> dict[str, torch.Tensor]:
        return state.to_tensors()

    def state_from_tensors(self, tensors: dict[str, torch.Tensor]) -> Vid2VidState:
        return Vid2VidState.from_tensors(tensors)


def load_pipeline(config: Vid2VidConfig, weights: Mapping[str, WeightsRef], device: torch.device) -> Vid2VidPipeline:
    """Build the generator (verified weights when given) and, when the config asks for one, the single-image
    first-frame generator (`weights["first_frame"]`)."""
    generator = build_with_weights(Vid2VidGenerator, config, weights.get("generator", WeightsRef()), device)
    first = weights.get("first_frame", WeightsRef())
    if config.first_frame != "single_image" or config.single_image is None:
        if first.path is not None:
            raise ValueError(f'first_frame weights given but the config has first_frame {config.first_frame!r}, '
                             'not "single_image"')
        return Vid2VidPipeline(generator)  # type: ignore[arg-type]
    single = build_with_weights(SingleImageGenerator, config.single_image, first, device)
    return Vid2VidPipeline(generator, single)  # type: ignore[arg-type]
