"""Mixed precision on CUDA: bf16 where the GPU has fast bf16 (compute capability >= 8.0), fp16 before that."""

from __future__ import annotations

import pytest
import torch

from workers.runner import autocast_dtype


@pytest.mark.parametrize(("capability", "dtype"), [((7, 0), torch.float16), ((7, 5), torch.float16),
                                                   ((8, 0), torch.bfloat16), ((8, 9), torch.bfloat16),
                                                   ((9, 0), torch.bfloat16)])
def test_autocast_dtype_by_compute_capability(capability: tuple[int, int], dtype: torch.dtype) -> None:
    assert autocast_dtype(capability) == dtype


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_this_gpu_gets_the_dtype_of_its_capability() -> None:
    capability = torch.cuda.get_device_capability(0)
    with torch.autocast("cuda", dtype=autocast_dtype(capability)):
        out = torch.ones(8, 8, device="cuda") @ torch.ones(8, 8, device="cuda")
    assert out.dtype == autocast_dtype(capability)
