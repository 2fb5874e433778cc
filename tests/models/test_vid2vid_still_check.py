"""The vid2vid still check (ours, no weights): where the label edges did not move, the previous frame is taken
unmoved whatever the flow says; where they moved with the flow, the flow is kept; off by default."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from models.families.vid2vid.generator import PRESETS
from models.families.vid2vid.still_check import still_weight, trusted_previous
from tests.models.test_vid2vid import H, W, _force_heads, _gen


def _block(col0: int, col1: int) -> torch.Tensor:
    """(1, 2, H, W) one-hot: class 1 in columns col0..col1-1, class 0 elsewhere."""
    labels = torch.zeros(1, 2, H, W)
    labels[:, 0] = 1
    labels[:, 0, :, col0:col1], labels[:, 1, :, col0:col1] = 0, 1
    return labels


def test_weight_prefers_the_unmoved_labels_only_where_they_fit_better() -> None:
    previous = _block(8, 16)
    shifted = _block(6, 14)  # the previous labels moved 2 px left, as a flow of 2 px would carry them
    still = still_weight(previous, previous, shifted, window=0.25)  # labels unchanged, the flow says 2 px
    assert torch.all(still[..., 4:18] == 1)  # around the edges the zero flow explains the labels
    moved = still_weight(previous, shifted, shifted, window=0.25)  # labels did move 2 px, the flow agrees
    assert torch.all(moved == 0)
    assert still_weight(previous, previous, previous, window=0.25).sum() == 0  # nothing to tell: keep the flow


def test_generator_warps_by_zero_where_the_labels_stood_still() -> None:
    labels = torch.zeros(1, 4, H, W)
    labels[:, 0] = 1
    labels[:, 0, :, 8:16], labels[:, 1, :, 8:16] = 0, 1  # a still class-1 block
    history = labels.unsqueeze(1).expand(-1, 2, -1, -1, -1)  # (B, L, C, H, W): the block has not moved
    previous = torch.rand(1, 2, 3, H, W) * 2 - 1
    outputs = {}
    for window in (0.0, 0.25):
        gen = _gen(still_check=window)
        _force_heads(gen, mask_logit=-1e4, flow_px=(2.0, 0.0))  # a wrong 2 px flow, the warp taken everywhere
        outputs[window], _ = gen.step(labels, gen.start(1, H, W, first_frames=previous, first_labels=history))
    assert torch.allclose(outputs[0.0].frame[..., :-2], previous[:, -1, :, :, 2:], atol=1e-5)  # the paper: slid
    assert torch.allclose(outputs[0.25].frame[..., 4:18], previous[:, -1, :, :, 4:18], atol=1e-5)  # held still
    assert all(preset.still_check == 0 for preset in PRESETS.values())


def test_window_must_be_a_share_of_the_frame_height() -> None:
    with pytest.raises(ValueError, match="still_check"):
        dataclasses.replace(PRESETS["vid2vid-tiny"], still_check=2.0)


def test_with_the_label_gate_neither_source_carries_another_class_in() -> None:
    """The block moved 4 px left, the flow says 2 px right: in columns 4-5 and 12-13 neither the unmoved nor the
    warped previous labels match the current ones, so the frame there is the hallucination."""
    previous_labels = torch.zeros(1, 2, 4, H, W)
    previous_labels[:, :, 0] = 1
    previous_labels[:, :, 0, :, 8:16], previous_labels[:, :, 1, :, 8:16] = 0, 1
    labels = torch.zeros(1, 4, H, W)
    labels[:, 0] = 1
    labels[:, 0, :, 4:12], labels[:, 1, :, 4:12] = 0, 1
    gen = _gen(still_check=0.25, label_gate=True)
    _force_heads(gen, mask_logit=-1e4, flow_px=(2.0, 0.0))
    previous = torch.rand(1, 2, 3, H, W) * 2 - 1
    out, _ = gen.step(labels, gen.start(1, H, W, first_frames=previous, first_labels=previous_labels))
    for cols in (slice(4, 6), slice(12, 14)):
        torch.testing.assert_close(out.frame[..., cols], out.raw[..., cols])
    assert not torch.allclose(out.frame[..., 20:], out.raw[..., 20:])  # elsewhere the previous frame is taken


def test_a_pixel_uncovered_one_frame_ago_is_not_held_still() -> None:
    """Road uncovered at t-1 behind a car that moves left (car at t-2) was drawn once by the hallucination: the
    unmoved previous frame is not trusted there until the labels have held for the whole history."""
    before, previous, current = _block(8, 16), _block(6, 14), _block(4, 12)  # (1, 2, H, W): t-2, t-1, t
    wrong = _block(9, 17)  # the flow's warp of t-1: misplaced, it puts the car on columns 14..16
    frame, warped = torch.rand(1, 3, H, W), torch.rand(1, 3, H, W)
    _, trust_last = trusted_previous(frame, warped, previous[:, None], wrong, current, 0.25, True)  # t-1 alone
    history = torch.stack([before, previous], dim=1)  # (1, 2, 2, H, W): judged by t-2 and t-1
    _, trust_held = trusted_previous(frame, warped, history, wrong, current, 0.25, True)
    assert torch.all(trust_last[..., 14:16] > 0.9) and torch.all(trust_held[..., 14:16] == 0)
    torch.testing.assert_close(trust_held[..., 20:], trust_last[..., 20:])  # long-held road: no change
