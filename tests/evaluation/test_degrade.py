"""The degraded copies judges train on and are checked with: blur per item, noise per frame, reproducible draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evaluation.degrade import BLUR_SIGMA_RANGE, NOISE_STD_MAX, add_noise, degrade, degraded_copy, gaussian_blur


def _edges(x: torch.Tensor) -> float:
    return float((x[..., :, 1:] - x[..., :, :-1]).abs().mean())


def test_blur_keeps_flat_images_and_softens_edges_by_its_own_sigma() -> None:
    flat = torch.full((2, 3, 16, 16), 0.3)
    assert torch.allclose(gaussian_blur(flat, torch.tensor([0.5, 1.0])), flat, atol=1e-6)
    stripes = torch.zeros(2, 4, 3, 16, 16)
    stripes[..., ::2] = 1.0  # clips (B, T, 3, S, S): the sharpest pattern there is
    out = gaussian_blur(stripes, torch.tensor([0.3, 1.0]))  # one σ per clip, every frame alike
    assert out.shape == stripes.shape
    assert _edges(out[1]) < 0.5 * _edges(out[0]) < _edges(stripes[0])
    assert torch.allclose(out[1, 0], out[1, 3])
    assert out.mean().item() == pytest.approx(stripes.mean().item(), abs=0.02)  # a blur moves no mass


def test_noise_has_the_asked_spread_and_changes_every_frame() -> None:
    clips = torch.zeros(2, 4, 3, 32, 32)
    out = add_noise(clips, torch.tensor([0.0, 0.05]), torch.Generator().manual_seed(0))
    assert torch.equal(out[0], clips[0])
    assert out[1].std().item() == pytest.approx(0.05, rel=0.05)
    assert not torch.allclose(out[1, 0], out[1, 1])  # flicker: a fresh draw per frame


def test_degrade_is_reproducible_and_touches_the_asked_share() -> None:
    clips = torch.rand(64, 4, 3, 16, 16) * 2 - 1
    assert torch.equal(degrade(clips, np.random.default_rng(1), 0.0), clips)
    first = degrade(clips, np.random.default_rng(1), 0.5)
    assert torch.equal(first, degrade(clips, np.random.default_rng(1), 0.5))
    changed = (first - clips).flatten(1).abs().amax(1) > 0  # (64,)
    assert 16 <= int(changed.sum()) <= 48  # about half of 64
    assert bool((degrade(clips, np.random.default_rng(2), 1.0) != clips).flatten(1).any(1).all())
    assert NOISE_STD_MAX > 0.05 and BLUR_SIGMA_RANGE[0] < 0.7 < BLUR_SIGMA_RANGE[1]  # the checks lie in range


def test_the_fixed_checks_are_the_same_for_every_call() -> None:
    frames = torch.rand(3, 3, 16, 16) * 2 - 1
    assert torch.equal(degraded_copy(frames, "noise_0.05"), degraded_copy(frames, "noise_0.05"))
    assert not torch.equal(degraded_copy(frames, "noise_0.05"), degraded_copy(frames, "noise_0.05", seed=1))
    assert _edges(degraded_copy(frames, "blur_0.7")) < _edges(frames)
