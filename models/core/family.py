"""What a model family is, as the service sees it: the descriptor, the serving pipeline and the training recipe.

A *job kind* says what a job takes and gives (`translate`: label video [+ references] -> video; `predict`: context
frames -> N sampled futures; `generate`: nothing -> N videos). A *family* is one model implementation; it serves one
kind. The worker loop, the training loop and `v2v eval` drive a family only through what this module declares:

- `Family`: name, kind, presets, how to build its config and load its serving `Pipeline`, and its training recipes.
- `Pipeline`: `start(inputs, rng) -> state`, then `step(state, condition, rng) -> (StepOutput, state)` until the job
  has its frames; the state saves and restores as a flat dict of tensors (`state_to_tensors` / `state_from_tensors`),
  so a job resumes exactly after a crash. A step may emit several frames (VGAN emits its clip at once).
- start inputs per kind: `TranslateStart`, `PredictStart`, `GenerateStart`.

A bad input found by a model (a size that is not a multiple of its stride, too many references...) raises
`InputError`: the job fails at once with a clear message and is never retried. torch only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import nn

Kind = Literal["translate", "predict", "generate"]
KINDS: tuple[Kind, ...] = ("translate", "predict", "generate")


class InputError(ValueError):
    """A job's inputs do not fit the model (a user error: never retried)."""


# ------------------------------------------------------------------------------------------------ start inputs


@dataclass(frozen=True)
class TranslateStart:
    """A translate stream: the run size and, for few-shot models, the references (already encoded labels)."""

    height: int
    width: int
    references: torch.Tensor | None = None  # (1, K, 3, H, W) in [-1, 1]
    reference_labels: torch.Tensor | None = None  # (1, K, C, H, W)


@dataclass(frozen=True)
class PredictStart:
    """A predict stream: the context frames, how many futures to sample and how far."""

    context: torch.Tensor  # (1, T_ctx, 3, H, W) in [-1, 1]
    num_samples: int
    horizon: int
    attributes: Mapping[str, int] = field(default_factory=dict)
    """Class ids of attributes the model can be asked for (e.g. {"action": 2}); empty = sampled."""


@dataclass(frozen=True)
class GenerateStart:
    """A generate stream: how many videos of how many frames, at what size, with which seeds and class."""

    num_samples: int
    num_frames: int
    height: int
    width: int
    class_id: int | None = None
    """Requested class (e.g. an action); None = the model's choice (sampled)."""
    seeds: Mapping[str, int] = field(default_factory=dict)
    """Named seeds a family understands (e.g. "content", "motion"); missing ones come from the job's rng."""
    truncation: float = 1.0
    """ψ in (0, 1]: every latent drawn from a seed is scaled by ψ (the truncation trick; 1 = the paper's sampling).
    Below 1 a model draws more typical, steadier clips and fewer kinds of them."""


StartInputs = TranslateStart | PredictStart | GenerateStart


@dataclass
class StepOutput:
    """What one `step` produced."""

    frames: torch.Tensor  # (B, n, 3, H, W) in [-1, 1]; B = samples, n >= 1 frames per sample


# ------------------------------------------------------------------------------------------------ pipeline


class Pipeline(Protocol):
    """A loaded model's streaming inference, as the worker and `v2v eval` drive it. No file I/O, no device choice."""

    def start(self, inputs: Any, rng: torch.Generator) -> Any:
        """The stream's initial state for the kind's start inputs."""
        ...

    def step(self, state: Any, condition: torch.Tensor | None, rng: torch.Generator) -> tuple[StepOutput, Any]:
        """The next frame(s). `condition`: this frame's encoded labels (translate), else None."""
        ...

    def state_to_tensors(self, state: Any) -> dict[str, torch.Tensor]:
        """The state as a flat dict of tensors (saved after every step)."""
        ...

    def state_from_tensors(self, tensors: dict[str, torch.Tensor]) -> Any:
        """Restore what `state_to_tensors` wrote (on the pipeline's device)."""
        ...


