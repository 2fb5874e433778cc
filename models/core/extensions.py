"""Zero-initialised extensions: modules added to a published architecture that start as an exact no-op.

A module deriving from `ZeroInitExtension` adds a path whose output is zero until trained (e.g. vid2vid's label skip),
so weights trained without it describe the same function with it. Warm starts (`training.warm_start`) therefore
accept a source that lacks exactly these tensors, and nothing else.
"""

from __future__ import annotations

from torch import nn


class ZeroInitExtension(nn.Module):
    """Marker base class: such a module's contribution starts at exactly zero (its last layer is zero-initialised),
    whatever its other parameters hold."""


def extension_tensor_names(root: nn.Module) -> set[str]:
    """State-dict names of every tensor owned by a `ZeroInitExtension` inside `root`."""
    names: set[str] = set()
    for prefix, module in root.named_modules():
        if isinstance(module, ZeroInitExtension):
            names.update(f"{prefix}.{name}" if prefix else name for name in module.state_dict())
    return names
