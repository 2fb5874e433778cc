"""The precision a worker serves in, chosen once at start-up: the fastest that is safe on this device.

- CUDA: bf16 autocast on GPUs with fast bf16 (compute capability 8.0 and up: Ampere, Hopper...), fp16 before that
  (Volta, Turing: bf16 is emulated there, or missing).
- CPU: bf16 autocast only where the CPU has bf16 instructions (`avx512_bf16` or `amx_bf16`) *and* a probe
  convolution runs at least `MIN_BF16_SPEEDUP` times faster in it than in fp32; fp32 otherwise. Without those
  instructions PyTorch emulates bf16, which on an AVX2 CPU is two orders of magnitude slower than fp32.
- `V2V_PRECISION` / `v2v worker --precision` forces one (`fp32`, `bf16`, `fp16`; `auto` = the rules above).

The worker logs the choice and publishes it with its heartbeat (`app.liveness.publish_worker_info`);
`GET /v1/models` reports what the live workers serve in.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

from models.core.cpu_bf16 import MIN_BF16_SPEEDUP, cpu_bf16_flags, probe_bf16_speedup, read_cpuinfo

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
SERVED_PRECISIONS = tuple(_DTYPES)
"""What a worker (and a job's saved state) can be in: every name of PRECISIONS but "auto"."""


@dataclass(frozen=True)
class Precision:
    name: str
    """"fp32", "bf16" or "fp16"."""
    reason: str
    """Why it was chosen (logged and reported)."""

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype; None for plain fp32."""
        return _DTYPES[self.name]

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager[Any]:
        """The context a job's generator steps run in."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)


def cuda_dtype(capability: tuple[int, int]) -> str:
    """bf16 from compute capability 8.0 (fast bf16 tensor cores), fp16 before."""
    return "bf16" if capability >= (8, 0) else "fp16"


def choose_precision(device: torch.device, requested: str = "auto", cpuinfo: str | None = None) -> Precision:
    """The precision to serve in on `device` (`requested`: one of PRECISIONS)."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision {requested!r}: expected one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        return Precision(requested, "requested (V2V_PRECISION / --precision)")
    if device.type == "cuda":
        capability = torch.cuda.get_device_capability(device)
        name = cuda_dtype(capability)
        return Precision(name, f"CUDA compute capability {capability[0]}.{capability[1]}")
    if device.type != "cpu":
        return Precision("fp32", f"no reduced-precision rule for {device.type}")
    flags = cpu_bf16_flags(read_cpuinfo() if cpuinfo is None else cpuinfo)
    if not flags:
        return Precision("fp32", "this CPU has no bf16 instructions (avx512_bf16, amx_bf16): bf16 would be emulated")
    speedup = probe_bf16_speedup()
    if speedup < MIN_BF16_SPEEDUP:
        return Precision("fp32", f"bf16 ({', '.join(flags)}) was only {speedup:.2f}x fp32 on the probe")
    return Precision("bf16", f"bf16 ({', '.join(flags)}) is {speedup:.2f}x fp32 on the probe")
