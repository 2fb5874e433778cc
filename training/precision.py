"""Mixed precision for training (`TrainConfig.amp`): which autocast dtype a run's forward passes use.

- `"auto"` (default): CUDA trains in bf16 autocast where the GPU has fast bf16 (compute capability 8.0+), fp16 with
  loss scaling before that; a CPU trains in bf16 autocast when it has bf16 instructions (`avx512_bf16`/`amx_bf16`)
  and the probe convolution beats fp32 by `MIN_BF16_SPEEDUP` (`models.core.cpu_bf16`); fp32 otherwise.
- `"bf16"` / `"fp16"`: forced (fp16 on CPU is refused: PyTorch's CPU autocast has no fast fp16).
- `"off"` (or False): fp32.

Weights, optimiser state and losses stay fp32 in every mode; autocast only lowers the matmuls and convolutions.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, TypeVar

import torch

from models.core.cpu_bf16 import MIN_BF16_SPEEDUP, cpu_bf16_flags, probe_bf16_speedup, read_cpuinfo

Output = TypeVar("Output")

AMP_MODES = ("auto", "bf16", "fp16", "off")


def normalise_amp(amp: bool | str) -> str:
    """A mode of `AMP_MODES` from a config value (old run configs stored True / False)."""
    if amp is True:
        return "auto"
    if amp is False:
        return "off"
    if amp not in AMP_MODES:
        raise ValueError(f"amp {amp!r}: expected one of {', '.join(AMP_MODES)}")
    return amp


def amp_dtype(device: torch.device, amp: bool | str, cpuinfo: str | None = None) -> torch.dtype | None:
    """The autocast dtype of training on `device` (None: fp32)."""
    mode = normalise_amp(amp)
    if mode == "off" or device.type not in ("cuda", "cpu"):
        return None
    if mode == "bf16":
        return torch.bfloat16
    if mode == "fp16":
        if device.type == "cpu":
            raise ValueError("amp fp16 is CUDA only; a CPU trains in bf16 or fp32")
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if not cpu_bf16_flags(read_cpuinfo() if cpuinfo is None else cpuinfo):
        return None
    return torch.bfloat16 if probe_bf16_speedup() >= MIN_BF16_SPEEDUP else None


def autocast_context(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    """Autocast to `dtype` on `device` around a forward pass (and its loss); a no-op for None (fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def in_fp32(output: Output) -> Output:
    """A forward's output with every floating tensor in fp32, for losses computed outside autocast: a tensor, None, a
    tuple of them, or a dataclass whose fields are any of these (rebuilt; other values kept). fp32 tensors are
    returned as they are, so an fp32 run is unchanged."""
    if isinstance(output, torch.Tensor):
        return output.float() if output.is_floating_point() else output  # type: ignore[return-value]
    if isinstance(output, tuple):
        return type(output)(in_fp32(item) for item in output)  # type: ignore[return-value]
    if dataclasses.is_dataclass(output) and not isinstance(output, type):
        return dataclasses.replace(output, **{f.name: in_fp32(getattr(output, f.name))
                                              for f in dataclasses.fields(output) if f.init})
    return output
