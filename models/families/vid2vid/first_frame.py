"""vid2vid's single-image first-frame generator (reference §1.6) as the serving side loads it: its config under a
card's preset + overrides, and the verified network."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.core.checkpoints import config_overrides_from_json, load_weights
from models.families.vid2vid.generator import PRESETS, Vid2VidConfig
from models.families.vid2vid.single import SingleImageConfig, SingleImageGenerator


def single_image_config(preset: str, config_overrides: dict[str, Any]) -> SingleImageConfig:
    """The `SingleImageConfig` (first-frame generator, reference §1.6) of vid2vid preset `preset` under JSON
    `config_overrides`; ValueError when that config has none (first_frame is not "single_image")."""
    if preset not in PRESETS:
        raise KeyError(f"unknown vid2vid preset {preset!r}; valid presets: {', '.join(sorted(PRESETS))}")
    base = PRESETS[preset]
    config = dataclasses.replace(base, **config_overrides_from_json(Vid2VidConfig, config_overrides))
    single = config.single_image
    if single is None:
        raise ValueError(
            f"preset {preset!r} with config {config_overrides} has no single-image generator: use a vid2vid preset "
            'with first_frame "single_image", or override first_frame and single_image'
        )
    return single


def load_single_image_generator(
    preset: str,
    config_overrides: dict[str, Any],
    weights_path: Path | None,
    sha256: str | None,
    device: torch.device | str,
) -> nn.Module:
    """`load_generator` for the single-image first-frame generator of a vid2vid preset + overrides (a manifest's
    `preset` / `config`; weights: the card's `first_frame_weights` / `first_frame_sha256`)."""
    model = SingleImageGenerator(single_image_config(preset, config_overrides))
    if weights_path is not None:
        load_weights(model, weights_path, sha256)
    return model.to(device).eval()
