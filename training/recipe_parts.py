"""Parts shared by the training recipes whose run config is one frozen dataclass naming a model preset (the generate
and predict families: TGAN, VGAN, MoCoGAN, SAVP, SVG-LP, VideoVAE).

Such a run config extends `PresetRunConfig` (the fields every such run has: data, out, overrides, seed, device,
workers, checkpoint and sample intervals, progress, split) with at least `preset, steps, batch`; `PresetRecipe`
turns it into the loop's `RunSettings` and gives the loop's plumbing (`training.recipe.Recipe`) once: flags -> run
config, the data set, dict batches, no loss scalers, the common checkpoint metadata and the resume check.
`model_config_from_preset` is the preset lookup with JSON overrides; `write_clip_grid` the sample picture of clips,
one per row.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch

from corpora.layout import write_png
from models.core.checkpoints import config_overrides_from_json
from models.core.labels import tensor_to_rgb
from training.loop import pick_device
from training.precision import amp_dtype, autocast_context, normalise_amp
from training.recipe import RunSettings

ModelConfig = TypeVar("ModelConfig")


@dataclasses.dataclass(frozen=True)
class PresetRunConfig:
    """The run-config fields every preset recipe shares; a family's run config extends it (flags map onto fields by
    name) with its `preset`, `steps`, `batch` and its own settings."""

    data: str
    out: str
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    """JSON overrides of the preset's model-config fields."""
    seed: int = 0
    device: str = "auto"
    workers: int = 0
    checkpoint_every: int = 250
    sample_every: int = 250
    progress: bool = True
    split: str = "train"
    amp: str = "off"
    """Mixed precision of the forward passes (`training.precision`): "auto" / "bf16" = bf16 autocast where the device
    has it (CUDA bf16 GPUs; CPUs with bf16 units where it is faster), "off" = fp32. These recipes take no fp16 (no
    loss scaling): "auto" on an older GPU trains in fp32, "fp16" is refused; so is "bf16" for a recipe without
    `supports_amp` (every generate and predict recipe has it)."""


def check_preset(presets: Mapping[str, Any], preset: str, family: str) -> None:
    """KeyError naming the family, the preset and the valid ones when `preset` is not in `presets`."""
    if preset not in presets:
        raise KeyError(f"unknown {family} preset {preset!r}; valid presets: {', '.join(sorted(presets))}")


def model_config_from_preset(presets: Mapping[str, ModelConfig], preset: str, overrides: Mapping[str, Any],
                             config_type: type[ModelConfig], family: str) -> ModelConfig:
    """The preset's model config with the JSON `overrides` applied (unknown fields: TypeError; unknown preset:
    KeyError, `check_preset`)."""
    check_preset(presets, preset, family)
    return dataclasses.replace(presets[preset], **config_overrides_from_json(config_type, dict(overrides)))


def served_fps(configured: float | None, data_fps: float, stride: int) -> float:
    """A generate card's frame rate: the run's `fps` when set, else the data's fps over the frame stride its training
    clips were taken at, so served motion plays at the pace it was learned."""
    return configured if configured is not None else data_fps / stride


