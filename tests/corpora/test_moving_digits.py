"""Moving digits: the real MNIST subset and its split, exact glyph placement, SVG's stochastic bounces, reflecting
bounces, determinism, Dataset items as pure functions of the index, the folder writer and `v2v data digits`."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cli.main import main
from corpora.clip_folder import ClipFolderDataset
from corpora.moving_digits import (
    DigitsSpec,
    MovingDigitsDataset,
    digits_item,
    digits_spec,
    glyphs,
    load_mnist,
    moving_digits_clip,
    split_indices,
    write_digits_dataset,
)


def test_real_digits_and_a_stratified_held_out_split() -> None:
    images, labels = load_mnist()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8 and images.max() == 255
    assert np.bincount(labels).tolist() == [500] * 10
    train, test = split_indices("train"), split_indices("test")
    assert len(train) == 4000 and len(test) == 1000 and not np.intersect1d(train, test).size
    assert np.bincount(labels[test]).tolist() == [100] * 10
    assert np.array_equal(np.union1d(train, test), np.arange(5000))


def test_same_seed_same_clip_and_other_seeds_differ() -> None:
    a, b = moving_digits_clip(7), moving_digits_clip(7)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.positions, b.positions)
    assert np.array_equal(a.digits, b.digits)
    assert not np.array_equal(a.frames, moving_digits_clip(8).frames)
    assert a.frames.shape == (20, 64, 64) and a.frames.dtype == np.uint8 and a.positions.shape == (20, 2, 2)


@pytest.mark.parametrize("size", [64, 32])
def test_a_single_digit_clip_shows_that_digit_resized_at_its_positions(size: int) -> None:
    images, labels = load_mnist()
    spec = digits_spec("class", size=size, frames=12)
    s = spec.digit_size
    for seed in range(5):
        clip = moving_digits_clip(seed, spec, "test", digit_class=seed + 3, rgb=True)
        (row,) = clip.indices
        assert row in split_indices("test") and labels[row] == seed + 3 == clip.digits[0]
        mode = cv2.INTER_AREA if s < 28 else cv2.INTER_LINEAR
        glyph = cv2.resize(images[row], (s, s), interpolation=mode)
        assert np.array_equal(glyphs(s)[row], glyph)
        for t, (y, x) in enumerate(clip.positions[:, 0]):
            frame = clip.frames[t, ..., 0].copy()  # (H, W)
            assert np.array_equal(clip.frames[t, ..., 1], frame)
            assert np.array_equal(frame[y:y + s, x:x + s], glyph)
            frame[y:y + s, x:x + s] = 0
            assert not frame.any()  # nothing else on the canvas


def _on_wall(p: np.ndarray, hi: int) -> bool:
    return bool(np.any((p == 0) | (p == hi)))


@pytest.mark.parametrize("motion", ["stochastic", "deterministic"])
def test_bounces_keep_digits_inside(motion: str) -> None:
    spec = DigitsSpec(motion=motion, frames=60)
    hi = spec.size - spec.digit_size - 1
    for seed in range(40):
        clip = moving_digits_clip(seed, spec)
        assert clip.positions.min() >= 0 and clip.positions.max() <= hi
        assert np.abs(np.diff(clip.positions, axis=0)).max() <= 2 * spec.max_speed


def test_stochastic_digits_change_direction_only_at_walls_and_draw_new_velocities() -> None:
    spec = DigitsSpec(frames=60)
    hi = spec.size - spec.digit_size - 1
    changes, bounces, redrawn = 0, 0, 0
    for seed in range(40):
        clip = moving_digits_clip(seed, spec)
        for d in range(spec.digits):
            p = clip.positions[:, d]  # (T, 2)
            step = np.diff(p, axis=0)  # (T-1, 2)
            for t in range(len(step) - 1):
                if np.array_equal(step[t], step[t + 1]):
                    continue
                changes += 1  # a velocity change shows at a frame on a wall or just before one (clamped)
                assert _on_wall(p[t + 1], hi) or _on_wall(p[t + 2], hi), (seed, d, t)
                if not _on_wall(p[t + 2], hi):  # a clean bounce at t + 1: compare with a mirror bounce
                    bounces += 1
                    reflected = np.where((p[t + 1] == 0) | (p[t + 1] == hi), -step[t], step[t])
                    redrawn += not np.array_equal(step[t + 1], reflected)
    assert changes > 500 and bounces > 200
    assert redrawn > 0.8 * bounces  # a new random velocity, not the mirror image of the old one


def _fold(x: np.ndarray, hi: int) -> np.ndarray:
    m = np.mod(x, 2 * hi)
    return np.where(m <= hi, m, 2 * hi - m)


def test_deterministic_digits_move_on_a_reflected_straight_line() -> None:
    spec = digits_spec("deterministic", frames=40)
    hi = spec.size - spec.digit_size - 1
    t = np.arange(spec.frames)
    for seed in range(30):
        p = moving_digits_clip(seed, spec).positions  # (T, D, 2)
        for d in range(spec.digits):
            for axis in (0, 1):
                track = p[:, d, axis]
                fits = [v for v in range(-4, 5) if np.array_equal(_fold(track[0] + v * t, hi), track)]
                assert fits, (seed, d, axis)


def test_dataset_items_are_pure_functions_of_seed_split_and_index() -> None:
    spec = digits_spec("class", size=32, frames=8)
    ds = MovingDigitsDataset(spec, "test", length=30, seed=3, channels=3)
    again = MovingDigitsDataset(spec, "test", length=30, seed=3, channels=3)
    for i in (0, 7, 29):
        item = ds[i]
        assert torch.equal(item["frames"], ds[i]["frames"]) and torch.equal(item["frames"], again[i]["frames"])
        assert item["frames"].shape == (8, 3, 32, 32) and item["frames"].dtype == torch.float32
        assert 0 <= item["frames"].min() and item["frames"].max() <= 1 and item["frames"].max() > 0.9
        assert item["label"].item() == i % 10 == item["digits"][0].item()
        assert set(digits_item(spec, 3, "test", i).indices) <= set(split_indices("test"))
    for split, seed in (("test", 4), ("train", 3)):
        other = MovingDigitsDataset(spec, split, length=30, seed=seed, channels=3)
        assert not torch.equal(ds[1]["frames"], other[1]["frames"])
    signed = MovingDigitsDataset(spec, "test", length=30, seed=3, signed=True)[7]["frames"]
    assert signed.shape == (8, 1, 32, 32) and signed.min() == -1
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["frames"].shape == (4, 8, 3, 32, 32) and batch["label"].tolist() == [0, 1, 2, 3]
    with pytest.raises(IndexError):
        ds[30]


def test_the_written_folder_holds_the_datasets_items(tmp_path: Path) -> None:
    spec = digits_spec("stochastic", size=32, frames=6)
    stats = write_digits_dataset(tmp_path, spec, train_clips=3, test_clips=2, seed=1)
    assert stats["clips"] == 5
    on_the_fly = MovingDigitsDataset(spec, "train", length=3, seed=1)
    folder = ClipFolderDataset(tmp_path, "train")
    assert len(folder) == 3 and len(ClipFolderDataset(tmp_path, "test")) == 2
    for i in range(3):
        assert torch.equal(folder[i]["frames"], on_the_fly[i]["frames"])
        assert torch.equal(folder[i]["digits"], on_the_fly[i]["digits"])
    meta = json.loads((tmp_path / "dataset.json").read_text())
    test_images = {r for name, c in meta["clips"].items() if name.startswith("test") for r in c["images"]}
    assert meta["generator"]["motion"] == "stochastic" and test_images <= set(split_indices("test").tolist())


def test_cli_writes_a_digits_folder_and_rejects_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "digits"
    argv = ["data", "digits", "--out", str(out), "--variant", "class", "--size", "32", "--frames", "5",
            "--train-clips", "4", "--test-clips", "2", "--seed", "2"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["clips"] == 6
    assert sorted(p.name for p in (out / "test_B").iterdir()) == ["test_digits_000000", "test_digits_000001"]
    assert len(list((out / "train_B" / "train_digits_000003").glob("*.png"))) == 5
    item = ClipFolderDataset(out, "train")[3]
    assert item["label"].item() == 3 and item["frames"].shape == (5, 1, 32, 32)
    assert main(["data", "digits", "--out", str(out), "--frames", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("v2v data digits: ") and err.count("\n") == 1 and "Traceback" not in err
