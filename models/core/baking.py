"""Serving-time baking of weight parametrizations (spectral norm): compute W / σ once instead of at every use.

A parametrized layer recomputes its weight from the stored original at every access; in eval mode the result never
changes, so a served model can hold the value itself: the same outputs bit for bit, less work per frame.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize


def bake_parametrizations(module: nn.Module) -> nn.Module:
    """Replace every parametrization of `module` by its value in eval mode, in place (no-op without any). Only for a
    module built on its own, not a deep copy: a parametrized layer's class is shared with its copies, and removing
    the parametrization from one removes it from the class."""
    module.eval()
    with torch.no_grad():
        for sub in module.modules():
            if parametrize.is_parametrized(sub):
                for name in list(sub.parametrizations.keys()):
                    parametrize.remove_parametrizations(sub, name, leave_parametrized=True)
    return module