def stack_dicts(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """A batch from data set items that are dicts of tensors: each key's tensors stacked on a new first axis."""
    return {k: torch.stack([item[k] for item in items]) for k in items[0]}


def write_clip_grid(path: Path, clips: Iterable[Iterable[torch.Tensor]]) -> Path:
    """Clips (N, T, 3, H, W) in [-1, 1] (or any rows of (3, H, W) frames) -> a PNG with one clip per row, frames left
    to right, 1-pixel white gaps around every frame."""
    rows = []
    for clip in clips:
        tiles = [np.pad(tensor_to_rgb(f), ((1, 1), (1, 1), (0, 0)), constant_values=255) for f in clip]
        rows.append(np.concatenate(tiles, axis=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, np.concatenate(rows, axis=0))
    return path


class PresetRecipe:
    """The loop's plumbing for a recipe whose run config (`run_config_type`, a frozen dataclass) names a preset.

    A subclass sets `family` and `run_config_type`, and in `__init__` sets `self.config`, `self.model_config` (it has
    `image_size`) and `self._dataset`, and calls `_setup_run`; it brings `modules`, `optimizers`, `train_step`,
    `write_sample` and `metadata` (usually `run_metadata(...)` plus its own keys)."""

    family: ClassVar[str]
    run_config_type: ClassVar[type]
    supports_amp: ClassVar[bool] = False
    """Whether `train_step` runs its forward passes under `autocast()` (else amp "auto" trains in fp32)."""
    checkpoint_exclude: tuple[str, ...] = ()
    config: Any
    model_config: Any
    run: RunSettings
    device: torch.device
    amp_dtype: torch.dtype | None = None
    _dataset: torch.utils.data.Dataset

    @classmethod
    def train_config(cls, **values: Any) -> Any:
        """The run config from flags; None keeps the field's default."""
        return cls.run_config_type(**{k: v for k, v in values.items() if v is not None})

    @classmethod
    def config_fields(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls.run_config_type)]

    def _setup_run(self, config: Any, batch: int | None = None, seed_global: bool = True) -> None:
        """`self.run` from the run config (`batch`: when the recipe resolves its own), `self.device`, and the global
        torch generator seeded with the run's seed (unless `seed_global` is False)."""
        c = config
        self.run = RunSettings(out=c.out, steps=c.steps, batch=c.batch if batch is None else batch, seed=c.seed,
                               workers=c.workers, checkpoint_every=c.checkpoint_every, sample_every=c.sample_every,
                               progress=c.progress)
        self.device = pick_device(c.device)
        mode = normalise_amp(c.amp)
        if mode == "fp16":
            raise ValueError("amp fp16: these recipes train in bf16 or fp32 (no loss scaling); use bf16, auto or off")
        if mode == "bf16" and not self.supports_amp:
            raise ValueError(f"amp bf16: the {self.family} recipe trains in fp32 only (amp off or auto)")
        dtype = amp_dtype(self.device, c.amp) if self.supports_amp else None
        self.amp_dtype = dtype if dtype == torch.bfloat16 else None
        if seed_global:
            torch.manual_seed(c.seed)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The run's mixed precision around a forward pass (and its loss); a no-op in fp32."""
        return autocast_context(self.device, self.amp_dtype)

    # -- the loop's interface --------------------------------------------------------------------------------
    def dataset(self) -> torch.utils.data.Dataset:
        return self._dataset

    def collate(self, items: list[Any]) -> Any:
        """Items that are dicts of tensors stacked key by key (`stack_dicts`)."""
        return stack_dicts(items)

    def scalers(self) -> dict[str, torch.amp.GradScaler]:
        return {}

    def checkpoint_config(self) -> dict[str, Any]:
        """The model-config overrides a checkpoint records as its `config` (and a resumed run must match)."""
        return dict(self.config.overrides)

    def run_metadata(self, **extra: Any) -> dict[str, Any]:
        """The checkpoint metadata every such recipe writes (family, preset, config, train_config, height, width),
        then `extra`."""
        c, m = self.config, self.model_config
        return {"family": self.family, "preset": c.preset, "config": self.checkpoint_config(),
                "train_config": dataclasses.asdict(c), "height": m.image_size, "width": m.image_size, **extra}

    def check_resume(self, meta: dict[str, Any]) -> None:
        """ValueError when the checkpoint's family, preset or config is not this run's."""
        ours = {"family": self.family, "preset": self.config.preset, "config": self.checkpoint_config()}
        if any(meta.get(key) != value for key, value in ours.items()):  # the same run setup, key by key
            raise ValueError(f"the checkpoint is a {meta.get('family')} {meta.get('preset')} run with config "
                             f"{meta.get('config')}, not {ours['family']} {ours['preset']} with {ours['config']}")
