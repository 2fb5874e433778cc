"""Backward warping by pixel flow and the average-pool image pyramid."""

from __future__ import annotations

import torch

from models.core.warp import downsample, image_pyramid, resize_flow, warp


def test_zero_flow_is_identity() -> None:
    image = torch.randn(2, 3, 8, 12)
    assert torch.allclose(warp(image, torch.zeros(2, 2, 8, 12)), image, atol=1e-6)


def test_integer_shift_moves_pixels_exactly() -> None:
    image = torch.arange(2 * 8 * 10, dtype=torch.float32).view(1, 2, 8, 10)
    flow = torch.zeros(1, 2, 8, 10)
    flow[:, 0] = 2.0  # x: out(y, x) = in(y, x + 2)
    flow[:, 1] = -1.0  # y: out(y, x) = in(y - 1, x + 2)
    out = warp(image, flow)
    assert torch.allclose(out[:, :, 1:, :-2], image[:, :, :-1, 2:], atol=1e-4)
    # Border padding: samples past the edge clamp to the last column / first row.
    assert torch.allclose(out[:, :, 1:, -1], image[:, :, :-1, -1], atol=1e-4)
    assert torch.allclose(out[:, :, 0, :-2], image[:, :, 0, 2:], atol=1e-4)


def test_half_pixel_shift_interpolates_bilinearly() -> None:
    image = torch.tensor([[0.0, 2.0, 4.0, 6.0]]).view(1, 1, 1, 4).expand(1, 1, 3, 4).contiguous()
    flow = torch.zeros(1, 2, 3, 4)
    flow[:, 0] = 0.5
    out = warp(image, flow)
    assert torch.allclose(out[0, 0, 1, :3], torch.tensor([1.0, 3.0, 5.0]), atol=1e-5)


def test_pyramid_levels_and_soft_one_hot() -> None:
    labels = torch.zeros(1, 2, 16, 20)
    labels[:, 0, :, :10] = 1
    labels[:, 1, :, 10:] = 1
    levels = image_pyramid(labels, 3)
    assert [tuple(x.shape[2:]) for x in levels] == [(16, 20), (8, 10), (4, 5)]
    assert levels[0] is labels
    assert torch.allclose(levels[2].sum(1), torch.ones(1, 4, 5), atol=1e-6)  # still a distribution
    assert torch.allclose(downsample(torch.ones(1, 1, 5, 5)), torch.ones(1, 1, 3, 3))  # no pad bias


def test_resize_flow_scales_magnitude() -> None:
    flow = torch.ones(1, 2, 5, 9)
    big = resize_flow(flow, 9, 17)
    assert big.shape == (1, 2, 9, 17)
    assert torch.allclose(big[:, 0], torch.full((1, 9, 17), 2.0))
    assert torch.allclose(big[:, 1], torch.full((1, 9, 17), 2.0))
