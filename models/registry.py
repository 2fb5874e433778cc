"""One registry of named generator presets for both model families.

Each family module exports `PRESETS: dict[str, <Family>Config]` (frozen dataclasses) and its generator class.
`build_generator(name, **overrides)` returns the video generator only (every spatial scale; no discriminators).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn


def _presets() -> dict[str, Any]:
    from models.families.fs_vid2vid import generator as fs_vid2vid
    from models.families.vid2vid import generator as vid2vid  # imported here so `models.core.labels` etc. load without the networks

    merged: dict[str, Any] = {}
    for table in (vid2vid.PRESETS, fs_vid2vid.PRESETS):
        for name, config in table.items():
            if name in merged:
                raise ValueError(f"preset {name!r} is defined twice")
            merged[name] = config
    return merged


def list_presets() -> list[str]:
    """Names accepted by `build_generator`, sorted."""
    return sorted(_presets())


def get_preset_config(name: str, **overrides: Any) -> Any:
    """The frozen config of preset `name`, with `overrides` applied (unknown fields raise TypeError)."""
    presets = _presets()
    if name not in presets:
        raise KeyError(f"unknown preset {name!r}; valid presets: {', '.join(sorted(presets))}")
    return dataclasses.replace(presets[name], **overrides)


def build_generator(name: str, **overrides: Any) -> nn.Module:
    """Build the video generator of preset `name` (randomly initialised; load weights separately)."""
    from models.families.fs_vid2vid import generator as fs_vid2vid
    from models.families.vid2vid import generator as vid2vid

    config = get_preset_config(name, **overrides)
    if isinstance(config, vid2vid.Vid2VidConfig):
        return vid2vid.Vid2VidGenerator(config)
    if isinstance(config, fs_vid2vid.FewShotConfig):
        return fs_vid2vid.FewShotGenerator(config)
    raise TypeError(f"preset {name!r} has an unknown config type {type(config).__name__}")
