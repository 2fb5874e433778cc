"""The state a job writes per frame is small and still resumes bit for bit: binary tensors are bit-packed
losslessly, vid2vid keeps only its finest label history, the shipped street model writes at most 1 MB per frame at
128x256, and the background writer raises a write error at its next call."""

from __future__ import annotations

import dataclasses
import errno
from pathlib import Path

import pytest
import torch

from app.contracts import load_manifest
from models.core.family import TranslateStart, WeightsRef
from models.families.vid2vid.generator import PRESETS, Vid2VidGenerator, Vid2VidState
from models.registry import get_family
from workers.job_state import (
    StateWriter,
    decode_state,
    encode_state,
    is_binary,
    load_job_state,
    save_job_state,
)
from workers.labels_input import LabelEncoder
from workers.video_io import read_label_frames

REPO = Path(__file__).resolve().parents[2]


def one_hot(ids: torch.Tensor, channels: int) -> torch.Tensor:
    """(B, H, W) int64 -> (B, C, H, W) float one-hot."""
    return torch.zeros(ids.shape[0], channels, *ids.shape[1:]).scatter_(1, ids.unsqueeze(1), 1.0)


def test_binary_tensors_round_trip_exactly_and_shrink():
    torch.manual_seed(0)
    labels = one_hot(torch.randint(0, 35, (2, 64, 96)), 35)  # (2, 35, 64, 96)
    frames = torch.rand(2, 3, 64, 96) * 2 - 1
    odd = torch.zeros(8192)
    odd[3] = -0.0  # a negative zero is not binary: packing would lose its sign
    odd[5] = 1.0
    halves = torch.ones(8192, dtype=torch.bfloat16)
    payload, metadata = encode_state({"labels": labels, "frames": frames, "odd": odd, "halves": halves})
    assert payload["labels"].dtype == torch.uint8 and payload["labels"].numel() * 20 < labels.numel() * 4
    assert payload["frames"] is not None and payload["frames"].dtype == torch.float32  # not binary: as it is
    assert is_binary(halves) and not is_binary(odd.clone().fill_(-0.0)) and not is_binary(frames)
    decoded = decode_state(payload, metadata)
    for name, original in (("labels", labels), ("frames", frames), ("odd", odd), ("halves", halves)):
        assert decoded[name].dtype == original.dtype and torch.equal(decoded[name], original)
        assert torch.equal(torch.signbit(decoded[name]), torch.signbit(original))


def test_vid2vid_state_keeps_only_the_finest_labels_and_resumes_bit_for_bit():
    config = dataclasses.replace(PRESETS["vid2vid-tiny"], n_scales_spatial=2, ngf=8)
    torch.manual_seed(0)
    gen = Vid2VidGenerator(config).eval()
    steps = [one_hot(torch.randint(0, 4, (1, 32, 48)), 4) for _ in range(6)]
    with torch.no_grad():
        state = gen.start(1, 32, 48)
        straight = []
        for labels in steps:
            out, state = gen.step(labels, state)
            straight.append(out.frame)
        state = gen.start(1, 32, 48)
        resumed = []
        for i, labels in enumerate(steps):
            if i == 3:
                tensors = state.to_tensors()
                assert "labels.0" not in tensors and "labels.1" in tensors and "frames.0" in tensors
                state = Vid2VidState.from_tensors(tensors)
            out, state = gen.step(labels, state)
            resumed.append(out.frame)
    for a, b in zip(straight, resumed, strict=True):
        assert torch.equal(a, b)


def test_the_street_model_writes_at_most_1_mb_of_state_per_frame(tmp_path: Path):
    manifest = load_manifest(REPO / "checkpoints" / "manifest.json")
    card = manifest.models["street"]
    family = get_family(card.family)
    weights = {"generator": WeightsRef(REPO / "checkpoints" / card.weights.file, card.weights.sha256)}
    pipeline = family.load(family.config(card.preset, card.config), weights, torch.device("cpu"))
    encoder = LabelEncoder(card.inputs.labels, 128, 256)
    rng = torch.Generator().manual_seed(0)
    sizes = []
    with torch.inference_mode():
        state = pipeline.start(TranslateStart(128, 256), rng)
        for _, frame in zip(range(3), read_label_frames(REPO / "samples" / "street.mp4", "video"), strict=False):
            _, state = pipeline.step(state, encoder(frame), rng)
            sizes.append(save_job_state(tmp_path, 1, pipeline.state_to_tensors(state), torch.device("cpu")))
    assert max(sizes) <= 1_000_000, sizes
    saved = load_job_state(tmp_path, torch.device("cpu"))
    assert saved is not None
    for name, tensor in pipeline.state_to_tensors(state).items():
        assert torch.equal(saved.tensors[name], tensor), name


def test_the_background_writer_reports_a_full_disk_at_its_next_call(tmp_path: Path, monkeypatch):
    writer = StateWriter(tmp_path)
    writer.submit(1, {"x": torch.ones(3)}, torch.device("cpu"))
    writer.flush()
    assert load_job_state(tmp_path, torch.device("cpu")).next_frame == 1

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("workers.job_state._write_atomic", full)
    writer.submit(2, {"x": torch.ones(3)}, torch.device("cpu"))
    with pytest.raises(OSError) as caught:
        writer.submit(3, {"x": torch.ones(3)}, torch.device("cpu"))
    assert caught.value.errno == errno.ENOSPC
    writer.close()
    assert load_job_state(tmp_path, torch.device("cpu")).next_frame == 1
