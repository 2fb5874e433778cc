"""The few-shot background gate (ours, no weights): far from both poses the frame is the warped reference, near
them the network's frame, a ramp between; off by default; refused where there is no warped reference."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from models.families.fs_vid2vid.background_gate import background_weight
from models.families.fs_vid2vid.generator import PRESETS, FewShotGenerator

SIZE = 64


def _pose(row: int, col: int) -> torch.Tensor:
    """(1, 3, SIZE, SIZE): background -1 with one drawn 3x3 joint at (row, col)."""
    labels = torch.full((1, 3, SIZE, SIZE), -1.0)
    labels[:, 1, row - 1 : row + 2, col - 1 : col + 2] = 0.5
    return labels


def test_weight_is_zero_near_either_pose_one_far_from_both_and_ramps_between() -> None:
    current, reference = _pose(20, 20), _pose(44, 44)
    weight = background_weight(current, reference, outer=0.25)[0, 0]  # outer 16 px, inner 5 px
    assert weight[20, 20] == 0 and weight[44, 44] == 0 and weight[20, 25] == 0  # on / near each joint
    assert weight[20, 40] == 1 and weight[0, 63] == 1  # beyond 16 px of both
    ramp = weight[20, 27:38]  # 6..17 px right of the current joint (still 17+ px from the reference's)
    assert torch.all(ramp[1:] >= ramp[:-1]) and 0 < ramp[3] < 1
    assert torch.all((weight >= 0) & (weight <= 1))


def test_gate_takes_the_warped_reference_far_from_the_poses_and_leaves_the_rest() -> None:
    config = dataclasses.replace(PRESETS["fs_vid2vid-tiny"], max_references=1)
    torch.manual_seed(0)
    plain = FewShotGenerator(config).eval()
    gated = FewShotGenerator(dataclasses.replace(config, background_gate=0.25)).eval()
    gated.load_state_dict(plain.state_dict())  # no weights of its own
    g = torch.Generator().manual_seed(1)
    references = torch.rand(1, 1, 3, SIZE, SIZE, generator=g) * 2 - 1  # (B, K, 3, H, W)
    reference_labels, labels = _pose(44, 44)[None], _pose(20, 20)
    with torch.no_grad():
        before, _ = plain.step(labels, plain.start(references, reference_labels))
        after, _ = gated.step(labels, gated.start(references, reference_labels))
    weight = background_weight(labels, reference_labels[:, 0], 0.25)  # (1, 1, H, W)
    far, near = (weight == 1).expand_as(after.frame), (weight == 0).expand_as(after.frame)
    assert near.any() and far.any() and not torch.equal(before.frame, after.warped_ref)
    torch.testing.assert_close(after.frame[far], after.warped_ref[far])
    torch.testing.assert_close(after.frame[near], before.frame[near])


def test_gate_is_off_by_default_and_needs_a_warped_reference() -> None:
    assert all(preset.background_gate == 0 for preset in PRESETS.values())
    with pytest.raises(ValueError, match="background_gate"):
        dataclasses.replace(PRESETS["fs_vid2vid-tiny"], warp_reference=False, background_gate=0.1)
    with pytest.raises(ValueError, match="background_gate"):
        dataclasses.replace(PRESETS["fs_vid2vid-tiny"], background_gate=0.9)
