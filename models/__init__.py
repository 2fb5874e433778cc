"""PyTorch side of the service: model families (`models.families.*`), shared blocks (`models.core`), one registry.

Public entry points: `get_family(name)`, `list_families()`, `register(family)`, `build_generator(preset)`,
`list_presets()`.
"""

from models.registry import (
    build_generator,
    family_of_preset,
    get_family,
    get_preset_config,
    list_families,
    list_presets,
    register,
)

__all__ = ["build_generator", "family_of_preset", "get_family", "get_preset_config", "list_families", "list_presets",
           "register"]
