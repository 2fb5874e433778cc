"""Which clip and which frames a training item draws from a clip folder held in memory (shared by the recipes of
the generate and predict families).

Item `index` of an endless stream takes clip `permutation(epoch)[position]` (every clip once per epoch, in an order
fixed by the seed and the epoch) and a window of `frames` frames `stride` apart starting at a frame drawn from
`default_rng([seed, index])`: a pure function of (seed, index), so a resumed run draws exactly what an uninterrupted
one would, whatever the data loader's workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corpora.clip_folder import usable_stride


def fitting_stride(frames: int, stride: int, clip_length: int, source: str) -> int:
    """`usable_stride`, its error naming the clip folder."""
    try:
        return usable_stride(clip_length, frames, stride)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None


@dataclass(frozen=True)
class EpochWindows:
    """Epoch-shuffled clips, a seeded random window in each."""

    clips: int
    """Clips in the folder (N)."""
    clip_length: int
    """Frames per clip (T0)."""
    frames: int
    """Frames per window (T)."""
    stride: int
    """Frames between two window frames."""
    seed: int

    @property
    def span(self) -> int:
        """Clip frames one window covers."""
        return (self.frames - 1) * self.stride + 1

    def clip(self, index: int) -> int:
        """The clip item `index` draws."""
        epoch, position = divmod(index, self.clips)
        return int(np.random.default_rng([self.seed, epoch, 7]).permutation(self.clips)[position])

    def window(self, index: int, rng: np.random.Generator | None = None) -> slice:
        """The frames item `index` takes from its clip; `rng` (default `default_rng([seed, index])`) draws the
        start, so a caller that draws more for the same item can go on with it."""
        rng = np.random.default_rng([self.seed, index]) if rng is None else rng
        start = int(rng.integers(0, self.clip_length - self.span + 1))
        return slice(start, start + self.span, self.stride)
