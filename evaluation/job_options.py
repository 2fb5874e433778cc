"""`v2v eval --options`: score a translate model as a job with these family options would run.

A job's family options (the card's `options`, e.g. `people`'s `finetune_steps`, `street`'s `temporal`) reach the
served pipeline through its `adapt` (models.core.family.Adaptable), once per stream. Evaluation does the same: each
stream's pipeline is the served one adapted to that stream's inputs (references) with the options. Adapting can be
costly (fine-tuning), so the last adapted pipeline is kept for the next stream with the very same inputs (the
"right" references serve the temporal and the frame-by-frame stream).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from models.core.family import Adaptable, Pipeline, TranslateStart


def check_options(cards: Mapping[str, Any], options: Mapping[str, int]) -> None:
    """ValueError unless every option is an integer in range of every translate card's family options."""
    for name, card in cards.items():
        if card.kind != "translate":
            continue
        for key, value in options.items():
            spec = card.options.get(key)
            if spec is None:
                valid = ", ".join(sorted(card.options)) or "none"
                raise ValueError(f"model {name!r} has no option {key!r} (its options: {valid})")
            if type(value) is not int or not spec.min <= value <= spec.max:
                raise ValueError(f"option {key!r} of model {name!r} must be an integer in {spec.min}..{spec.max}")


class _NoStore:
    """Adaptation hooks of an evaluation: no heartbeat, nothing saved between attempts (there is one attempt)."""

    def on_step(self, done: int) -> None:
        pass

    def load_tensors(self, name: str, settings: Mapping[str, str]) -> dict[str, torch.Tensor] | None:
        return None

    def save_tensors(self, name: str, tensors: Mapping[str, torch.Tensor], settings: Mapping[str, str]) -> None:
        pass


class AdaptedPipelines:
    """The served pipeline adapted per stream with fixed job options (the served one itself without options)."""

    def __init__(self, options: Mapping[str, int]) -> None:
        self.options = dict(options)
        self._last: tuple[Pipeline, TranslateStart, Pipeline] | None = None

    def for_stream(self, pipeline: Pipeline, inputs: TranslateStart) -> Pipeline:
        if not self.options or not isinstance(pipeline, Adaptable):
            return pipeline
        if self._last is not None and self._last[0] is pipeline and _same_inputs(self._last[1], inputs):
            return self._last[2]
        adapted = pipeline.adapt(inputs, self.options, 0, _NoStore())
        self._last = (pipeline, inputs, adapted)
        return adapted


def _same_inputs(a: TranslateStart, b: TranslateStart) -> bool:
    """Same run size and equal reference tensors (or none)."""
    def same(x: torch.Tensor | None, y: torch.Tensor | None) -> bool:
        return x is y or (x is not None and y is not None and x.shape == y.shape and torch.equal(x, y))

    return (a.height, a.width) == (b.height, b.width) and same(a.references, b.references) and same(
        a.reference_labels, b.reference_labels)
