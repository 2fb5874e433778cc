"""What the training loop needs from a family's training recipe (`Family.recipes[name](...)` builds one).

A recipe owns its networks, optimisers, loss scalers, data set and update order (which network steps first, on which
losses); the loop (`training.loop`) owns everything around it: batches, the progress bar, `RUN/log.jsonl`, sample
images, checkpoints and exact resume. Checkpoints hold every module of `modules()` (keys prefixed `<name>.`), every
optimiser and scaler of `optimizers()` / `scalers()` by name, and the RNG states. Recipes whose run config is one
dataclass naming a model preset get the shared plumbing from `training.recipe_parts.PresetRecipe`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn


@dataclass(frozen=True)
class RunSettings:
    """The loop's part of a run's configuration."""

    out: str
    steps: int
    batch: int = 1
    seed: int = 0
    workers: int = 0
    checkpoint_every: int = 500
    sample_every: int = 500
    progress: bool = True


@dataclass
class StepLog:
    """What one `train_step` reports: losses (logged every step) and integers that describe the step."""

    losses: dict[str, float]
    info: dict[str, int] = field(default_factory=dict)


class Recipe(Protocol):
    run: RunSettings
    device: torch.device
    checkpoint_exclude: tuple[str, ...]
    """Checkpoint key prefixes not saved (fixed networks such as a loaded VGG); restored from the live modules."""

    def dataset(self) -> torch.utils.data.Dataset: ...

    def collate(self, items: list[Any]) -> Any: ...

    def modules(self) -> dict[str, nn.Module]: ...

    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def scalers(self) -> dict[str, torch.amp.GradScaler]: ...

    def train_step(self, batch: Any, step: int) -> StepLog:
        """One optimisation step on `batch` at step index `step` (0-based)."""
        ...

    def write_sample(self, batch: Any, path: Path) -> Path:
        """A picture of what the model makes of `batch` now, without gradients."""
        ...

    def metadata(self) -> dict[str, Any]:
        """JSON written into every checkpoint: family, preset, config overrides, run config, data description."""
        ...

    def check_resume(self, meta: dict[str, Any]) -> None:
        """Raise ValueError when a checkpoint's metadata belongs to another run setup."""
        ...
