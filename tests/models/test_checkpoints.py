"""Weights files (sha256-checked, fp16 export), streaming-state files and config JSON round trips."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from models.core.checkpoints import (
    ChecksumError,
    config_from_dict,
    config_to_dict,
    export_generator_fp16,
    load_generator,
    load_state,
    load_weights,
    save_state,
    save_weights,
    sha256_file,
)
from models.families.vid2vid.generator import PRESETS, Vid2VidConfig, Vid2VidGenerator, Vid2VidState
from models.families.vid2vid.single import SingleImageConfig


def _tiny(**overrides: object) -> Vid2VidGenerator:
    torch.manual_seed(0)
    return Vid2VidGenerator(dataclasses.replace(PRESETS["vid2vid-tiny"], **overrides))


def test_weights_round_trip_is_exact_and_atomic(tmp_path: Path) -> None:
    source, target = _tiny(norm="batch"), _tiny(norm="batch")
    torch.nn.init.zeros_(target.scales[0].image_head[1].weight)
    path = tmp_path / "g.safetensors"
    digest = save_weights(source, path)
    assert digest == sha256_file(path) and len(digest) == 64
    assert not path.with_name(path.name + ".partial").exists()
    load_weights(target, path, digest)
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items(), strict=True):
        assert torch.equal(a, b), name  # includes BatchNorm running stats


def test_checksum_mismatch_raises(tmp_path: Path) -> None:
    path = tmp_path / "g.safetensors"
    save_weights(_tiny(), path)
    with pytest.raises(ChecksumError, match="does not match"):
        load_weights(_tiny(), path, "0" * 64)


def test_fp16_export_loads_into_float32_module(tmp_path: Path) -> None:
    source = _tiny()
    path = tmp_path / "g16.safetensors"
    digest = export_generator_fp16(source, path)
    fp32_bytes = sum(p.numel() * 4 for p in source.parameters())
    assert path.stat().st_size < 0.6 * fp32_bytes
    target = _tiny()
    load_weights(target, path, digest)
    for p, q in zip(source.parameters(), target.parameters(), strict=True):
        assert q.dtype == torch.float32
        assert torch.equal(q, p.half().float())


def test_state_file_round_trip(tmp_path: Path) -> None:
    gen = _tiny(n_scales_spatial=2).eval()
    with torch.inference_mode():
        state = gen.start(1, 32, 32)
        _, state = gen.step(torch.rand(1, 4, 32, 32), state)
    save_state(state, tmp_path / "state.safetensors")
    restored = load_state(Vid2VidState, tmp_path / "state.safetensors")
    assert (restored.frame_index, restored.history) == (1, 1)
    for a, b in zip(state.to_tensors().values(), restored.to_tensors().values(), strict=True):
        assert torch.equal(a, b)


def test_config_json_round_trip_restores_tuples_and_nested_configs() -> None:
    config = Vid2VidConfig(
        label_channels=36,
        use_fg=True,
        fg_labels=(24, 26),
        first_frame="single_image",
        single_image=SingleImageConfig(ngf=16),
    )
    data = json.loads(json.dumps(config_to_dict(config)))
    assert data["fg_labels"] == [24, 26] and data["single_image"]["ngf"] == 16
    assert config_from_dict(Vid2VidConfig, data) == config


def test_load_generator_applies_json_overrides_and_weights(tmp_path: Path) -> None:
    pytest.importorskip("models.families.fs_vid2vid.generator")  # the registry imports both families
    overrides = {"label_channels": 5, "use_fg": True, "fg_labels": [3, 4]}
    source = _tiny(label_channels=5, use_fg=True, fg_labels=(3, 4))
    path = tmp_path / "g.safetensors"
    digest = export_generator_fp16(source, path)
    model = load_generator("vid2vid-tiny", overrides, path, digest, "cpu")
    assert isinstance(model, Vid2VidGenerator) and not model.training
    assert model.config.fg_labels == (3, 4)
    with pytest.raises(ChecksumError):
        load_generator("vid2vid-tiny", overrides, path, "f" * 64, "cpu")
