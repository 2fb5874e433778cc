"""The precision a worker serves in: bf16/fp16 on CUDA by compute capability; on CPUs bf16 only with bf16
instructions and a probe that shows it faster, else fp32; forced by V2V_PRECISION; reported by `/v1/models`."""

from __future__ import annotations

import pytest
import torch

from workers import precision as precision_module
from workers.precision import Precision, choose_precision, cpu_bf16_flags, cuda_dtype

AVX2_ONLY = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"
WITH_AMX = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"


@pytest.mark.parametrize(("capability", "name"), [((7, 0), "fp16"), ((7, 5), "fp16"), ((8, 0), "bf16"),
                                                  ((8, 9), "bf16"), ((9, 0), "bf16")])
def test_cuda_precision_by_compute_capability(capability: tuple[int, int], name: str) -> None:
    assert cuda_dtype(capability) == name


def test_cpu_without_bf16_instructions_serves_fp32_without_probing(monkeypatch) -> None:
    monkeypatch.setattr(precision_module, "probe_bf16_speedup", lambda: pytest.fail("probed"))
    chosen = choose_precision(torch.device("cpu"), cpuinfo=AVX2_ONLY)
    assert chosen.name == "fp32" and chosen.dtype is None and "no bf16 instructions" in chosen.reason
    assert cpu_bf16_flags(WITH_AMX) == ["amx_bf16", "avx512_bf16"] and cpu_bf16_flags(AVX2_ONLY) == []


@pytest.mark.parametrize(("speedup", "name"), [(1.8, "bf16"), (1.02, "fp32")])
def test_cpu_with_bf16_instructions_follows_the_probe(speedup: float, name: str, monkeypatch) -> None:
    monkeypatch.setattr(precision_module, "probe_bf16_speedup", lambda: speedup)
    chosen = choose_precision(torch.device("cpu"), cpuinfo=WITH_AMX)
    assert chosen.name == name and f"{speedup:.2f}x" in chosen.reason


def test_a_requested_precision_wins_and_bad_names_are_refused() -> None:
    assert choose_precision(torch.device("cpu"), "bf16", cpuinfo=AVX2_ONLY).name == "bf16"
    with pytest.raises(ValueError, match="expected one of"):
        choose_precision(torch.device("cpu"), "int8")


def test_the_autocast_context_runs_in_the_chosen_dtype() -> None:
    with Precision("bf16", "test").autocast(torch.device("cpu")):
        out = torch.ones(4, 4) @ torch.ones(4, 4)
    assert out.dtype == torch.bfloat16
    with Precision("fp32", "test").autocast(torch.device("cpu")):
        assert (torch.ones(4, 4) @ torch.ones(4, 4)).dtype == torch.float32


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_this_gpu_gets_the_precision_of_its_capability() -> None:
    chosen = choose_precision(torch.device("cuda:0"))
    with chosen.autocast(torch.device("cuda:0")):
        out = torch.ones(8, 8, device="cuda") @ torch.ones(8, 8, device="cuda")
    assert out.dtype == chosen.dtype
