"""Training's mixed precision (`training.precision`, `TrainConfig.amp`): which autocast a run uses on which device,
and that a vid2vid run trained in CPU bf16 autocast still learns (weights and optimiser state stay fp32)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from corpora.clips import collate_clips
from models.families.vid2vid.recipe import VideoRecipe
from training import loop_for
from training import precision as precision_module
from training.precision import amp_dtype, in_fp32, normalise_amp

WITH_AMX = "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
AVX2_ONLY = "flags\t\t: fpu sse2 avx2 fma\n"
CPU = torch.device("cpu")


def test_old_boolean_configs_and_bad_modes() -> None:
    assert normalise_amp(True) == "auto" and normalise_amp(False) == "off" and normalise_amp("bf16") == "bf16"
    with pytest.raises(ValueError, match="expected one of"):
        normalise_amp("int8")
    with pytest.raises(ValueError, match="CUDA only"):
        amp_dtype(CPU, "fp16")


def test_cpu_auto_uses_bf16_only_with_bf16_units_that_pay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision_module, "probe_bf16_speedup", lambda: pytest.fail("probed"))
    assert amp_dtype(CPU, "auto", cpuinfo=AVX2_ONLY) is None  # emulated bf16: never, and no probe
    assert amp_dtype(CPU, "off", cpuinfo=WITH_AMX) is None
    assert amp_dtype(CPU, "bf16", cpuinfo=AVX2_ONLY) == torch.bfloat16  # asked for: given
    monkeypatch.setattr(precision_module, "probe_bf16_speedup", lambda: 1.8)
    assert amp_dtype(CPU, "auto", cpuinfo=WITH_AMX) == torch.bfloat16
    monkeypatch.setattr(precision_module, "probe_bf16_speedup", lambda: 1.02)
    assert amp_dtype(CPU, "auto", cpuinfo=WITH_AMX) is None


def _psnr(loop) -> float:  # type: ignore[no-untyped-def]
    recipe = loop.recipe
    clip = recipe.to_device(collate_clips([recipe.dataset()[0]]), 4)
    recipe.gen.eval()
    with torch.no_grad(), recipe.autocast():
        generated, _ = recipe.generate(clip, 0)
    recipe.gen.train()
    mse = sum(((g.frame.float() - clip.frames[:, g.t]) ** 2).mean().item() / 4 for g in generated) / len(generated)
    return 10 * math.log10(1 / mse)


def test_vid2vid_overfits_in_cpu_bf16_autocast(square_data: Path, tmp_path: Path) -> None:
    config = VideoRecipe.train_config(preset="vid2vid-tiny", data=str(square_data), out=str(tmp_path / "run"),
                                      height=32, width=32, clip_frames=4, max_clip_frames=4, flip=False, steps=20,
                                      lr=1e-3, checkpoint_every=0, sample_every=0, progress=False, num_D=1,
                                      n_layers_D=2, ndf=16, n_scales_temporal=1, amp="bf16", device="cpu")
    loop = loop_for(config)
    assert loop.recipe.amp_dtype == torch.bfloat16
    before = _psnr(loop)
    results = loop.fit()
    after = _psnr(loop)
    assert after > before + 3.0, (before, after)
    assert all(math.isfinite(v) for r in results for v in r.losses.values())
    assert results[-1].losses["G_flow_l1"] < results[0].losses["G_flow_l1"]
    assert all(p.dtype == torch.float32 for p in loop.recipe.gen.parameters())  # master weights stay fp32


def test_in_fp32_lifts_tensors_tuples_and_dataclass_fields_and_leaves_fp32_as_is() -> None:
    @dataclass
    class Output:
        frames: torch.Tensor
        features: tuple[torch.Tensor, ...]
        mask: torch.Tensor | None
        labels: torch.Tensor
        name: str

    half = torch.ones(2, 3, dtype=torch.bfloat16) / 3
    out = in_fp32(Output(half, (half, half * 2), None, torch.tensor([1, 2]), "x"))
    assert isinstance(out, Output) and out.frames.dtype == torch.float32 and out.name == "x" and out.mask is None
    assert [f.dtype for f in out.features] == [torch.float32, torch.float32] and isinstance(out.features, tuple)
    assert out.labels.dtype == torch.int64  # integer tensors are not floated
    assert torch.equal(out.features[1], (half * 2).float())
    full = torch.rand(3)
    assert in_fp32(full) is full and in_fp32(None) is None
