"""Multiply-accumulates of one call, counted by torch's own `FlopCounterMode` (aten-level, so functional convs,
per-sample "generated" convs and attention matmuls are all seen), plus a grid_sample cost.

What is counted: convolutions (incl. transposed and grouped), mm/addmm/bmm/baddbmm/einsum-as-bmm, SDPA, and
`grid_sampler_2d` (4 MACs per output element for bilinear, 1 nearest, 16 bicubic). Not counted: element-wise ops,
normalisation, activations, interpolation, padding — memory-bound work that costs time but no MACs.
`FlopCounterMode` reports FLOPs = 2 x MACs for the matmul-like ops; we divide by 2.

Works on real tensors and on the meta device (paper-size presets without running them): build the generator under
`torch.device("meta")` and feed meta tensors.

    macs = count_macs(lambda: gen.step(labels, state))   # -> MacCount(total=..., by_op={...}, result=...)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten

_GRID_SAMPLE_TAPS = {0: 4, 1: 1, 2: 16}  # interpolation_mode: bilinear, nearest, bicubic


def _grid_sampler_2d_flop(input_shape: Any, grid_shape: Any, interpolation_mode: int = 0, *args: Any,
                          out_shape: Any = None, **kwargs: Any) -> int:
    """FLOPs (2 x MACs) of grid_sampler_2d: taps per output element of every channel."""
    n, c = input_shape[0], input_shape[1]
    h_out, w_out = grid_shape[1], grid_shape[2]
    return 2 * _GRID_SAMPLE_TAPS.get(int(interpolation_mode), 4) * n * c * h_out * w_out


@dataclass
class MacCount:
    total: int
    """All counted MACs."""
    by_op: dict[str, int] = field(default_factory=dict)
    """MACs per aten op (e.g. "convolution", "bmm", "grid_sampler_2d")."""
    result: Any = None
    """What the measured call returned."""

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "by_op": dict(self.by_op)}


def count_macs(fn: Callable[[], Any], module: nn.Module | None = None) -> MacCount:
    """MACs of `fn()` (run once, under the counter).

    `module`: the network `fn` runs. Its parameters are set to requires_grad=False for the count (and restored):
    FlopCounterMode's module tracker tries to hook gradients of parameters, which fails in inference mode for
    parametrized (spectral-norm) weights.
    """
    flags: list[tuple[nn.Parameter, bool]] = []
    if module is not None:
        flags = [(p, p.requires_grad) for p in module.parameters()]
        for p, _ in flags:
            p.requires_grad_(False)
    try:
        counter = FlopCounterMode(display=False, custom_mapping={aten.grid_sampler_2d: _grid_sampler_2d_flop})
        with counter:
            result = fn()
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
    by_op: dict[str, int] = {}
    for op, flops in counter.get_flop_counts().get("Global", {}).items():
        name = str(op).split(".")[-1] if "." in str(op) else str(op)
        by_op[name] = by_op.get(name, 0) + int(flops) // 2
    return MacCount(total=int(counter.get_total_flops()) // 2, by_op=by_op, result=result)
