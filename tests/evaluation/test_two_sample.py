"""The classifier two-sample test (`evaluation.two_sample`): chance on two halves of the same clips, near-perfect on
real clips vs noise, deterministic by seed, clear errors on bad input."""

from __future__ import annotations

import pytest
import torch

from evaluation.two_sample import prepare_clips, two_sample_test, two_sample_tests


def moving_squares(n: int, frames: int = 8, size: int = 16, seed: int = 0) -> torch.Tensor:
    """n clips of a coloured square moving across a flat background: (n, T, 3, S, S) in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    clips = torch.empty(n, frames, 3, size, size)
    for i in range(n):
        background, colour = torch.rand(3, generator=g) * 2 - 1, torch.rand(3, generator=g) * 2 - 1
        x, y = torch.randint(0, size - 4, (2,), generator=g).tolist()
        dx, dy = torch.randint(-1, 2, (2,), generator=g).tolist()
        clips[i] = background[None, :, None, None]
        for t in range(frames):
            cx, cy = (x + dx * t) % (size - 4), (y + dy * t) % (size - 4)
            clips[i, t, :, cy:cy + 4, cx:cx + 4] = colour[:, None, None]
    return clips


@pytest.fixture(scope="module")
def real() -> torch.Tensor:
    return moving_squares(128, frames=4)


def test_two_halves_of_the_same_clips_are_indistinguishable(real: torch.Tensor) -> None:
    torch.set_num_threads(1)
    shuffled = real[torch.randperm(len(real), generator=torch.Generator().manual_seed(1))]
    result = two_sample_test(shuffled[:64], shuffled[64:], seed=0, steps=100)
    assert result["n_test"] == 64 and result["n_train"] == 64
    assert result["train_accuracy"] > result["accuracy"]  # it fits its training halves, but that does not carry over
    assert abs(result["accuracy"] - 0.5) <= 3 * 0.5 / 64**0.5  # chance, within 3 standard errors
    assert result["stderr"] == pytest.approx((result["accuracy"] * (1 - result["accuracy"]) / 64) ** 0.5)


def test_noise_is_told_from_real_clips(real: torch.Tensor) -> None:
    torch.set_num_threads(1)
    noise = torch.rand_like(real[:64]) * 2 - 1
    result = two_sample_test(real[:64], noise, seed=0, steps=60)
    assert result["accuracy"] >= 0.95 and result["n_test"] == 64


def test_deterministic_by_seed_and_averaged_over_seeds(real: torch.Tensor) -> None:
    torch.set_num_threads(1)
    a, b = real[:40], moving_squares(40, frames=4, seed=5).flip(-1)
    state = torch.get_rng_state()
    first = two_sample_test(a, b, seed=3, steps=20)
    assert torch.equal(state, torch.get_rng_state())  # the global generator is untouched
    assert first == two_sample_test(a, b, seed=3, steps=20)
    runs = two_sample_tests(a, b, seeds=(0, 1), steps=20)
    single = [two_sample_test(a, b, seed=s, steps=20)["accuracy"] for s in (0, 1)]
    assert runs["accuracy"] == pytest.approx(sum(single) / 2) and runs["runs"] == 2
    assert runs["accuracy_min"] == min(single) and runs["accuracy_max"] == max(single)


def test_bad_inputs(real: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="shape"):
        two_sample_test(real[:8], real[:8, :2])
    with pytest.raises(ValueError, match="at least 4"):
        two_sample_test(real[:3], real[:3])


def test_large_clips_are_resized_down() -> None:
    big = moving_squares(32, frames=4, size=64)
    assert prepare_clips(big, 16).shape == (32, 3, 4, 16, 16)  # (N, C, T, h, w)
    result = two_sample_test(big, torch.rand_like(big) * 2 - 1, seed=0, steps=60, max_size=16)
    assert result["accuracy"] >= 0.9
