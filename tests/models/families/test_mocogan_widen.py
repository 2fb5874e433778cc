"""scripts/mocogan_widen.py: a trained MoCoGAN's image generator made wider without changing what it draws."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from models.families.mocogan.config import PRESETS, MoCoGANConfig
from models.families.mocogan.networks import MoCoGANGenerator
from scripts.mocogan_widen import main, widen
from tests.models.families.video_targets import seeded


def trained_like(config: MoCoGANConfig) -> MoCoGANGenerator:
    """A generator whose batch norms have non-trivial parameters and running statistics (as a trained one has)."""
    torch.manual_seed(0)
    gen = MoCoGANGenerator(config)
    for layer in gen.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.weight.data.uniform_(0.5, 1.5)
            layer.bias.data.normal_(0, 0.2)
            layer.running_mean.normal_(0, 0.3)
            layer.running_var.uniform_(0.5, 2.0)
    return gen


@pytest.mark.parametrize("factor", [2, 3])
def test_the_widened_generator_draws_the_same_frames_in_both_modes(factor: int) -> None:
    config = PRESETS["mocogan-tiny"]
    narrow = trained_like(config)
    wide = MoCoGANGenerator(dataclasses.replace(config, ngf=config.ngf * factor))
    wide.load_state_dict(widen(narrow.state_dict(), factor, 0.0, seeded(0)))
    latents = narrow.sample_latents(3, config.num_frames, seeded(1))
    for mode in ("eval", "train"):  # running statistics (inference) and batch statistics (training) both carry over
        narrow.train(mode == "train")
        wide.train(mode == "train")
        with torch.no_grad():
            assert torch.allclose(wide(latents), narrow(latents), atol=1e-5), mode
    assert sum(p.numel() for p in wide.parameters()) > 2 * sum(p.numel() for p in narrow.parameters())


def test_noise_makes_the_copies_differ_and_training_then_separates_them() -> None:
    config = PRESETS["mocogan-tiny"]
    narrow = trained_like(config)
    state = widen(narrow.state_dict(), 2, 0.05, seeded(0))
    first = state["image_generator.0.weight"]  # (d, 2 · c0, 4, 4)
    c0 = first.shape[1] // 2
    assert not torch.equal(first[:, :c0], first[:, c0:])
    assert torch.allclose(first[:, :c0], first[:, c0:], rtol=0.3, atol=1e-3)  # copies, slightly jittered
    plain = widen(narrow.state_dict(), 2, 0.0, seeded(0))["image_generator.0.weight"]
    assert torch.equal(plain[:, :c0], plain[:, c0:])  # without noise the copies are exact

    wide = MoCoGANGenerator(dataclasses.replace(config, ngf=config.ngf * 2)).train()
    wide.load_state_dict(state)
    loss = wide(wide.sample_latents(4, config.num_frames, seeded(2))).square().mean()
    loss.backward()
    grad = wide.image_generator[0].weight.grad  # (d, 2 · c0, 4, 4)
    assert not torch.allclose(grad[:, :c0], grad[:, c0:])  # the copies learn differently


def test_the_script_writes_a_warm_start_file_with_the_source_steps(tmp_path: Path) -> None:
    narrow = trained_like(PRESETS["mocogan-tiny"])
    source = tmp_path / "narrow.safetensors"
    save_file(narrow.state_dict(), str(source), metadata={"family": "mocogan", "trained_steps": "120"})
    out = tmp_path / "wide.safetensors"
    assert main([str(source), str(out), "--factor", "2", "--noise", "0"]) == 0
    with safe_open(str(out), framework="pt") as f:
        meta = f.metadata()
        assert f.get_tensor("image_generator.0.weight").shape[1] == 2 * narrow.image_generator[0].weight.shape[1]
    assert meta["family"] == "mocogan" and meta["trained_steps"] == "120" and meta["factor"] == "2"
    with pytest.raises(ValueError, match="factor"):
        widen(narrow.state_dict(), 0, 0.0, seeded(0))
