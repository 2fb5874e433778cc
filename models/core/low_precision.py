"""Reduced-precision copies of layer weights for autocast serving. torch only.

Under autocast every convolution and linear layer casts its fp32 weight (and bias) to bf16 / fp16 at every call:
`torch.inference_mode` disables autocast's weight cache, and the cache is emptied whenever an autocast region exits.
For the 411 M-parameter vid2vid 2048 generator that is ~0.4 s of a 5 s CPU frame, spent copying the same numbers.

`keep_low_precision_weights(obj, dtype)` gives every plain Conv / ConvTranspose / Linear layer of `obj` (a module,
or a pipeline holding modules) a copy of its weight and bias in `dtype`, used when autocast to `dtype` is on for the
input's device and no gradient is recorded. The copy is the cast autocast makes (round to nearest even), so the
outputs are bit-identical. The fp32 parameters stay: exact fp32 paths (autocast off), gradients (a per-job
adaptation) and exports use them. A layer whose weights change afterwards (an adapted copy) needs
`refresh_low_precision_weights(obj)` before it serves again. Cost: the copies' memory (half the fp32 weights' for
bf16 / fp16). Workers keep copies on CPUs only (`workers.runner`): a GPU casts at hundreds of GB/s, where the copies
would save ~1 % of a frame for half the weights' memory again.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize


def _low_precision(layer: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """The layer's (weight, bias) copies when they apply to this call, else None."""
    copies = layer.__dict__.get("_low_precision")
    if copies is None or torch.is_grad_enabled():
        return None
    device = x.device.type
    if not torch.is_autocast_enabled(device) or torch.get_autocast_dtype(device) != copies[0].dtype:
        return None
    return copies


class _ConvWithCopies:
    """Conv1d/2d/3d forward that convolves with the copies when they apply."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        copies = _low_precision(self, x)  # type: ignore[arg-type]
        return super().forward(x) if copies is None else self._conv_forward(x, *copies)  # type: ignore[misc,attr-defined]


class LowPrecisionConv1d(_ConvWithCopies, nn.Conv1d):
    pass


class LowPrecisionConv2d(_ConvWithCopies, nn.Conv2d):
    pass


class LowPrecisionConv3d(_ConvWithCopies, nn.Conv3d):
    pass


class LowPrecisionConvTranspose2d(nn.ConvTranspose2d):
    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        copies = _low_precision(self, x)
        if copies is None:
            return super().forward(x, output_size)
        output_padding = self._output_padding(x, output_size, list(self.stride), list(self.padding),
                                              list(self.kernel_size), 2, list(self.dilation))
        return F.conv_transpose2d(x, copies[0], copies[1], self.stride, self.padding, output_padding, self.groups,
                                  self.dilation)


class LowPrecisionLinear(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        copies = _low_precision(self, x)
        return super().forward(x) if copies is None else F.linear(x, *copies)


_SWAPS: dict[type[nn.Module], type[nn.Module]] = {
    nn.Conv1d: LowPrecisionConv1d,
    nn.Conv2d: LowPrecisionConv2d,
    nn.Conv3d: LowPrecisionConv3d,
    nn.ConvTranspose2d: LowPrecisionConvTranspose2d,
    nn.Linear: LowPrecisionLinear,
}


def modules_of(obj: Any) -> list[nn.Module]:
    """`obj` itself when it is a module, else the modules among its attributes (a pipeline's networks)."""
    if isinstance(obj, nn.Module):
        return [obj]
    return [value for value in vars(obj).values() if isinstance(value, nn.Module)]


def _copy_weights(layer: nn.Module, dtype: torch.dtype) -> None:
    bias = None if layer.bias is None else layer.bias.detach().to(dtype)
    layer.__dict__["_low_precision"] = (layer.weight.detach().to(dtype), bias)


def keep_low_precision_weights(obj: Any, dtype: torch.dtype) -> int:
    """Give every plain Conv1d/2d/3d, ConvTranspose2d and Linear layer of `obj` a `dtype` copy of its weight and
    bias (layers with parametrizations, e.g. a live spectral norm, are left alone). Returns how many layers."""
    count = 0
    for module in modules_of(obj):
        for layer in module.modules():
            swap = _SWAPS.get(type(layer)) or (type(layer) if type(layer) in _SWAPS.values() else None)
            if swap is None or parametrize.is_parametrized(layer):
                continue
            layer.__class__ = swap
            _copy_weights(layer, dtype)
            count += 1
    return count


def refresh_low_precision_weights(obj: Any) -> int:
    """Re-make the copies of every layer of `obj` that has them (after its weights changed). Returns how many."""
    count = 0
    for module in modules_of(obj):
        for layer in module.modules():
            copies = layer.__dict__.get("_low_precision")
            if copies is not None:
                _copy_weights(layer, copies[0].dtype)
                count += 1
    return count