class AdaptHooks(Protocol):
    """What a pipeline that adapts itself to a job (few-shot fine-tuning) may use: liveness and a scratch store."""

    def on_step(self, done: int) -> None:
        """Called after each adaptation step (heartbeat; raises to stop when the job is canceled)."""
        ...

    def load_tensors(self, name: str, settings: Mapping[str, str]) -> dict[str, torch.Tensor] | None:
        """Tensors an earlier attempt of this job saved under `name` with the same `settings`, else None."""
        ...

    def save_tensors(self, name: str, tensors: Mapping[str, torch.Tensor], settings: Mapping[str, str]) -> None:
        ...


@runtime_checkable
class Compilable(Protocol):
    """Optional pipeline capability: `torch.compile` what takes only tensors of one shape per frame size (a network,
    or a whole step whose state is tensors only), so a stream compiles once per size and never again as it advances.
    Returns the names of what was compiled."""

    def compile_networks(self) -> list[str]: ...


@runtime_checkable
class Adaptable(Protocol):
    """Optional pipeline capability: a per-job copy tuned on the job's inputs (`options` are the card's family
    options, validated by the API)."""

    def adapt(self, inputs: Any, options: Mapping[str, int], seed: int, hooks: AdaptHooks) -> Pipeline: ...


@runtime_checkable
class Describable(Protocol):
    """Optional pipeline capability: what a finished stream used (e.g. seeds per sample), added to the job's
    result so a user can reproduce or vary it. JSON-able."""

    def describe(self, state: Any) -> dict[str, Any]: ...


# ------------------------------------------------------------------------------------------------ weights


@dataclass(frozen=True)
class WeightsRef:
    """A weights file to load (None: untrained weights, built from a fixed seed) and its expected sha256."""

    path: Path | None = None
    sha256: str | None = None


# ------------------------------------------------------------------------------------------------ family


@dataclass(frozen=True)
class FamilyOption:
    """An integer option a job of the family may set (e.g. few-shot `finetune_steps`)."""

    min: int
    max: int
    default: int
    description: str = ""
    seconds_per_unit: float = 0.0
    """Worst-case seconds each unit adds to a job (its time limit grows by value x this)."""


@dataclass(frozen=True)
class Family:
    """One model family: the single object the registry lists.

    `load(config, weights, device)` builds the serving pipeline; `weights` holds "generator" and any extra networks
    the family names in `extra_weights` (e.g. vid2vid's "first_frame"). `recipes` names the training recipe classes
    (`training.recipe.Recipe`; "default", and e.g. vid2vid's "single").
    """

    name: str
    kind: Kind
    config_type: type
    presets: Mapping[str, Any]
    build: Callable[[Any], nn.Module]
    load: Callable[[Any, Mapping[str, WeightsRef], torch.device], Pipeline]
    size_multiple: Callable[[Any], int]
    recipes: Mapping[str, str] = field(default_factory=dict)
    """Training recipes by name ("default", ...), as "module:Class" (imported on use: serving never loads them)."""
    extra_weights: tuple[str, ...] = ()
    options: Mapping[str, FamilyOption] = field(default_factory=dict)
    """Family-specific integer job options (copied into model cards; the API validates them generically)."""
    max_references: Callable[[Any], int] | None = None
    """Translate families with references: the most references a config takes."""

    def recipe(self, name: str = "default") -> Any:
        """The training recipe class `name` (imported now)."""
        import importlib

        if name not in self.recipes:
            raise KeyError(f"family {self.name} has no training recipe {name!r}; recipes: {', '.join(self.recipes)}")
        module, _, cls = self.recipes[name].partition(":")
        return getattr(importlib.import_module(module), cls)

    def config(self, preset: str, overrides: Mapping[str, Any] | None = None) -> Any:
        """The preset's frozen config with JSON `overrides` applied (unknown fields raise TypeError)."""
        from models.core.checkpoints import config_overrides_from_json

        if preset not in self.presets:
            raise KeyError(f"unknown {self.name} preset {preset!r}; valid presets: {', '.join(sorted(self.presets))}")
        base = self.presets[preset]
        return dataclasses.replace(base, **config_overrides_from_json(type(base), dict(overrides or {})))
