"""The one registry of model families and their named presets.

`FAMILY_PACKAGES` lists every family package the service ships, once; each exports its `FAMILY` descriptor
(`models.core.family.Family`). Families that live elsewhere (your own package, a test's) are added with
`register(FAMILY)` in-process, or for every process of a deployment (API-free: the worker, `v2v generate`, `v2v eval`,
`v2v train`) by naming their modules in `V2V_FAMILY_MODULES` (comma-separated; each exports `FAMILY`). Unknown family
or preset names fail with the list of valid ones.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from torch import nn

from models.core.family import Family

FAMILY_PACKAGES: tuple[str, ...] = (
    "models.families.vid2vid",
    "models.families.fs_vid2vid",
    "models.families.svg_lp",
    "models.families.mocogan",
    "models.families.vgan",
    "models.families.savp",
    "models.families.tgan",
    "models.families.videovae",
)
"""The families the service ships, by package (imported on first use, so `models.core.labels` loads without them)."""

_families: dict[str, Family] = {}


FAMILY_MODULES_ENV = "V2V_FAMILY_MODULES"


def _load() -> dict[str, Family]:
    if not _families:
        extra = [m.strip() for m in os.environ.get(FAMILY_MODULES_ENV, "").split(",") if m.strip()]
        for package in (*FAMILY_PACKAGES, *extra):
            _add(importlib.import_module(package).FAMILY)
    return _families


def register(family: Family) -> Family:
    """Add a family (idempotent for the same object); its preset names must be new."""
    _load()
    return _add(family)


def _add(family: Family) -> Family:
    families = _families
    existing = families.get(family.name)
    if existing is family:
        return family
    if existing is not None:
        raise ValueError(f"family {family.name!r} is registered twice")
    taken = {p for f in families.values() for p in f.presets}
    clash = sorted(taken & set(family.presets))
    if clash:
        raise ValueError(f"presets {clash} of family {family.name!r} are defined twice")
    families[family.name] = family
    return family


def list_families() -> list[str]:
    return sorted(_load())


def get_family(name: str) -> Family:
    families = _load()
    if name not in families:
        raise KeyError(f"unknown model family {name!r}; valid families: {', '.join(sorted(families))}")
    return families[name]


def find_recipe(target: str) -> tuple[Family, str]:
    """`family`, `family:recipe`, or a recipe name that one family alone has -> (family, recipe name)."""
    if ":" in target:
        name, _, recipe = target.partition(":")
        return get_family(name), recipe
    families = _load()
    if target in families:
        return families[target], "default"
    owners = [f for f in families.values() if target in f.recipes]
    if len(owners) == 1:
        return owners[0], target
    raise KeyError(f"unknown family or recipe {target!r}; families: {', '.join(sorted(families))}")


def family_of_preset(preset: str) -> Family:
    for family in _load().values():
        if preset in family.presets:
            return family
    raise KeyError(f"unknown preset {preset!r}; valid presets: {', '.join(list_presets())}")


def list_presets() -> list[str]:
    """Every family's preset names, sorted."""
    return sorted(p for f in _load().values() for p in f.presets)


def get_preset_config(name: str, **overrides: Any) -> Any:
    """The frozen config of preset `name`, with typed `overrides` applied (unknown fields raise TypeError)."""
    import dataclasses

    return dataclasses.replace(family_of_preset(name).presets[name], **overrides)


def build_generator(name: str, **overrides: Any) -> nn.Module:
    """Build the generator of preset `name` (randomly initialised; load weights separately)."""
    family = family_of_preset(name)
    return family.build(get_preset_config(name, **overrides))
