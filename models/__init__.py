"""PyTorch side of the service: generators, presets, losses, training, data, metrics.

Public entry points: `build_generator(name, **overrides)` and `list_presets()`.
"""

from models.registry import build_generator, get_preset_config, list_presets

__all__ = ["build_generator", "get_preset_config", "list_presets"]
