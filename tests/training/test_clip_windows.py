"""The recipes' shared draw: every clip once per epoch, windows that fit, a pure function of (seed, index)."""

from __future__ import annotations

import pytest

from training.clip_windows import EpochWindows, fitting_stride


def test_each_epoch_visits_every_clip_once_in_a_seeded_order() -> None:
    draw = EpochWindows(clips=7, clip_length=16, frames=4, stride=3, seed=5)
    epochs = [[draw.clip(epoch * 7 + i) for i in range(7)] for epoch in range(3)]
    assert all(sorted(order) == list(range(7)) for order in epochs)
    assert epochs[0] != epochs[1]  # reshuffled per epoch
    assert [draw.clip(i) for i in range(7)] == [EpochWindows(7, 16, 4, 3, 5).clip(i) for i in range(7)]


def test_windows_take_frames_stride_apart_inside_the_clip() -> None:
    draw = EpochWindows(clips=3, clip_length=16, frames=4, stride=3, seed=0)
    windows = [range(16)[draw.window(i)] for i in range(200)]
    assert all(len(w) == 4 and w.step == 3 and w[-1] <= 15 for w in windows)
    assert len({w.start for w in windows}) == 16 - draw.span + 1  # every start that fits is drawn


def test_a_stride_that_does_not_fit_falls_back_to_consecutive_frames_or_fails_clearly() -> None:
    assert fitting_stride(frames=8, stride=2, clip_length=16, source="d") == 2
    assert fitting_stride(frames=8, stride=3, clip_length=16, source="d") == 1
    with pytest.raises(ValueError, match="d: clips have 16 frames, 17 are needed"):
        fitting_stride(frames=17, stride=1, clip_length=16, source="d")
